#!/usr/bin/python3
"""confluent-kafka-python AdminClient against quill.

usage: confluent_admin.py BOOTSTRAP TOPIC

create_topics (with a config), list_topics, describe_configs (values and
sources), alter_configs, create_partitions, offsets_for_times, delete_topics.
Prints "OK <step>" per step; exits non-zero on the first failure.
"""
import sys
import time

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource, ConfigSource, NewPartitions, NewTopic

BOOT, TOPIC = sys.argv[1], sys.argv[2]


def fail(msg):
    print("FAIL " + msg, flush=True)
    sys.exit(1)


def ok(step):
    print("OK " + step, flush=True)


def result(fs, what):
    out = {}
    for k, f in fs.items():
        try:
            out[k] = f.result(timeout=20)
        except Exception as e:  # noqa: BLE001
            fail("%s %s: %r" % (what, k, e))
    return out


def wait_for(what, cond, timeout=15):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        okv, last = cond()
        if okv:
            return
        time.sleep(0.2)
    fail("timed out waiting for %s: %s" % (what, last))


def src(entry):
    return getattr(entry.source, "value", entry.source)


def describe(admin, topic):
    res = ConfigResource(ConfigResource.Type.TOPIC, topic)
    cfgs = result(admin.describe_configs([res]), "describe_configs")
    return list(cfgs.values())[0]


def main():
    admin = AdminClient({"bootstrap.servers": BOOT})

    result(admin.create_topics([NewTopic(TOPIC, num_partitions=2, replication_factor=1,
                                         config={"retention.ms": "3600000", "cleanup.policy": "delete"})],
                               operation_timeout=15), "create_topics")
    ok("create_topics")

    fs = admin.create_topics([NewTopic(TOPIC, num_partitions=2, replication_factor=1)])
    try:
        list(fs.values())[0].result(timeout=20)
        fail("create_topics of an existing topic succeeded")
    except KafkaException as e:
        if e.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
            fail("create existing topic: %r, want TOPIC_ALREADY_EXISTS" % (e,))
    ok("create_topics existing -> TOPIC_ALREADY_EXISTS")

    def has_parts(n):
        def cond():
            md = admin.list_topics(timeout=10)
            t = md.topics.get(TOPIC)
            if t is None or t.error is not None:
                return False, "topic %r" % (t,)
            return len(t.partitions) == n, "%d partitions" % len(t.partitions)
        return cond
    wait_for("list_topics to show 2 partitions", has_parts(2))
    md = admin.list_topics(timeout=10)
    if len(md.brokers) != 1:
        fail("list_topics brokers %r" % (md.brokers,))
    for p in md.topics[TOPIC].partitions.values():
        if p.leader != list(md.brokers)[0] or p.replicas != [p.leader] or p.isrs != [p.leader]:
            fail("partition metadata %r" % (p,))
    ok("list_topics")

    cfg = describe(admin, TOPIC)
    e = cfg["retention.ms"]
    if e.value != "3600000" or src(e) != ConfigSource.DYNAMIC_TOPIC_CONFIG.value:
        fail("retention.ms = %r source %r" % (e.value, src(e)))
    e = cfg["segment.bytes"]
    if e.value != "1073741824" or src(e) != ConfigSource.DEFAULT_CONFIG.value:
        fail("segment.bytes = %r source %r" % (e.value, src(e)))
    ok("describe_configs")

    res = ConfigResource(ConfigResource.Type.TOPIC, TOPIC)
    res.set_config("retention.ms", "7200000")
    res.set_config("max.message.bytes", "500000")
    result(admin.alter_configs([res]), "alter_configs")
    cfg = describe(admin, TOPIC)
    if cfg["retention.ms"].value != "7200000" or cfg["max.message.bytes"].value != "500000":
        fail("after alter_configs: retention.ms=%r max.message.bytes=%r" % (cfg["retention.ms"].value, cfg["max.message.bytes"].value))
    if src(cfg["cleanup.policy"]) != ConfigSource.DEFAULT_CONFIG.value:
        fail("alter_configs (full replace) kept cleanup.policy as %r" % (src(cfg["cleanup.policy"]),))
    ok("alter_configs")

    result(admin.create_partitions([NewPartitions(TOPIC, 4)]), "create_partitions")
    wait_for("list_topics to show 4 partitions", has_parts(4))
    ok("create_partitions")

    # offsets_for_times: record i has timestamp base + i*1000.
    base = int(time.time() * 1000) - 20 * 60 * 1000
    p = Producer({"bootstrap.servers": BOOT, "linger.ms": 0})
    errs = []
    for i in range(10):
        p.produce(TOPIC, value=b"v%d" % i, partition=0, timestamp=base + i * 1000,
                  on_delivery=lambda err, msg: errs.append(err) if err else None)
        p.flush(10)
    if errs or len(p) != 0:
        fail("produce with timestamps: %r" % (errs,))
    c = Consumer({"bootstrap.servers": BOOT, "group.id": "e2e-oft-" + TOPIC, "enable.auto.commit": False})
    for ts, want in [(base, 0), (base + 3500, 4), (base + 9000, 9), (base + 60000, -1)]:
        r = c.offsets_for_times([TopicPartition(TOPIC, 0, ts)], timeout=10)
        if r[0].error is not None or r[0].offset != want:
            fail("offsets_for_times(%d) = %r, want offset %d" % (ts - base, r[0], want))
    lo, hi = c.get_watermark_offsets(TopicPartition(TOPIC, 0), timeout=10)
    if (lo, hi) != (0, 10):
        fail("watermarks %r, want (0, 10)" % ((lo, hi),))
    c.close()
    ok("offsets_for_times")

    result(admin.delete_topics([TOPIC], operation_timeout=15), "delete_topics")

    def gone():
        md = admin.list_topics(timeout=10)
        return TOPIC not in md.topics, "still listed"
    wait_for("deleted topic to leave list_topics", gone)
    ok("delete_topics")


if __name__ == "__main__":
    main()
