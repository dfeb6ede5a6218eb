#!/usr/bin/python3
"""confluent-kafka-python over a secured listener.

usage: confluent_security.py MODE TOPIC GROUP KEY=VALUE...

The KEY=VALUE pairs are librdkafka settings (bootstrap.servers,
security.protocol, sasl.*, ssl.*). Modes:
  roundtrip      produce 20 records to TOPIC, consume them in GROUP
  produce-denied expect producing to TOPIC to fail with
                 TOPIC_AUTHORIZATION_FAILED
  consume-denied expect consuming TOPIC in GROUP to fail with an
                 authorization error
  auth-failed    expect authentication to fail
Prints "OK"; exits non-zero on failure.
"""
import sys
import time

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer
from confluent_kafka.admin import AdminClient

MODE, TOPIC, GROUP = sys.argv[1], sys.argv[2], sys.argv[3]
CONF = dict(kv.split("=", 1) for kv in sys.argv[4:])


def fail(msg):
    print("FAIL " + msg, flush=True)
    sys.exit(1)


def produce(n):
    errors = []

    def cb(err, msg):
        if err is not None:
            errors.append(err)

    p = Producer(dict(CONF, **{"message.timeout.ms": 10000, "acks": "all"}))
    for i in range(n):
        p.produce(TOPIC, value=b"v%d" % i, key=b"k%d" % i, on_delivery=cb)
    left = p.flush(20)
    if left:
        fail("%d messages not delivered" % left)
    return errors


def consume(n):
    c = Consumer(dict(CONF, **{"group.id": GROUP, "auto.offset.reset": "earliest",
                                "enable.auto.commit": False, "session.timeout.ms": 10000}))
    c.subscribe([TOPIC])
    got, errs = 0, []
    deadline = time.time() + 20
    while got < n and time.time() < deadline:
        for m in c.consume(num_messages=n - got, timeout=0.5):
            if m.error():
                if m.error().code() == KafkaError._PARTITION_EOF:
                    continue
                errs.append(m.error())
                deadline = 0
                break
            got += 1
    if got and not errs:
        c.commit(asynchronous=False)
    c.close()
    return got, errs


if MODE == "roundtrip":
    errs = produce(20)
    if errs:
        fail("produce: %s" % errs)
    got, errs = consume(20)
    if errs or got != 20:
        fail("consumed %d of 20: %s" % (got, errs))
elif MODE == "produce-denied":
    errs = produce(1)
    if not errs or errs[0].code() != KafkaError.TOPIC_AUTHORIZATION_FAILED:
        fail("produce: want TOPIC_AUTHORIZATION_FAILED, got %s" % errs)
elif MODE == "consume-denied":
    got, errs = consume(1)
    codes = [e.code() for e in errs]
    if got or not any(c in (KafkaError.TOPIC_AUTHORIZATION_FAILED, KafkaError.GROUP_AUTHORIZATION_FAILED) for c in codes):
        fail("consume: want an authorization error, got %d records, errors %s" % (got, errs))
elif MODE == "auth-failed":
    # librdkafka logs the broker's SASL error; the test checks stderr.
    a = AdminClient(CONF)
    try:
        a.list_topics(timeout=10)
        fail("metadata with bad credentials succeeded")
    except KafkaException:
        pass
else:
    fail("unknown mode " + MODE)
print("OK", flush=True)
