package cli

import (
	"strings"
	"testing"
)

func TestConfigGetSet(t *testing.T) {
	b := testBrokers(t)
	topic := uniqueName(t, "t")
	mustQuill(t, b, "", "topic", "create", topic)

	r := mustQuill(t, b, "", "config", "set", "topic", topic, "retention.ms=5000", "segment.ms=100000")
	if !strings.Contains(r.stdout, "Set retention.ms=5000 on topic "+topic) {
		t.Errorf("set output: %q", r.stdout)
	}
	entries := decodeJSON[[]configEntry](t, mustQuill(t, b, "", "config", "get", "topic", topic, "--overrides-only", "-o", "json").stdout)
	if len(entries) != 2 || entries[0].Name != "retention.ms" || entries[0].Value != "5000" || !entries[0].Overridden {
		t.Errorf("overrides: %+v", entries)
	}
	mustQuill(t, b, "", "config", "set", "topic", topic, "--delete", "segment.ms")
	entries = decodeJSON[[]configEntry](t, mustQuill(t, b, "", "config", "get", "topic", topic, "-o", "json").stdout)
	for _, e := range entries {
		if e.Name == "segment.ms" && e.Overridden {
			t.Errorf("segment.ms still overridden: %+v", e)
		}
	}

	info := decodeJSON[clusterInfo](t, mustQuill(t, b, "", "cluster", "info", "-o", "json").stdout)
	if len(info.Brokers) == 0 || info.ClusterID == "" {
		t.Fatalf("cluster info: %+v", info)
	}
	if r := mustQuill(t, b, "", "cluster", "info"); !strings.Contains(r.stdout, "Cluster ID:") || !strings.Contains(r.stdout, "CONTROLLER") {
		t.Errorf("cluster info table:\n%s", r.stdout)
	}
	id := itoa(info.Brokers[0].NodeID)
	mustQuill(t, b, "", "config", "set", "broker", id, "log.retention.ms=3600000")
	entries = decodeJSON[[]configEntry](t, mustQuill(t, b, "", "config", "get", "broker", id, "-o", "yaml", "-o", "json").stdout)
	found := false
	for _, e := range entries {
		if e.Name == "log.retention.ms" && e.Value == "3600000" && e.Overridden {
			found = true
		}
	}
	if !found {
		t.Errorf("broker config not set: %+v", entries)
	}
	mustQuill(t, b, "", "config", "set", "broker", id, "--delete", "log.retention.ms")
	if r := mustQuill(t, b, "", "config", "get", "broker", id, "-o", "yaml"); !strings.Contains(r.stdout, "- name: ") {
		t.Errorf("yaml:\n%s", r.stdout)
	}

	for _, args := range [][]string{
		{"config", "get"},
		{"config", "get", "queue", "x"},
		{"config", "get", "broker", "one"},
		{"config", "set", "topic", topic},
		{"config", "set", "topic", topic, "novalue"},
	} {
		if r := quill(t, b, "", args...); r.code != exitUsage {
			t.Errorf("%v: code %d (%v)", args, r.code, r.err)
		}
	}
}
