package e2e

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/quillstream/quill/internal/testutil"
)

// Cluster tests: 3 (or 5) `quill server` processes on 127.0.0.1, each
// broker and controller (docs/cluster.md).

func createClusterTopic(t *testing.T, adm *kadm.Client, topic string, partitions int32, rf int16, configs map[string]*string) {
	t.Helper()
	ctx := testutil.Context(t, 30*time.Second)
	resp, err := adm.CreateTopics(ctx, partitions, rf, configs, topic)
	if err != nil {
		t.Fatal(err)
	}
	if r := resp[topic]; r.Err != nil {
		t.Fatalf("create %s: %v", topic, r.Err)
	}
}

func produceSeq(t *testing.T, cl *kgo.Client, topic string, from, n int) {
	t.Helper()
	ctx := testutil.Context(t, 60*time.Second)
	var recs []*kgo.Record
	for i := from; i < from+n; i++ {
		recs = append(recs, &kgo.Record{Topic: topic, Value: fmt.Appendf(nil, "msg-%05d", i)})
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
}

// consumeAll reads partition 0 of topic from the beginning with a new
// client seeded by seeds until n records arrive.
func consumeCluster(t *testing.T, seeds []string, topic string, n int) []string {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.RetryTimeout(30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx := testutil.Context(t, 60*time.Second)
	var got []string
	for len(got) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of %d records", len(got), n)
		}
		fs.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
	}
	return got
}

func checkSeq(t *testing.T, got []string, n int) {
	t.Helper()
	if len(got) != n {
		t.Fatalf("got %d records, want %d", len(got), n)
	}
	for i, v := range got {
		if want := fmt.Sprintf("msg-%05d", i); v != want {
			t.Fatalf("record %d is %q, want %q", i, v, want)
		}
	}
}

// The Kafka quickstart's replication demo: RF 3, kill -9 the leader,
// another replica leads, the ISR shrinks, every message is still there.
func TestClusterTutorialDemo(t *testing.T) {
	c := testutil.StartCluster(t, 3)
	topic := "my-replicated-topic"
	createClusterTopic(t, c.Admin(t), topic, 1, 3, nil)
	p := c.WaitPartition(topic, 0, "leader and full ISR", func(p testutil.Partition) bool {
		return p.Leader > 0 && len(p.ISR) == 3
	})
	cl := c.Client(t)
	produceSeq(t, cl, topic, 0, 100)

	old := p.Leader
	c.Node(old).Kill()
	np := c.WaitPartition(topic, 0, "a new leader and a shrunk ISR", func(p testutil.Partition) bool {
		return p.Leader > 0 && p.Leader != old && !slices.Contains(p.ISR, old) && len(p.ISR) == 2
	})
	if np.LeaderEpoch <= p.LeaderEpoch {
		t.Fatalf("leader epoch %d did not grow from %d", np.LeaderEpoch, p.LeaderEpoch)
	}
	if !slices.Contains(np.Offline, old) {
		t.Errorf("offline replicas %v do not list the killed broker %d", np.Offline, old)
	}
	var live []string
	for _, b := range c.Brokers {
		if b.Running() {
			live = append(live, b.Addr())
		}
	}
	checkSeq(t, consumeCluster(t, live, topic, 100), 100)

	// Writes continue with acks=all on the two in-sync replicas.
	produceSeq(t, cl, topic, 100, 50)

	// The killed broker restarts, catches up and rejoins the ISR.
	c.Node(old).Start()
	c.WaitPartition(topic, 0, "the restarted broker back in the ISR", func(p testutil.Partition) bool {
		return len(p.ISR) == 3
	})
	checkSeq(t, consumeCluster(t, []string{c.Node(old).Addr()}, topic, 150), 150)

	// A preferred-leader election moves leadership back to the first
	// replica (ElectLeaders, KIP-460).
	// The restarted broker can be back in the ISR (its leader's call)
	// before the controller has taken its registration (its own
	// heartbeat): until then the election answers
	// PREFERRED_LEADER_NOT_AVAILABLE, so it is retried, bounded.
	ctx := testutil.Context(t, 30*time.Second)
	cur, _ := c.Describe(topic, 0)
	var r kadm.ElectLeadersResult
	testutil.WaitFor(t, 30*time.Second, "the preferred replica electable", func() (bool, string) {
		res, err := c.Admin(t).ElectLeaders(ctx, kadm.ElectPreferredReplica, kadm.TopicsSet{topic: {0: {}}})
		if err != nil {
			t.Fatal(err)
		}
		r = res[topic][0]
		return !errors.Is(r.Err, kerr.PreferredLeaderNotAvailable), fmt.Sprintf("%v %s", r.Err, r.ErrMessage)
	})
	if cur.Leader == cur.Replicas[0] {
		if r.Err == nil {
			t.Fatalf("electing the current preferred leader: no ELECTION_NOT_NEEDED")
		}
	} else if r.Err != nil {
		t.Fatalf("preferred election: %v %s", r.Err, r.ErrMessage)
	}
	c.WaitPartition(topic, 0, "the preferred replica leads", func(p testutil.Partition) bool {
		return p.Leader == p.Replicas[0]
	})
	produceSeq(t, cl, topic, 150, 10)
	checkSeq(t, consumeCluster(t, c.Addrs(), topic, 160), 160)
}

