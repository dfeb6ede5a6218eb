#!/usr/bin/python3
"""confluent-kafka-python AdminClient.list_groups (ListGroups + DescribeGroups).

usage: confluent_group_admin.py BOOTSTRAP [GROUP]

Without GROUP lists every group; with GROUP describes just that one.
Prints one JSON object: {"groups": [{"id", "error", "state", "protocol_type",
"protocol", "members": [{"id", "client_id", "client_host"}]}]}.
"""
import json
import sys

from confluent_kafka.admin import AdminClient

BOOT = sys.argv[1]
GROUP = sys.argv[2] if len(sys.argv) > 2 else None


def main():
    a = AdminClient({"bootstrap.servers": BOOT})
    if GROUP:
        gs = a.list_groups(group=GROUP, timeout=15)
    else:
        gs = a.list_groups(timeout=15)
    out = []
    for g in gs:
        out.append({
            "id": g.id,
            "error": None if g.error is None else str(g.error),
            "error_code": None if g.error is None else g.error.code(),
            "state": g.state,
            "protocol_type": g.protocol_type,
            "protocol": g.protocol,
            "members": [{"id": m.id, "client_id": m.client_id, "client_host": m.client_host,
                         "assignment_len": len(m.assignment or b"")} for m in g.members],
        })
    print(json.dumps({"groups": out}), flush=True)


if __name__ == "__main__":
    main()
