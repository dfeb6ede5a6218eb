#!/usr/bin/python3
"""confluent-kafka-python (librdkafka) transactions.

usage: confluent_txn.py BOOTSTRAP PREFIX

Creates PREFIX-out (2 partitions) and PREFIX-in (1 partition); commits,
aborts and commits transactions; checks read_committed and
read_uncommitted consumers; fences the producer with a second one using
the same transactional.id; commits consumed offsets with
send_offsets_to_transaction (and aborts some). Prints "OK"; exits non-zero
on failure.
"""
import sys
import time
import uuid

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

BOOT, PREFIX = sys.argv[1], sys.argv[2]
OUT, IN = PREFIX + "-out", PREFIX + "-in"
TXID = PREFIX + "-tx"


def fail(msg):
    print("FAIL " + msg, flush=True)
    sys.exit(1)


def step(msg):
    print(msg, flush=True)


def create_topics():
    admin = AdminClient({"bootstrap.servers": BOOT})
    fs = admin.create_topics([NewTopic(OUT, 2, 1), NewTopic(IN, 1, 1)])
    for t, f in fs.items():
        f.result(20)


def producer(txid):
    p = Producer({"bootstrap.servers": BOOT, "transactional.id": txid,
                  "transaction.timeout.ms": 20000})
    p.init_transactions(30)
    return p


def txn(p, values, commit):
    p.begin_transaction()
    for v in values:
        p.produce(OUT, value=v)
    if commit:
        p.commit_transaction(30)
    else:
        p.flush(30)
        p.abort_transaction(30)


def read(isolation, topic=OUT, partitions=2):
    c = Consumer({"bootstrap.servers": BOOT, "group.id": "r-" + uuid.uuid4().hex,
                  "isolation.level": isolation, "auto.offset.reset": "earliest",
                  "enable.partition.eof": True, "enable.auto.commit": False})
    c.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    vals, eof = [], set()
    deadline = time.time() + 30
    while len(eof) < partitions and time.time() < deadline:
        m = c.poll(0.5)
        if m is None:
            continue
        if m.error():
            if m.error().code() == KafkaError._PARTITION_EOF:
                eof.add(m.partition())
                continue
            fail("%s consume: %s" % (isolation, m.error()))
        vals.append(m.value())
        eof.discard(m.partition())
    c.close()
    if len(eof) < partitions:
        fail("%s: no end of partition within 30 s (have %d records)" % (isolation, len(vals)))
    return vals


def committed(group, topic, partition):
    c = Consumer({"bootstrap.servers": BOOT, "group.id": group, "enable.auto.commit": False})
    off = c.committed([TopicPartition(topic, partition)], timeout=20)[0].offset
    c.close()
    return off


create_topics()
p = producer(TXID)
committed_vals = [b"c%d" % i for i in range(10)]
aborted_vals = [b"a%d" % i for i in range(7)]
txn(p, committed_vals, True)
txn(p, aborted_vals, False)
txn(p, [b"d%d" % i for i in range(5)], True)
committed_vals += [b"d%d" % i for i in range(5)]
step("committed 15, aborted 7")

rc = read("read_committed")
if sorted(rc) != sorted(committed_vals):
    fail("read_committed got %d records: %r" % (len(rc), sorted(rc)))
ru = read("read_uncommitted")
if sorted(ru) != sorted(committed_vals + aborted_vals):
    fail("read_uncommitted got %d records" % len(ru))
step("read_committed 15, read_uncommitted 22")

# A second producer with the same transactional.id fences the first.
p2 = producer(TXID)
try:
    p.begin_transaction()
    p.produce(OUT, value=b"zombie")
    p.commit_transaction(30)
    fail("the fenced producer committed")
except KafkaException as e:
    err = e.args[0]
    step("fenced producer: %s (fatal=%s)" % (err.name(), err.fatal()))
    if not err.fatal() and err.code() not in (KafkaError._FENCED, KafkaError.PRODUCER_FENCED,
                                               KafkaError.INVALID_PRODUCER_EPOCH):
        fail("unexpected error for the fenced producer: %s" % err)
txn(p2, [b"f0"], True)
rc = read("read_committed")
if b"zombie" in rc or b"f0" not in rc:
    fail("after fencing read_committed got %r" % sorted(rc))
step("fencing OK")

# Consume-transform-produce with send_offsets_to_transaction.
plain = Producer({"bootstrap.servers": BOOT})
for i in range(6):
    plain.produce(IN, value=b"in%d" % i)
plain.flush(30)
group = PREFIX + "-g"
c = Consumer({"bootstrap.servers": BOOT, "group.id": group, "enable.auto.commit": False,
              "auto.offset.reset": "earliest", "isolation.level": "read_committed",
              "session.timeout.ms": 10000})
c.subscribe([IN])
got = []
deadline = time.time() + 45
while len(got) < 6 and time.time() < deadline:
    m = c.poll(0.5)
    if m is None or m.error():
        continue
    got.append(m.value())
if len(got) < 6:
    fail("consumed %d of 6 input records" % len(got))
p2.begin_transaction()
for v in got:
    p2.produce(OUT, value=b"x-" + v)
p2.send_offsets_to_transaction(c.position(c.assignment()), c.consumer_group_metadata(), 30)
p2.commit_transaction(30)
c.close()
off = committed(group, IN, 0)
if off != 6:
    fail("offset committed in the transaction: %d, want 6" % off)

# Offsets sent in an aborted transaction are not committed.
g2 = PREFIX + "-g2"
c2 = Consumer({"bootstrap.servers": BOOT, "group.id": g2, "enable.auto.commit": False})
p2.begin_transaction()
p2.produce(OUT, value=b"never")
p2.send_offsets_to_transaction([TopicPartition(IN, 0, 3)], c2.consumer_group_metadata(), 30)
p2.abort_transaction(30)
c2.close()
off = committed(g2, IN, 0)
if off >= 0:
    fail("offset of an aborted transaction committed: %d" % off)
rc = read("read_committed")
if b"never" in rc or len([v for v in rc if v.startswith(b"x-")]) != 6:
    fail("after send_offsets read_committed got %r" % sorted(rc))
step("send_offsets_to_transaction OK")
print("OK", flush=True)
