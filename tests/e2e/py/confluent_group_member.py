#!/usr/bin/python3
"""One confluent-kafka-python consumer group member, driven by a test.

usage: confluent_group_member.py BOOTSTRAP TOPIC GROUP NAME SESSION_MS [INSTANCE_ID]

Subscribes to TOPIC in GROUP with client.id NAME (and group.instance.id
INSTANCE_ID when given: a static member), auto-committing. Prints one line
per event on stdout:

    READY
    ASSIGN <p,p,...>        on_assign (possibly empty)
    GEN <generation>        the generation id at that on_assign, from
                            librdkafka's serialized consumer group metadata
    REVOKE <p,p,...>        on_revoke
    MSG <partition> <offset> <value>
    ERROR <error>
    CLOSED

A line "close" on stdin makes it close the consumer (a LeaveGroup for a
dynamic member) and exit 0. It stops by itself after 120 s.
"""
import struct
import sys
import threading
import time

from confluent_kafka import Consumer, KafkaError

BOOT, TOPIC, GROUP, NAME, SESSION_MS = sys.argv[1:6]
INSTANCE = sys.argv[6] if len(sys.argv) > 6 else None

lock = threading.Lock()


def emit(line):
    with lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def parts(ps):
    return ",".join(str(p.partition) for p in sorted(ps, key=lambda p: p.partition))


stop = threading.Event()


def generation(consumer):
    """librdkafka's consumer group metadata, serialized: b"CGMDv2:" then
    the generation id as a native (little-endian here) int32."""
    try:
        md = consumer.consumer_group_metadata()
    except Exception as e:  # noqa: BLE001
        return "?%r" % (e,)
    if isinstance(md, (bytes, bytearray)) and md[:7] == b"CGMDv2:" and len(md) >= 11:
        return str(struct.unpack("<i", bytes(md[7:11]))[0])
    return "?%r" % (md,)


def read_stdin():
    for line in sys.stdin:
        if line.strip() == "close":
            break
    stop.set()


def main():
    conf = {
        "bootstrap.servers": BOOT,
        "group.id": GROUP,
        "client.id": NAME,
        "session.timeout.ms": int(SESSION_MS),
        "heartbeat.interval.ms": 500,
        "max.poll.interval.ms": max(int(SESSION_MS), 10000),
        "auto.offset.reset": "earliest",
        "enable.auto.commit": True,
        "auto.commit.interval.ms": 200,
        "partition.assignment.strategy": "range",
        "fetch.wait.max.ms": 100,
    }
    if INSTANCE:
        conf["group.instance.id"] = INSTANCE
    c = Consumer(conf)

    def on_assign(consumer, ps):
        emit("ASSIGN " + parts(ps))
        emit("GEN " + generation(consumer))

    def on_revoke(consumer, ps):
        emit("REVOKE " + parts(ps))

    c.subscribe([TOPIC], on_assign=on_assign, on_revoke=on_revoke)
    threading.Thread(target=read_stdin, daemon=True).start()
    emit("READY")
    deadline = time.time() + 120
    while not stop.is_set() and time.time() < deadline:
        m = c.poll(0.2)
        if m is None:
            continue
        if m.error():
            if m.error().code() != KafkaError._PARTITION_EOF:
                emit("ERROR %s" % (m.error(),))
            continue
        emit("MSG %d %d %s" % (m.partition(), m.offset(), m.value().decode()))
    c.close()
    emit("CLOSED")


if __name__ == "__main__":
    main()
