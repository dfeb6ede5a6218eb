#!/usr/bin/python3
"""confluent-kafka-python consumer group: subscribe, consume, commit, resume.

usage: confluent_group.py BOOTSTRAP TOPIC COUNT

TOPIC already holds COUNT records. A first consumer in a new group consumes
half and commits synchronously; a second one in the same group resumes from
the commits and consumes the rest. Prints "OK"; exits non-zero on failure.
"""
import sys
import time

from confluent_kafka import Consumer, KafkaError, TopicPartition

BOOT, TOPIC, COUNT = sys.argv[1], sys.argv[2], int(sys.argv[3])
GROUP = "g-" + TOPIC


def fail(msg):
    print("FAIL " + msg, flush=True)
    sys.exit(1)


def consume(name, want, seen):
    c = Consumer({"bootstrap.servers": BOOT, "group.id": GROUP, "enable.auto.commit": False,
                  "auto.offset.reset": "earliest", "session.timeout.ms": 10000,
                  "max.partition.fetch.bytes": 1024})
    c.subscribe([TOPIC])
    got = 0
    deadline = time.time() + 45
    while got < want and time.time() < deadline:
        msgs = c.consume(num_messages=want - got, timeout=0.5)
        for m in msgs:
            if m.error():
                if m.error().code() == KafkaError._PARTITION_EOF:
                    continue
                fail("%s: consume error %s" % (name, m.error()))
            seen[m.value()] = seen.get(m.value(), 0) + 1
            got += 1
    if got < want:
        fail("%s: consumed %d of %d (assignment %r)" % (name, got, want, c.assignment()))
    try:
        c.commit(asynchronous=False)
    except Exception as e:  # noqa: BLE001
        fail("%s: commit: %r" % (name, e))
    committed = c.committed(c.assignment(), timeout=10)
    c.close()
    return committed


def main():
    seen = {}
    consume("first", COUNT // 2, seen)
    committed = consume("second", COUNT - COUNT // 2, seen)
    if len(seen) != COUNT:
        fail("saw %d distinct records, want %d" % (len(seen), COUNT))
    dups = [v for v, n in seen.items() if n != 1]
    if dups:
        fail("records seen twice: %r" % (dups[:5],))
    total = sum(tp.offset for tp in committed if tp.offset >= 0)
    if total != COUNT:
        fail("committed offsets %r sum to %d, want %d" % (committed, total, COUNT))
    print("OK", flush=True)


if __name__ == "__main__":
    main()
