#!/usr/bin/python3
"""confluent-kafka-python (librdkafka) transactions on a 3-node cluster.

usage: confluent_txn_cluster.py BOOTSTRAP PREFIX

Creates PREFIX-out (3 partitions, replication factor 3) and runs ROUNDS
transactions over all its partitions, committing even rounds and aborting
odd ones. After each round it prints "ROUND n" and waits for a line on
stdin: the test kills (or restarts) the transaction coordinator's broker
meanwhile. A transaction the client must abort is redone. At the end
read_committed must return exactly the committed records, each once, and
read_uncommitted at least those. Prints "OK"; exits non-zero on failure.
"""
import sys
import time
import uuid

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

BOOT, PREFIX = sys.argv[1], sys.argv[2]
OUT = PREFIX + "-out"
TXID = PREFIX + "-tx"
PARTS = 3
ROUNDS = 4
PER_ROUND = 9


def fail(msg):
    print("FAIL " + msg, flush=True)
    sys.exit(1)


def step(msg):
    print(msg, flush=True)


def retrying(what, fn, deadline_s=60):
    """Runs fn until it succeeds, retrying retriable errors until the deadline."""
    deadline = time.time() + deadline_s
    while True:
        try:
            return fn()
        except KafkaException as e:
            err = e.args[0]
            if not err.retriable() or time.time() > deadline:
                raise
            step("%s: retriable %s, retrying" % (what, err.name()))
            time.sleep(0.5)


admin = AdminClient({"bootstrap.servers": BOOT})
for t, f in admin.create_topics([NewTopic(OUT, PARTS, 3)]).items():
    f.result(30)

p = Producer({"bootstrap.servers": BOOT, "transactional.id": TXID,
              "transaction.timeout.ms": 30000, "message.timeout.ms": 30000})
retrying("init_transactions", lambda: p.init_transactions(30))

committed_vals = []
aborted_vals = []
for rnd in range(ROUNDS):
    commit = rnd % 2 == 0
    vals = [b"r%d-%d" % (rnd, i) for i in range(PER_ROUND)]
    for attempt in range(5):
        try:
            retrying("begin", p.begin_transaction)
            for i, v in enumerate(vals):
                p.produce(OUT, value=v, partition=i % PARTS)
            if commit:
                retrying("commit", lambda: p.commit_transaction(60))
            else:
                retrying("flush", lambda: p.flush(60))
                retrying("abort", lambda: p.abort_transaction(60))
            break
        except KafkaException as e:
            err = e.args[0]
            if not err.txn_requires_abort():
                fail("round %d: %s" % (rnd, err))
            step("round %d attempt %d: %s, aborting and redoing" % (rnd, attempt, err.name()))
            retrying("abort", lambda: p.abort_transaction(60))
            aborted_vals += vals
    else:
        fail("round %d never completed" % rnd)
    (committed_vals if commit else aborted_vals).extend(vals)
    step("ROUND %d" % rnd)
    if sys.stdin.readline().strip() != "go":
        fail("no go from the test")


def read(isolation, want):
    c = Consumer({"bootstrap.servers": BOOT, "group.id": "r-" + uuid.uuid4().hex,
                  "isolation.level": isolation, "auto.offset.reset": "earliest",
                  "enable.partition.eof": True, "enable.auto.commit": False})
    c.assign([TopicPartition(OUT, i, 0) for i in range(PARTS)])
    vals, eof = [], set()
    deadline = time.time() + 60
    while (len(eof) < PARTS or len(vals) < want) and time.time() < deadline:
        m = c.poll(0.5)
        if m is None:
            continue
        if m.error():
            if m.error().code() == KafkaError._PARTITION_EOF:
                eof.add(m.partition())
                continue
            if m.error().retriable():
                continue
            fail("%s consume: %s" % (isolation, m.error()))
        vals.append(m.value())
        eof.discard(m.partition())
    c.close()
    return vals


rc = read("read_committed", len(committed_vals))
if sorted(rc) != sorted(committed_vals):
    fail("read_committed got %d records, want %d: %r" % (len(rc), len(committed_vals), sorted(rc)))
ru = read("read_uncommitted", len(committed_vals) + len(aborted_vals))
if not set(committed_vals) <= set(ru):
    fail("read_uncommitted lacks committed records")
step("read_committed %d, read_uncommitted %d" % (len(rc), len(ru)))
p.flush(10)
print("OK", flush=True)
