package e2e

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/quillstream/quill/internal/testutil"
)

// A broker that was down while a topic it hosted was deleted removes the
// topic's directory once it is back: through the deletion it replays, or,
// when its metadata had caught up before its partitions were opened, as a
// stray log found at startup (replica.RemoveStray, unit-tested there).
// The topics it still hosts stay.
func TestClusterRemovesStrayLogsAtStartup(t *testing.T) {
	c := testutil.StartCluster(t, 3)
	adm := c.Admin(t)
	gone, kept := topicName(t)+"-gone", topicName(t)+"-kept"
	for _, topic := range []string{gone, kept} {
		if _, err := adm.CreateTopic(ctxT(t, 30*time.Second), 1, 3, nil, topic); err != nil {
			t.Fatal(err)
		}
		c.WaitPartition(topic, 0, "a full ISR", func(p testutil.Partition) bool { return len(p.ISR) == 3 })
	}
	node := c.Node(3)
	dirOf := func(topic string) string { return filepath.Join(node.Dir(), topic+"-0") }
	for _, topic := range []string{gone, kept} {
		if _, err := os.Stat(dirOf(topic)); err != nil {
			t.Fatalf("node 3 has no copy of %s: %v", topic, err)
		}
	}

	node.Kill()
	c.WaitBrokers(2)
	resp, err := c.Node(1).Admin(t).DeleteTopics(ctxT(t, 30*time.Second), gone)
	if err != nil {
		t.Fatal(err)
	}
	if err := resp.Error(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dirOf(gone)); err != nil {
		t.Fatalf("the stopped node's copy should still be there: %v", err)
	}

	node.Start()
	c.WaitBrokers(3)
	deadline := time.Now().Add(60 * time.Second)
	for {
		_, err := os.Stat(dirOf(gone))
		if os.IsNotExist(err) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("stray %s still on node 3 after its restart (%v); log:\n%s", dirOf(gone), err, node.Logs())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if _, err := os.Stat(dirOf(kept)); err != nil {
		t.Fatalf("node 3 lost its copy of %s: %v", kept, err)
	}
	c.WaitPartition(kept, 0, "node 3 back in the ISR", func(p testutil.Partition) bool { return len(p.ISR) == 3 })
}
