#!/usr/bin/python3
"""kafka-python 2.0.2 produce/consume round trip.

usage: kafka_python_roundtrip.py BOOTSTRAP TOPIC [gzip]

kafka-python infers one broker release from ApiVersions and derives every
request version from it, so this checks that quill's advertised ranges make
sense to it. Prints "api_version (x, y, z)" and "OK"; exits non-zero with the
exception on failure.
"""
import sys
import time

from kafka import KafkaConsumer, KafkaProducer, TopicPartition

BOOT, TOPIC = sys.argv[1], sys.argv[2]
CODEC = sys.argv[3] if len(sys.argv) > 3 else None
N = 100


def fail(msg):
    print("FAIL " + msg, flush=True)
    sys.exit(1)


def main():
    p = KafkaProducer(bootstrap_servers=BOOT, acks="all", compression_type=CODEC, linger_ms=5,
                      request_timeout_ms=15000, max_block_ms=15000)
    print("api_version %r" % (p.config["api_version"],), flush=True)
    futs = []
    for i in range(N):
        key = None if i % 4 == 0 else b"k%d" % i
        value = None if (i % 9 == 5 and key is not None) else b"value-%d" % i
        futs.append(p.send(TOPIC, key=key, value=value, partition=0, headers=[("h", b"%d" % i)]))
    p.flush(30)
    offs = [f.get(timeout=30).offset for f in futs]
    if offs != list(range(N)):
        fail("produced offsets %r" % (offs[:10],))
    p.close(10)

    c = KafkaConsumer(bootstrap_servers=BOOT, group_id=None, auto_offset_reset="earliest",
                      enable_auto_commit=False, consumer_timeout_ms=15000, request_timeout_ms=20000)
    tp = TopicPartition(TOPIC, 0)
    c.assign([tp])
    c.seek_to_beginning(tp)
    got = []
    deadline = time.time() + 30
    while len(got) < N and time.time() < deadline:
        for recs in c.poll(timeout_ms=1000).values():
            got.extend(recs)
    c.close()
    if len(got) != N:
        fail("consumed %d of %d" % (len(got), N))
    for i, m in enumerate(got):
        key = None if i % 4 == 0 else b"k%d" % i
        value = None if (i % 9 == 5 and key is not None) else b"value-%d" % i
        if m.offset != i or m.key != key or m.value != value or list(m.headers) != [("h", b"%d" % i)]:
            fail("record %d: %r" % (i, m))
    print("OK", flush=True)


if __name__ == "__main__":
    main()