// Losing two of the three replicas keeps the data readable from the last
// one (five nodes, so the controller quorum keeps its majority).
func TestClusterLoseTwoReplicas(t *testing.T) {
	c := testutil.StartCluster(t, 5)
	topic := topicName(t)
	createClusterTopic(t, c.Admin(t), topic, 1, 3, nil)
	p := c.WaitPartition(topic, 0, "leader and full ISR", func(p testutil.Partition) bool {
		return p.Leader > 0 && len(p.ISR) == 3
	})
	produceSeq(t, c.Client(t), topic, 0, 200)

	first := p.Leader
	c.Node(first).Kill()
	p = c.WaitPartition(topic, 0, "second leader", func(p testutil.Partition) bool {
		return p.Leader > 0 && p.Leader != first && !slices.Contains(p.ISR, first)
	})
	second := p.Leader
	c.Node(second).Kill()
	p = c.WaitPartition(topic, 0, "the last replica leads", func(p testutil.Partition) bool {
		return p.Leader > 0 && p.Leader != first && p.Leader != second
	})
	if len(p.ISR) != 1 || p.ISR[0] != p.Leader {
		t.Fatalf("ISR %v, want just the leader %d", p.ISR, p.Leader)
	}
	checkSeq(t, consumeCluster(t, []string{c.Node(p.Leader).Addr()}, topic, 200), 200)
}

