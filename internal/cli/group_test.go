package cli

import (
	"strings"
	"testing"
)

func TestGroupDescribeAndResetOffsets(t *testing.T) {
	b := testBrokers(t)
	topic := uniqueName(t, "t")
	group := uniqueName(t, "g")
	mustQuill(t, b, "", "topic", "create", topic, "--partitions", "2")
	mustQuill(t, b, "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n", "produce", topic, "--partition", "0")

	// Consume 4 records as the group; only partition 0 has data yet, so
	// the commit is deterministic: 0 -> 4.
	r := mustQuill(t, b, "", "consume", topic, "--group", group, "--from-beginning", "-n", "4")
	if r.stdout != "1\n2\n3\n4\n" {
		t.Fatalf("consumed %q", r.stdout)
	}
	mustQuill(t, b, "a\nb\n", "produce", topic, "--partition", "1")

	if r := mustQuill(t, b, "", "group", "list"); !strings.Contains(r.stdout, group) {
		t.Errorf("group list lacks %s:\n%s", group, r.stdout)
	}
	d := decodeJSON[groupDescription](t, mustQuill(t, b, "", "group", "describe", group, "-o", "json").stdout)
	var committed, lag int64
	for _, o := range d.Offsets {
		if o.CommittedOffset > 0 {
			committed += o.CommittedOffset
		}
		lag += o.Lag
	}
	if committed != 4 || d.TotalLag != 8 {
		t.Errorf("describe: committed %d (want 4), total lag %d (want 8): %+v", committed, d.TotalLag, d)
	}
	if r := mustQuill(t, b, "", "group", "describe", group); !strings.Contains(r.stdout, "LAG") || !strings.Contains(r.stdout, "Total lag: 8") {
		t.Errorf("describe table:\n%s", r.stdout)
	}

	// Dry run by default: plan printed, nothing changed.
	r = mustQuill(t, b, "", "group", "reset-offsets", group, "--topic", topic, "--to-earliest")
	if !strings.Contains(r.stderr, "Dry run") {
		t.Errorf("dry-run stderr: %q", r.stderr)
	}
	golden(t, "reset_dry_run", squeezeSpaces(strings.ReplaceAll(r.stdout, topic, "TOPIC")))
	d = decodeJSON[groupDescription](t, mustQuill(t, b, "", "group", "describe", group, "-o", "json").stdout)
	if d.TotalLag != 8 {
		t.Errorf("dry run changed offsets: lag %d", d.TotalLag)
	}

	reset := func(args ...string) resetResult {
		t.Helper()
		args = append([]string{"group", "reset-offsets", group, "--execute", "-o", "json"}, args...)
		return decodeJSON[resetResult](t, mustQuill(t, b, "", args...).stdout)
	}
	offsetsOf := func() map[int32]int64 {
		d := decodeJSON[groupDescription](t, mustQuill(t, b, "", "group", "describe", group, "-o", "json").stdout)
		m := map[int32]int64{}
		for _, o := range d.Offsets {
			m[o.Partition] = o.CommittedOffset
		}
		return m
	}
	if res := reset("--topic", topic, "--to-earliest"); !res.Executed || len(res.Offsets) != 2 {
		t.Errorf("to-earliest: %+v", res)
	}
	if m := offsetsOf(); m[0] != 0 || m[1] != 0 {
		t.Errorf("after to-earliest: %v", m)
	}
	reset("--topic", topic+":0", "--to-offset", "7")
	reset("--all-topics", "--shift-by", "-2")
	if m := offsetsOf(); m[0] != 5 || m[1] != 0 {
		t.Errorf("after to-offset 7, shift-by -2: %v (want 0:5 1:0)", m)
	}
	reset("--topic", topic, "--to-latest")
	if m := offsetsOf(); m[0] != 10 || m[1] != 2 {
		t.Errorf("after to-latest: %v", m)
	}
	reset("--topic", topic, "--to-datetime", "2000-01-01T00:00:00Z")
	if m := offsetsOf(); m[0] != 0 || m[1] != 0 {
		t.Errorf("after to-datetime in the past: %v", m)
	}
	reset("--topic", topic+":0", "--to-offset", "1000") // clamped to the end
	if m := offsetsOf(); m[0] != 10 {
		t.Errorf("to-offset past the end not clamped: %v", m)
	}

	mustQuill(t, b, "", "group", "delete-offsets", group, "--topic", topic+":1")
	if m := offsetsOf(); m[1] != -1 {
		t.Errorf("after delete-offsets: %v", m)
	}

	// Usage errors: no strategy, two strategies, no topic.
	for _, args := range [][]string{
		{"--topic", topic},
		{"--topic", topic, "--to-earliest", "--to-latest"},
		{"--to-earliest"},
	} {
		if r := quill(t, b, "", append([]string{"group", "reset-offsets", group}, args...)...); r.code != exitUsage {
			t.Errorf("%v: code %d (%v)", args, r.code, r.err)
		}
	}

	mustQuill(t, b, "", "group", "delete", group)
	if r := quill(t, b, "", "group", "delete", group); r.code != exitError || r.stderr != "" {
		t.Errorf("deleting a deleted group: code %d, stderr %q", r.code, r.stderr)
	}
	if r := quill(t, b, "", "group", "describe", group); r.code != exitError || !strings.Contains(r.err.Error(), "quill group list") {
		t.Errorf("describing a deleted group: code %d, err %v", r.code, r.err)
	}
}
