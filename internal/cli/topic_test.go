package cli

import (
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"
)

func TestTopicLifecycle(t *testing.T) {
	b := testBrokers(t)
	topic := uniqueName(t, "t")

	r := mustQuill(t, b, "", "topic", "create", topic, "--partitions", "3", "--replication-factor", "1", "--config", "retention.ms=123456")
	if !strings.Contains(r.stdout, "Created topic "+topic) {
		t.Errorf("create output: %q", r.stdout)
	}

	// Creating it again fails with exit 1 and says what to do.
	r = quill(t, b, "", "topic", "create", topic, "--partitions", "3")
	if r.code != exitError || !strings.Contains(r.err.Error(), "TOPIC_ALREADY_EXISTS") || !strings.Contains(r.err.Error(), "quill topic delete") {
		t.Errorf("duplicate create: code %d, err %v", r.code, r.err)
	}
	mustQuill(t, b, "", "topic", "create", topic, "--if-not-exists")

	list := decodeJSON[[]topicSummary](t, mustQuill(t, b, "", "topic", "list", "-o", "json").stdout)
	found := false
	for _, ts := range list {
		if ts.Name == topic {
			found = true
			if ts.Partitions != 3 || ts.ReplicationFactor != 1 {
				t.Errorf("list: %+v", ts)
			}
		}
	}
	if !found {
		t.Fatalf("topic %s not listed: %+v", topic, list)
	}
	if r := mustQuill(t, b, "", "topic", "list"); !strings.Contains(r.stdout, "NAME") || !strings.Contains(r.stdout, topic) {
		t.Errorf("table list: %q", r.stdout)
	}

	mustQuill(t, b, "", "topic", "alter-config", topic, "--config", "cleanup.policy=compact")
	d := decodeJSON[topicDescription](t, mustQuill(t, b, "", "topic", "describe", topic, "-o", "json").stdout)
	if len(d.Partitions) != 3 {
		t.Fatalf("describe partitions: %+v", d.Partitions)
	}
	for _, p := range d.Partitions {
		if p.Leader < 0 || len(p.Replicas) != 1 || len(p.ISR) != 1 || p.LogEndOffset != 0 || p.LogStartOffset != 0 {
			t.Errorf("partition: %+v", p)
		}
	}
	want := map[string]string{"retention.ms": "123456", "cleanup.policy": "compact"}
	for _, c := range d.Configs {
		if v, ok := want[c.Name]; ok {
			if c.Value != v || !c.Overridden || c.Source != "DYNAMIC_TOPIC_CONFIG" {
				t.Errorf("config %+v", c)
			}
			delete(want, c.Name)
		}
	}
	if len(want) > 0 {
		t.Errorf("configs missing from describe: %v in %+v", want, d.Configs)
	}

	// The table form names the sections and the override.
	r = mustQuill(t, b, "", "topic", "describe", topic)
	for _, s := range []string{"PARTITION", "LEADER", "ISR", "LOG-END", "SIZE", "Configs:", "retention.ms", "(override)"} {
		if !strings.Contains(r.stdout, s) {
			t.Errorf("describe table lacks %q:\n%s", s, r.stdout)
		}
	}
	// yaml works too.
	if r := mustQuill(t, b, "", "topic", "describe", topic, "-o", "yaml"); !strings.Contains(r.stdout, "name: "+topic) {
		t.Errorf("yaml describe:\n%s", r.stdout)
	}

	mustQuill(t, b, "", "topic", "alter-config", topic, "--delete", "retention.ms")
	d = decodeJSON[topicDescription](t, mustQuill(t, b, "", "topic", "describe", topic, "--overrides-only", "-o", "json").stdout)
	if len(d.Configs) != 1 || d.Configs[0].Name != "cleanup.policy" {
		t.Errorf("after delete, overrides: %+v", d.Configs)
	}

	mustQuill(t, b, "", "topic", "add-partitions", topic, "--partitions", "5")
	d = decodeJSON[topicDescription](t, mustQuill(t, b, "", "topic", "describe", topic, "-o", "json").stdout)
	if len(d.Partitions) != 5 {
		t.Errorf("after add-partitions: %d partitions", len(d.Partitions))
	}

	mustQuill(t, b, "", "topic", "delete", topic)
	r = quill(t, b, "", "topic", "describe", topic)
	if r.code != exitError || !strings.Contains(r.err.Error(), "quill topic list") {
		t.Errorf("describe deleted: code %d err %v", r.code, r.err)
	}
	mustQuill(t, b, "", "topic", "delete", topic, "--if-exists")
	if r := quill(t, b, "", "topic", "delete", topic); r.code != exitError {
		t.Errorf("delete missing: code %d", r.code)
	}
	// Several topics, some failing: each failure on stderr, a count as the error.
	r = quill(t, b, "", "topic", "delete", uniqueName(t, "t"), topic)
	if r.code != exitError || !strings.Contains(r.err.Error(), "2 of 2 topics failed") || strings.Count(r.stderr, "error:") != 2 {
		t.Errorf("multi delete: code %d err %v stderr %q", r.code, r.err, r.stderr)
	}
}

// With several brokers, describe shows every replica and the ISR, and
// cluster info every broker. Needs kfake: a test broker has one node.
func TestDescribeReplicatedTopic(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(3))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	b := strings.Join(c.ListenAddrs(), ",")
	info := decodeJSON[clusterInfo](t, mustQuill(t, b, "", "cluster", "info", "-o", "json").stdout)
	if len(info.Brokers) != 3 {
		t.Errorf("cluster info brokers: %+v", info.Brokers)
	}
	mustQuill(t, b, "", "topic", "create", "rep", "-p", "2", "-r", "3")
	mustQuill(t, b, "a\nb\nc\n", "produce", "rep", "-p", "1")
	d := decodeJSON[topicDescription](t, mustQuill(t, b, "", "topic", "describe", "rep", "-o", "json").stdout)
	for _, p := range d.Partitions {
		if len(p.Replicas) != 3 || len(p.ISR) != 3 {
			t.Errorf("partition %d: replicas %v isr %v", p.Partition, p.Replicas, p.ISR)
		}
	}
	if p := d.Partitions[1]; p.LogEndOffset != 3 || p.SizeBytes <= 0 {
		t.Errorf("partition 1: end %d size %d", p.LogEndOffset, p.SizeBytes)
	}
	if r := quill(t, b, "", "topic", "create", "rep4", "-r", "4"); r.code != exitError || !strings.Contains(r.err.Error(), "quill cluster info") {
		t.Errorf("rf 4 on 3 brokers: code %d err %v", r.code, r.err)
	}
}