// The active controller is killed: another voter takes over and metadata
// changes continue.
func TestClusterControllerFailover(t *testing.T) {
	c := testutil.StartCluster(t, 3)
	active := activeController(t, c)
	c.Node(active).Kill()
	var live []string
	for _, b := range c.Brokers {
		if b.Running() {
			live = append(live, b.Addr())
		}
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(live...), kgo.RetryTimeout(30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	topic := topicName(t)
	testutil.WaitFor(t, 30*time.Second, "topic created after the controller failover", func() (bool, string) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		resp, err := adm.CreateTopics(ctx, 1, 2, nil, topic)
		if err != nil {
			return false, err.Error()
		}
		if e := resp[topic].Err; e != nil && !strings.Contains(e.Error(), "TOPIC_ALREADY_EXISTS") {
			return false, e.Error()
		}
		return true, ""
	})
	if now := activeController(t, c); now == active {
		t.Fatalf("node %d is still the active controller", now)
	}
	c.Node(active).Start()
	c.WaitBrokers(3)
}

// activeController asks a running node with DescribeQuorum which node
// is the active controller (the Raft leader).
func activeController(t *testing.T, c *testutil.Cluster) int32 {
	t.Helper()
	var id int32 = -1
	testutil.WaitFor(t, 30*time.Second, "an active controller", func() (bool, string) {
		for _, b := range c.Brokers {
			if !b.Running() {
				continue
			}
			cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()))
			if err != nil {
				return false, err.Error()
			}
			req := kmsg.NewPtrDescribeQuorumRequest()
			rt := kmsg.NewDescribeQuorumRequestTopic()
			rt.Topic = "__cluster_metadata"
			rt.Partitions = []kmsg.DescribeQuorumRequestTopicPartition{kmsg.NewDescribeQuorumRequestTopicPartition()}
			req.Topics = append(req.Topics, rt)
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			resp, err := req.RequestWith(ctx, cl)
			cancel()
			cl.Close()
			if err != nil {
				return false, err.Error()
			}
			p := resp.Topics[0].Partitions[0]
			if p.ErrorCode == 0 && p.LeaderID > 0 && c.Node(p.LeaderID).Running() {
				if len(p.CurrentVoters) != len(c.Brokers) {
					return false, fmt.Sprintf("%d voters", len(p.CurrentVoters))
				}
				id = p.LeaderID
				return true, ""
			}
			return false, fmt.Sprintf("leader %d error %d", p.LeaderID, p.ErrorCode)
		}
		return false, "no node running"
	})
	return id
}

// Every node is killed at once and restarted: the metadata log replays,
// leaders are elected again and every acknowledged record is there.
func TestClusterFullRestart(t *testing.T) {
	c := testutil.StartCluster(t, 3)
	topic := topicName(t)
	createClusterTopic(t, c.Admin(t), topic, 1, 3, nil)
	c.WaitPartition(topic, 0, "full ISR", func(p testutil.Partition) bool { return p.Leader > 0 && len(p.ISR) == 3 })
	produceSeq(t, c.Client(t), topic, 0, 300)
	for _, b := range c.Brokers {
		b.Kill()
	}
	for _, b := range c.Brokers {
		b.Start()
	}
	c.WaitBrokers(3)
	c.WaitPartition(topic, 0, "a leader after the restart", func(p testutil.Partition) bool { return p.Leader > 0 })
	checkSeq(t, consumeCluster(t, c.Addrs(), topic, 300), 300)
	produceSeq(t, c.Client(t), topic, 300, 10)
	checkSeq(t, consumeCluster(t, c.Addrs(), topic, 310), 310)
}

// SIGTERM on a leader moves its leaderships away before it stops
// (controlled shutdown): the partition has a new leader by the time the
// process has exited, without waiting for the session timeout.
func TestClusterControlledShutdown(t *testing.T) {
	c := testutil.StartCluster(t, 3, testutil.WithOverride("broker.session.timeout.ms", "30000"))
	topic := topicName(t)
	createClusterTopic(t, c.Admin(t), topic, 1, 3, nil)
	p := c.WaitPartition(topic, 0, "full ISR", func(p testutil.Partition) bool { return p.Leader > 0 && len(p.ISR) == 3 })
	produceSeq(t, c.Client(t), topic, 0, 50)
	start := time.Now()
	c.Node(p.Leader).Stop()
	np, err := c.Describe(topic, 0)
	if err != nil {
		t.Fatal(err)
	}
	if np.Leader == p.Leader || np.Leader < 0 || slices.Contains(np.ISR, p.Leader) {
		t.Fatalf("after a controlled shutdown of %d (%v): %+v", p.Leader, time.Since(start), np)
	}
	if !strings.Contains(c.Node(p.Leader).Logs(), "controlled shutdown") {
		t.Error("no controlled shutdown in the stopped broker's log")
	}
	var live []string
	for _, b := range c.Brokers {
		if b.Running() {
			live = append(live, b.Addr())
		}
	}
	checkSeq(t, consumeCluster(t, live, topic, 50), 50)
}
