package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/quillstream/quill/internal/testutil"
)

// checkpointedHW reads topic-0's line of a node's replication-offset-checkpoint.
func checkpointedHW(b *testutil.Broker, topic string) (string, error) {
	body, err := os.ReadFile(filepath.Join(b.Dir(), "replication-offset-checkpoint"))
	if err != nil {
		return "", err
	}
	for _, l := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(l, topic+" 0 ") {
			return l, nil
		}
	}
	return "", fmt.Errorf("no line for %s-0 in %q", topic, body)
}

// Every node checkpoints its high watermarks (Kafka's
// replication-offset-checkpoint) periodically and at clean shutdown; a
// restarted node starts from it and rejoins.
func TestClusterHighWatermarkCheckpoint(t *testing.T) {
	c := testutil.StartCluster(t, 3, testutil.WithOverride("replica.high.watermark.checkpoint.interval.ms", "200"))
	topic := topicName(t)
	createClusterTopic(t, c.Admin(t), topic, 1, 3, nil)
	cl := c.Client(t)
	produceSeq(t, cl, topic, 0, 100)
	want := topic + " 0 100"
	for _, b := range c.Brokers {
		testutil.WaitFor(t, 30*time.Second, "node checkpoints high watermark 100", func() (bool, string) {
			l, err := checkpointedHW(b, topic)
			if err != nil {
				return false, err.Error()
			}
			return l == want, l
		})
	}

	// A follower stops cleanly: the checkpoint is written last, with what
	// it had.
	p, err := c.Describe(topic, 0)
	if err != nil {
		t.Fatal(err)
	}
	follower := p.Replicas[0]
	if follower == p.Leader {
		follower = p.Replicas[1]
	}
	fb := c.Node(follower)
	fb.Stop()
	if l, err := checkpointedHW(fb, topic); err != nil || l != want {
		t.Fatalf("after clean shutdown: %q %v, want %q", l, err, want)
	}
	produceSeq(t, cl, topic, 100, 50)
	fb.Start()
	c.WaitPartition(topic, 0, "the restarted follower back in the ISR", func(p testutil.Partition) bool { return len(p.ISR) == 3 })
	testutil.WaitFor(t, 30*time.Second, "restarted node checkpoints high watermark 150", func() (bool, string) {
		l, err := checkpointedHW(fb, topic)
		if err != nil {
			return false, err.Error()
		}
		return l == topic+" 0 150", l
	})
	checkSeq(t, consumeCluster(t, c.Addrs(), topic, 150), 150)
}
