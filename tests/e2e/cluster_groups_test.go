package e2e

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/quillstream/quill/internal/group"
	"github.com/quillstream/quill/internal/testutil"
)

// offsetsTopic is Kafka's internal topic of the group coordinator;
// testutil's clusters give it 5 partitions.
const (
	offsetsTopic      = "__consumer_offsets"
	offsetsPartitions = 5
)

// A consumer group's acknowledged offset commits survive a kill -9 of the
// leader of its __consumer_offsets partition (the group coordinator): the
// coordinator answers a commit only once the ISR has it. Three rounds:
// consume, commit synchronously, kill the coordinator at once, check on the
// new coordinator that every committed offset is there, restart the node.
func TestClusterGroupCommitsSurviveCoordinatorFailover(t *testing.T) {
	// No preferred-leader rebalancing: the coordinator found before a
	// commit is the one killed after it.
	c := testutil.StartCluster(t, 3, testutil.WithOverride("auto.leader.rebalance.enable", "false"))
	topic := topicName(t)
	groupID := "g-" + topic
	const parts, n, rounds = 3, 600, 3
	createClusterTopic(t, c.Admin(t), topic, parts, 3, nil)
	for p := int32(0); p < parts; p++ {
		c.WaitPartition(topic, p, "leader and full ISR", func(p testutil.Partition) bool { return p.Leader > 0 && len(p.ISR) == 3 })
	}
	prod := c.Client(t, kgo.RecordPartitioner(kgo.RoundRobinPartitioner()), kgo.RequiredAcks(kgo.AllISRAcks()))
	produceSeq(t, prod, topic, 0, n)

	coordPart := group.PartitionFor(groupID, offsetsPartitions)
	cons := c.Client(t, kgo.ConsumerGroup(groupID), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit(),
		kgo.FetchMaxWait(200*time.Millisecond), kgo.FetchMaxPartitionBytes(256),
		kgo.RetryTimeout(60*time.Second))

	consumed := 0
	for round := range rounds {
		// The coordinator: the leader of the group's partition, with
		// every replica in sync, as FindCoordinator says.
		var cp testutil.Partition
		testutil.WaitFor(t, 60*time.Second, "FindCoordinator names the leader of the group's partition, with a full ISR", func() (bool, string) {
			var err error
			if cp, err = c.Describe(offsetsTopic, coordPart); err != nil {
				return false, err.Error()
			}
			if cp.Leader <= 0 || len(cp.ISR) != 3 {
				return false, fmt.Sprintf("%s-%d: %+v", offsetsTopic, coordPart, cp)
			}
			// A fresh client: kgo caches coordinators.
			cl, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...), kgo.RetryTimeout(10*time.Second))
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			r := kadm.NewClient(cl).FindGroupCoordinators(ctxT(t, 10*time.Second), groupID)
			co, ok := r[groupID]
			if !ok || co.Err != nil {
				return false, fmt.Sprintf("%+v", r)
			}
			return co.NodeID == cp.Leader, fmt.Sprintf("coordinator %d, leader of %s-%d is %d", co.NodeID, offsetsTopic, coordPart, cp.Leader)
		})

		ctx := ctxT(t, 90*time.Second)
		got := 0
		for got < n/(rounds+1) {
			fs := cons.PollRecords(ctx, n/(rounds+1)-got)
			if ctx.Err() != nil {
				t.Fatalf("round %d: consumed %d records", round, got)
			}
			fs.EachError(func(tp string, p int32, err error) { t.Logf("round %d: fetch %s[%d]: %v", round, tp, p, err) })
			got += fs.NumRecords()
		}
		consumed += got
		if err := cons.CommitUncommittedOffsets(ctx); err != nil {
			t.Fatalf("round %d: commit: %v", round, err)
		}
		// Acknowledged: kill the coordinator at once.
		c.Node(cp.Leader).Kill()
		want := map[int32]int64{}
		for p, o := range cons.CommittedOffsets()[topic] {
			want[p] = o.Offset
		}
		t.Logf("round %d: committed %v (%d consumed), killed coordinator %d", round, want, consumed, cp.Leader)

		np := c.WaitPartition(offsetsTopic, coordPart, "a new coordinator", func(p testutil.Partition) bool {
			return p.Leader > 0 && p.Leader != cp.Leader
		})
		checkCommitted(t, c, groupID, topic, want, fmt.Sprintf("round %d, coordinator %d", round, np.Leader))

		c.Node(cp.Leader).Start()
		c.WaitBrokers(3)
	}
	cons.Close()

	// Every acknowledged record is still there after the failovers, and
	// the end offsets say so once the leaders' high watermarks are back
	// (OFFSET_NOT_AVAILABLE is polled through).
	ends, err := testutil.ListEndOffsets(ctxT(t, 60*time.Second), c.Admin(t), topic)
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	for p := int32(0); p < parts; p++ {
		o, _ := ends.Lookup(topic, p)
		if o.Err != nil {
			t.Fatalf("end offset of partition %d: %v", p, o.Err)
		}
		total += o.Offset
	}
	if total != n {
		t.Fatalf("end offsets sum to %d, want %d", total, n)
	}
}

// checkCommitted polls OffsetFetch on the running nodes until the group's
// coordinator answers, then requires every offset in want.
func checkCommitted(t *testing.T, c *testutil.Cluster, groupID, topic string, want map[int32]int64, what string) {
	t.Helper()
	var seeds []string
	for _, b := range c.Brokers {
		if b.Running() {
			seeds = append(seeds, b.Addr())
		}
	}
	var got map[int32]int64
	testutil.WaitFor(t, 90*time.Second, what+": OffsetFetch answered", func() (bool, string) {
		cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.RetryTimeout(10*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		resp, err := kadm.NewClient(cl).FetchOffsets(ctx, groupID)
		if err == nil {
			err = resp.Error()
		}
		if err != nil {
			return false, err.Error()
		}
		got = map[int32]int64{}
		resp.Each(func(o kadm.OffsetResponse) {
			if o.Topic == topic {
				got[o.Partition] = o.At
			}
		})
		return true, ""
	})
	var bad []string
	for p, w := range want {
		if g, ok := got[p]; !ok || g != w {
			bad = append(bad, fmt.Sprintf("partition %d: committed %d, fetched %d (present %v)", p, w, g, ok))
		}
	}
	if len(bad) > 0 {
		slices.Sort(bad)
		t.Fatalf("%s: acknowledged commits lost: %v", what, bad)
	}
}
