package controller

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/quillstream/quill/internal/metadata"
)

func open(t *testing.T, dir string) *Controller {
	t.Helper()
	c, err := Open(Config{Dir: dir, NodeID: 1, Host: "127.0.0.1", Port: 9092})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func kafkaErr(err error) *kerr.Error {
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return ke
	}
	return nil
}

func TestCreateTopicsValidation(t *testing.T) {
	c := open(t, t.TempDir())
	defer c.Close()
	def := Defaults{Partitions: 3, ReplicationFactor: 1}
	errs := c.CreateTopics([]TopicSpec{
		{Name: "ok", Partitions: -1, ReplicationFactor: -1},
		{Name: "bad name!", Partitions: 1, ReplicationFactor: 1},
		{Name: "zero", Partitions: 0, ReplicationFactor: 1},
		{Name: "rf3", Partitions: 1, ReplicationFactor: 3},
		{Name: "ok", Partitions: 1, ReplicationFactor: 1},
		{Name: "..", Partitions: 1, ReplicationFactor: 1},
	}, def, false)
	want := []*kerr.Error{nil, kerr.InvalidTopicException, kerr.InvalidPartitions, kerr.InvalidReplicationFactor, kerr.TopicAlreadyExists, kerr.InvalidTopicException}
	for i, w := range want {
		if got := kafkaErr(errs[i]); got != w {
			t.Errorf("spec %d: got %v, want %v", i, errs[i], w)
		}
	}
	if n := len(c.Image().Topics["ok"].Partitions); n != 3 {
		t.Fatalf("default partitions: got %d, want 3", n)
	}
}

func TestValidateOnlyWritesNothing(t *testing.T) {
	c := open(t, t.TempDir())
	defer c.Close()
	errs := c.CreateTopics([]TopicSpec{{Name: "v", Partitions: 2, ReplicationFactor: 1}}, Defaults{}, true)
	if errs[0] != nil {
		t.Fatal(errs[0])
	}
	if c.Image().Topics["v"] != nil {
		t.Fatal("validate-only created the topic")
	}
}

func TestReplayAfterRestartKeepsIDsAndConfigs(t *testing.T) {
	dir := t.TempDir()
	c := open(t, dir)
	cleanup := "compact"
	if errs := c.CreateTopics([]TopicSpec{{Name: "a", Partitions: 2, ReplicationFactor: 1, Configs: map[string]string{"retention.ms": "1000"}}}, Defaults{}, false); errs[0] != nil {
		t.Fatal(errs[0])
	}
	if err := c.AlterConfigs(metadata.ResourceTopic, "a", []ConfigChange{{Name: "cleanup.policy", Value: &cleanup}}, false); err != nil {
		t.Fatal(err)
	}
	if err := c.CreatePartitions("a", 4, nil, false); err != nil {
		t.Fatal(err)
	}
	pid, err := c.AllocateProducerIDs(1000)
	if err != nil {
		t.Fatal(err)
	}
	before := c.Image()
	c.Close()

	c2 := open(t, dir)
	defer c2.Close()
	after := c2.Image()
	ta, tb := before.Topics["a"], after.Topics["a"]
	if ta.ID != tb.ID || len(tb.Partitions) != 4 || tb.Configs["cleanup.policy"] != "compact" || tb.Configs["retention.ms"] != "1000" {
		t.Fatalf("after restart: %+v, before: %+v", tb, ta)
	}
	if after.ClusterID != before.ClusterID {
		t.Fatal("cluster id changed")
	}
	next, _ := c2.AllocateProducerIDs(1000)
	if next != pid+1000 {
		t.Fatalf("producer ids reused: got %d after %d", next, pid)
	}
}

func TestTornTailIsTruncated(t *testing.T) {
	dir := t.TempDir()
	c := open(t, dir)
	c.CreateTopics([]TopicSpec{{Name: "a", Partitions: 1, ReplicationFactor: 1}}, Defaults{}, false)
	c.Close()
	path := filepath.Join(dir, "metadata.log")
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	f.Write([]byte{0, 0, 0, 50, 1, 2, 3}) // a frame cut short by a crash
	f.Close()
	c2 := open(t, dir)
	defer c2.Close()
	if c2.Image().Topics["a"] == nil {
		t.Fatal("topic lost")
	}
	if errs := c2.CreateTopics([]TopicSpec{{Name: "b", Partitions: 1, ReplicationFactor: 1}}, Defaults{}, false); errs[0] != nil {
		t.Fatal(errs[0])
	}
	c2.Close()
	c3 := open(t, dir)
	defer c3.Close()
	if c3.Image().Topics["b"] == nil {
		t.Fatal("record after a truncated tail lost")
	}
}

func TestClusterIDMismatchRefused(t *testing.T) {
	dir := t.TempDir()
	c := open(t, dir)
	c.Close()
	if _, err := Open(Config{Dir: dir, NodeID: 1, ClusterID: "other"}); err == nil {
		t.Fatal("opened metadata of another cluster")
	}
}

func TestDeleteTopic(t *testing.T) {
	c := open(t, t.TempDir())
	defer c.Close()
	c.CreateTopics([]TopicSpec{{Name: "a", Partitions: 1, ReplicationFactor: 1}}, Defaults{}, false)
	id := c.Image().Topics["a"].ID
	if errs := c.DeleteTopics([]string{"a", "missing"}, nil); errs[0] != nil || kafkaErr(errs[1]) != kerr.UnknownTopicOrPartition {
		t.Fatalf("delete: %v", errs)
	}
	if c.Image().TopicIDs[id] != nil {
		t.Fatal("topic id still present")
	}
	c.CreateTopics([]TopicSpec{{Name: "a", Partitions: 1, ReplicationFactor: 1}}, Defaults{}, false)
	if c.Image().Topics["a"].ID == id {
		t.Fatal("re-created topic kept its old id")
	}
}
