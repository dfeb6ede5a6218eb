#!/usr/bin/python3
"""confluent-kafka-python reads a compacted topic from the beginning.

usage: confluent_compacted.py BOOTSTRAP TOPIC

Reads partition 0 of TOPIC from the beginning to its end (partition EOF)
with a plain consumer (no commits) and prints one line per record:
"OFFSET KEY=VALUE", or "OFFSET KEY=<null>" for a tombstone, then "END N".
Exits non-zero on an error or a timeout.
"""
import sys
import time

from confluent_kafka import Consumer, KafkaError, TopicPartition, OFFSET_BEGINNING

BOOT, TOPIC = sys.argv[1], sys.argv[2]

c = Consumer({"bootstrap.servers": BOOT, "group.id": "compacted-" + TOPIC,
              "enable.auto.commit": False, "enable.partition.eof": True,
              "auto.offset.reset": "earliest", "check.crcs": True})
c.assign([TopicPartition(TOPIC, 0, OFFSET_BEGINNING)])
n = 0
last = -1
deadline = time.time() + 60
while True:
    if time.time() > deadline:
        print("FAIL timeout", flush=True)
        sys.exit(1)
    m = c.poll(1.0)
    if m is None:
        continue
    if m.error():
        if m.error().code() == KafkaError._PARTITION_EOF:
            break
        print("FAIL " + str(m.error()), flush=True)
        sys.exit(1)
    if m.offset() <= last:
        print("FAIL offset %d after %d" % (m.offset(), last), flush=True)
        sys.exit(1)
    last = m.offset()
    v = m.value()
    print("%d %s=%s" % (m.offset(), m.key().decode(), "<null>" if v is None else v.decode()))
    n += 1
c.close()
print("END %d" % n)
