#!/usr/bin/python3
"""kafka-python 2.0.2 group consumer: subscribe, consume, commit, resume.

usage: kafka_python_group.py BOOTSTRAP TOPIC COUNT

Prints "OK" or fails with the exception. kafka-python derives FindCoordinator,
JoinGroup, SyncGroup, Heartbeat, OffsetCommit and OffsetFetch versions from
the one broker release it infers, so this shows which of them quill serves.
"""
import sys
import time

from kafka import KafkaConsumer

BOOT, TOPIC, COUNT = sys.argv[1], sys.argv[2], int(sys.argv[3])
GROUP = "kp-" + TOPIC


def fail(msg):
    print("FAIL " + msg, flush=True)
    sys.exit(1)


def consume(want, seen):
    c = KafkaConsumer(TOPIC, bootstrap_servers=BOOT, group_id=GROUP, auto_offset_reset="earliest",
                      enable_auto_commit=False, max_poll_records=50, request_timeout_ms=30000,
                      session_timeout_ms=10000, heartbeat_interval_ms=1000)
    got = 0
    deadline = time.time() + 40
    while got < want and time.time() < deadline:
        for recs in c.poll(timeout_ms=500, max_records=want - got).values():
            for m in recs:
                seen[m.value] = seen.get(m.value, 0) + 1
                got += 1
    if got < want:
        fail("consumed %d of %d (assignment %r)" % (got, want, c.assignment()))
    c.commit()
    c.close()


def main():
    seen = {}
    consume(COUNT // 2, seen)
    consume(COUNT - COUNT // 2, seen)
    if len(seen) != COUNT or any(n != 1 for n in seen.values()):
        fail("saw %d distinct of %d, duplicates %r" % (len(seen), COUNT, [v for v, n in seen.items() if n != 1][:5]))
    print("OK", flush=True)


if __name__ == "__main__":
    main()
