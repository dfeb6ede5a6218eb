#!/usr/bin/python3
"""confluent-kafka-python (librdkafka) produce/consume round trip.

usage: confluent_roundtrip.py BOOTSTRAP TOPIC_PREFIX

For each codec (and once with enable.idempotence), creates TOPIC_PREFIX-<name>
with AdminClient, produces keyed records with headers and null keys/values,
and reads them back with an assigned consumer. Exits non-zero with a message
on the first mismatch. Prints one "OK <name>" line per case.
"""
import sys
import time

from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition, OFFSET_BEGINNING
from confluent_kafka.admin import AdminClient, NewTopic

BOOT, PREFIX = sys.argv[1], sys.argv[2]
N = 300
CASES = [
    ("none", {"compression.type": "none"}),
    ("gzip", {"compression.type": "gzip"}),
    ("snappy", {"compression.type": "snappy"}),
    ("lz4", {"compression.type": "lz4"}),
    ("zstd", {"compression.type": "zstd"}),
    ("idempotent", {"enable.idempotence": True, "compression.type": "lz4"}),
]


def fail(msg):
    print("FAIL " + msg, flush=True)
    sys.exit(1)


def create(admin, topic):
    fs = admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)], operation_timeout=15)
    for t, f in fs.items():
        try:
            f.result(timeout=20)
        except Exception as e:  # noqa: BLE001
            fail("create_topics %s: %r" % (t, e))


def expected(i, name):
    key = None if i % 5 == 0 else ("key-%d" % (i % 11)).encode()
    value = None if i % 7 == 3 else ("%s value %05d %s" % (name, i, "y" * (100 + i % 40))).encode()
    headers = [("idx", str(i).encode()), ("codec", name.encode())] if i % 2 == 0 else None
    return key, value, headers


def run_case(admin, name, extra):
    topic = "%s-%s" % (PREFIX, name)
    create(admin, topic)
    conf = {"bootstrap.servers": BOOT, "linger.ms": 10, "acks": "all", "message.timeout.ms": 30000}
    conf.update(extra)
    p = Producer(conf)
    errors = []
    offsets = {}

    def cb(i):
        def done(err, msg):
            if err is not None:
                errors.append((i, err))
            else:
                offsets[i] = msg.offset()
        return done

    for i in range(N):
        key, value, headers = expected(i, name)
        kw = {"key": key, "value": value, "partition": 0, "on_delivery": cb(i)}
        if headers:
            kw["headers"] = headers
        while True:
            try:
                p.produce(topic, **kw)
                break
            except BufferError:
                p.poll(0.1)
        p.poll(0)
    left = p.flush(30)
    if left:
        fail("%s: %d messages not delivered after flush" % (name, left))
    if errors:
        fail("%s: delivery errors: %r" % (name, errors[:5]))
    if sorted(offsets.values()) != list(range(N)):
        fail("%s: delivered offsets %r..." % (name, sorted(offsets.values())[:10]))

    c = Consumer({"bootstrap.servers": BOOT, "group.id": "e2e-" + topic, "enable.auto.commit": False,
                  "auto.offset.reset": "earliest", "enable.partition.eof": True})
    c.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
    got = []
    deadline = time.time() + 30
    while len(got) < N and time.time() < deadline:
        m = c.poll(0.5)
        if m is None:
            continue
        if m.error():
            if m.error().code() == KafkaError._PARTITION_EOF:
                continue
            fail("%s: consume error %s" % (name, m.error()))
        got.append(m)
    c.close()
    if len(got) != N:
        fail("%s: consumed %d of %d" % (name, len(got), N))
    for i, m in enumerate(got):
        key, value, headers = expected(i, name)
        if m.offset() != i or m.key() != key or m.value() != value:
            fail("%s: record %d: offset %d key %r value %r; want key %r value %r" % (name, i, m.offset(), m.key(), m.value(), key, value))
        gh = m.headers()
        if (gh or None) != headers and not (headers is None and gh in (None, [])):
            fail("%s: record %d headers %r, want %r" % (name, i, gh, headers))
        ts_type, ts = m.timestamp()
        if ts_type != 1 or abs(ts - time.time() * 1000) > 120000:
            fail("%s: record %d timestamp (%d, %d): want CreateTime near now" % (name, i, ts_type, ts))
    print("OK %s %s" % (name, topic), flush=True)


def main():
    admin = AdminClient({"bootstrap.servers": BOOT})
    only = sys.argv[3:] or [n for n, _ in CASES]
    for name, extra in CASES:
        if name in only:
            run_case(admin, name, extra)


if __name__ == "__main__":
    main()
