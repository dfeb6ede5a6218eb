package e2e

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/quillstream/quill/internal/testutil"
)

// Network-cut tests: 3 nodes in network namespaces on a private bridge
// (testutil.StartNetCluster), one of them cut off from the others while
// clients keep writing (docs/cluster.md, "Fault tests"). They need root
// and iproute2, and skip without them unless QUILL_REQUIRE_NETNS=1.

// seqProducer writes a bounded stream of sequence numbers ("%08d") to
// every partition with acks=all and idempotence, and records which were
// acknowledged.
type seqProducer struct {
	cl    *kgo.Client
	parts int32

	mu      sync.Mutex
	acked   [][]int // guarded by mu: acknowledged sequence numbers per partition
	lastOff []int64 // guarded by mu: the highest acknowledged offset per partition
	failed  int     // guarded by mu

	stop context.CancelFunc
	wg   sync.WaitGroup
}

// startSeqProducer produces up to limit records per partition, one round
// over the partitions per millisecond, until stopped.
func startSeqProducer(t *testing.T, cl *kgo.Client, topic string, parts int32, limit int) *seqProducer {
	sp := &seqProducer{cl: cl, parts: parts, acked: make([][]int, parts), lastOff: make([]int64, parts)}
	for p := range sp.lastOff {
		sp.lastOff[p] = -1
	}
	ctx, stop := context.WithCancel(context.Background())
	sp.stop = stop
	sp.wg.Add(1)
	go func() {
		defer sp.wg.Done()
		for seq := 0; seq < limit && ctx.Err() == nil; seq++ {
			for p := int32(0); p < parts; p++ {
				seq, p := seq, p
				r := &kgo.Record{Topic: topic, Partition: p, Value: fmt.Appendf(nil, "%08d", seq)}
				cl.Produce(context.Background(), r, func(r *kgo.Record, err error) {
					sp.mu.Lock()
					defer sp.mu.Unlock()
					if err != nil {
						sp.failed++
						return
					}
					sp.acked[p] = append(sp.acked[p], seq)
					sp.lastOff[p] = max(sp.lastOff[p], r.Offset)
				})
			}
			time.Sleep(time.Millisecond)
		}
	}()
	t.Cleanup(func() { stop(); sp.wg.Wait() })
	return sp
}

func (sp *seqProducer) ackedIn(p int32) int {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	return len(sp.acked[p])
}

// waitMore waits until n more records of partition p are acknowledged.
func (sp *seqProducer) waitMore(t *testing.T, p int32, n int, what string) {
	t.Helper()
	want := sp.ackedIn(p) + n
	testutil.WaitFor(t, 60*time.Second, what, func() (bool, string) {
		got := sp.ackedIn(p)
		return got >= want, fmt.Sprintf("%d of %d acknowledged", got, want)
	})
}

// finish stops producing and waits for every outstanding record's outcome.
// It returns the acknowledged sequence numbers and the highest
// acknowledged offset per partition.
func (sp *seqProducer) finish(t *testing.T) (acked [][]int, lastOff []int64) {
	t.Helper()
	sp.stop()
	sp.wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := sp.cl.Flush(ctx); err != nil {
		t.Fatalf("flush: %v", err)
	}
	sp.mu.Lock()
	defer sp.mu.Unlock()
	total := 0
	for _, a := range sp.acked {
		total += len(a)
	}
	t.Logf("%d records acknowledged, %d failed", total, sp.failed)
	return sp.acked, sp.lastOff
}

func seqClient(t *testing.T, c *testutil.NetCluster) *kgo.Client {
	return c.Client(t,
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.MaxBufferedRecords(2000),
		kgo.RecordDeliveryTimeout(2*time.Minute),
		kgo.ProducerLinger(time.Millisecond),
	)
}

// readPartitions reads every partition of topic from the start to its end
// offset with the given isolation level, seeded by the given nodes. It
// first waits until each partition's end offset (the high watermark, or
// the last stable offset) is past lastOff: a leader elected a moment ago
// learns the high watermark from its followers' first fetches.
func readPartitions(t *testing.T, seeds []string, topic string, parts int32, iso kgo.IsolationLevel, lastOff []int64) [][]string {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.RetryTimeout(30*time.Second), kgo.FetchIsolationLevel(iso))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	want := map[int32]int64{}
	testutil.WaitFor(t, 60*time.Second, "end offsets past every acknowledged record", func() (bool, string) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		var ends kadm.ListedOffsets
		var err error
		if iso == kgo.ReadCommitted() {
			ends, err = adm.ListCommittedOffsets(ctx, topic)
		} else {
			ends, err = adm.ListEndOffsets(ctx, topic)
		}
		if err != nil {
			return false, err.Error()
		}
		for p := int32(0); p < parts; p++ {
			o, _ := ends.Lookup(topic, p)
			if o.Err != nil {
				return false, fmt.Sprintf("end offset of partition %d: %v", p, o.Err)
			}
			if o.Offset <= lastOff[p] {
				return false, fmt.Sprintf("partition %d ends at %d, acknowledged up to %d", p, o.Offset, lastOff[p])
			}
			want[p] = o.Offset
		}
		return true, ""
	})
	offsets := map[int32]kgo.Offset{}
	for p := int32(0); p < parts; p++ {
		offsets[p] = kgo.NewOffset().AtStart()
	}
	cons, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.RetryTimeout(30*time.Second),
		kgo.FetchIsolationLevel(iso), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: offsets}))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	got := make([][]string, parts)
	next := map[int32]int64{}
	ctx := testutil.Context(t, 2*time.Minute)
	for {
		done := true
		for p := int32(0); p < parts; p++ {
			if next[p] < want[p] {
				done = false
			}
		}
		if done {
			return got
		}
		fs := cons.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed up to %v, want %v", next, want)
		}
		fs.EachRecord(func(r *kgo.Record) {
			got[r.Partition] = append(got[r.Partition], string(r.Value))
			next[r.Partition] = r.Offset + 1
		})
	}
}

// checkSeqLog checks what a partition holds against what was
// acknowledged: every acknowledged record exactly once, everything in
// increasing order, nothing but the producer's records.
func checkSeqLog(t *testing.T, what string, got [][]string, acked [][]int) {
	t.Helper()
	for p := range got {
		seen := map[int]bool{}
		prev := -1
		for _, v := range got[p] {
			s, err := strconv.Atoi(v)
			if err != nil {
				t.Errorf("%s: partition %d holds %q, which no acks=all producer wrote (an unacknowledged write that survived)", what, p, v)
				continue
			}
			if seen[s] {
				t.Errorf("%s: partition %d: record %d appears twice", what, p, s)
			}
			if s <= prev {
				t.Errorf("%s: partition %d: record %d after %d: out of order", what, p, s, prev)
			}
			seen[s], prev = true, s
		}
		missing := 0
		for _, s := range acked[p] {
			if !seen[s] {
				missing++
				if missing <= 5 {
					t.Errorf("%s: partition %d: acknowledged record %d is missing", what, p, s)
				}
			}
		}
		if missing > 0 {
			t.Errorf("%s: partition %d: %d acknowledged records missing", what, p, missing)
		}
		t.Logf("%s: partition %d: %d records, %d acknowledged", what, p, len(got[p]), len(acked[p]))
	}
}

// produceOn sends one Produce of values to partition p of node id itself
// (not to whichever broker a client would choose; on a connection of its
// own, as franz-go would rewrite acks) and returns the error code, or the
// error if no answer came.
func produceOn(t *testing.T, c *testutil.NetCluster, id int32, acks int16, topic string, p int32, values ...string) (int16, error) {
	req := produceRequest(rawProduceVersion, acks, topic, p, plainBatch(values...))
	req.TimeoutMillis = 3000
	rc := testutil.DialRaw(t, c.Node(id).Addr())
	defer rc.Close()
	kr, err := rc.RequestErr(req, 15*time.Second)
	if err != nil {
		return -1, err
	}
	resp := kr.(*kmsg.ProduceResponse)
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		return -1, fmt.Errorf("produce response shape: %+v", resp)
	}
	return resp.Topics[0].Partitions[0].ErrorCode, nil
}

// expectNoAck checks that node id, cut off from its followers, does not
// acknowledge an acks=all write.
func expectNoAck(t *testing.T, c *testutil.NetCluster, id int32, topic string, p int32, value string) {
	t.Helper()
	code, err := produceOn(t, c, id, -1, topic, p, value)
	switch {
	case err != nil:
		t.Logf("acks=all produce to cut-off node %d: %v (not acknowledged)", id, err)
	case code == 0:
		t.Errorf("cut-off node %d acknowledged an acks=all write (%s) it could not replicate", id, value)
	default:
		t.Logf("acks=all produce to cut-off node %d: %s (not acknowledged)", id, codeName(code))
	}
}

func netcutTopic(t *testing.T, c *testutil.NetCluster, parts int32) string {
	t.Helper()
	topic := topicName(t)
	minISR := "2"
	createClusterTopic(t, c.Admin(t), topic, parts, 3, map[string]*string{"min.insync.replicas": &minISR})
	for p := int32(0); p < parts; p++ {
		c.WaitPartition(topic, p, "a leader and a full ISR", func(p testutil.Partition) bool { return p.Leader > 0 && len(p.ISR) == 3 })
	}
	return topic
}

// The leader of a partition is cut off from the other two nodes while an
// idempotent acks=all producer keeps writing. The other two elect a new
// leader and production continues through it; the old leader, which
// clients can still reach, acknowledges no acks=all write while cut off.
// After the heal it follows the new leader, dropping what it appended
// alone, and every acknowledged record is there exactly once, in order.
func TestClusterNetcutLeader(t *testing.T) {
	c := testutil.StartNetCluster(t, 3)
	const parts = 3
	topic := netcutTopic(t, c, parts)
	sp := startSeqProducer(t, seqClient(t, c), topic, parts, 100000)
	sp.waitMore(t, 0, 200, "records acknowledged before the cut")

	before := c.WaitPartition(topic, 0, "a leader and a full ISR", func(p testutil.Partition) bool { return p.Leader > 0 && len(p.ISR) == 3 })
	old := before.Leader
	t.Logf("cutting off node %d, leader of partition 0 (epoch %d)", old, before.LeaderEpoch)
	c.Cut(old)

	// The zombie side: the old leader still takes writes from clients
	// that reach it, but never acknowledges one with acks=all. acks=1
	// writes are acknowledged (Kafka's semantics) and must be gone after
	// the heal.
	expectNoAck(t, c, old, topic, 0, "zombie-all-1")
	if code, err := produceOn(t, c, old, 1, topic, 0, "zombie-one-1"); err != nil || code != 0 {
		t.Logf("acks=1 produce to the cut-off leader: code %d, err %v", code, err)
	}

	after := c.WaitPartition(topic, 0, "a new leader among the connected nodes", func(p testutil.Partition) bool {
		return p.Leader > 0 && p.Leader != old && !slices.Contains(p.ISR, old)
	})
	if after.LeaderEpoch <= before.LeaderEpoch {
		t.Errorf("leader epoch %d did not grow from %d", after.LeaderEpoch, before.LeaderEpoch)
	}
	t.Logf("node %d leads partition 0 at epoch %d, ISR %v", after.Leader, after.LeaderEpoch, after.ISR)
	for _, id := range c.Connected() {
		c.WaitPartitionOn(id, topic, 0, "the new leader known to every connected node", func(p testutil.Partition) bool { return p.Leader == after.Leader })
	}
	sp.waitMore(t, 0, 200, "records acknowledged through the new leader")
	// Still a zombie: it has not heard of the new leader.
	expectNoAck(t, c, old, topic, 0, "zombie-all-2")
	if p, err := c.DescribeOn(old, topic, 0); err == nil {
		t.Logf("the cut-off node's view: %+v", p)
	}

	c.Heal(old)
	for p := int32(0); p < parts; p++ {
		c.WaitPartition(topic, p, "the old leader back in the ISR", func(p testutil.Partition) bool { return p.Leader > 0 && len(p.ISR) == 3 })
	}
	c.WaitPartitionOn(old, topic, 0, "the old leader following the new one", func(p testutil.Partition) bool { return p.Leader == after.Leader })
	sp.waitMore(t, 0, 100, "records acknowledged after the heal")
	acked, lastOff := sp.finish(t)

	if strings.Contains(c.Node(old).Logs(), "truncating diverged follower log") {
		t.Logf("node %d truncated its diverged log on rejoining", old)
	}
	checkSeqLog(t, "read_uncommitted", readPartitions(t, c.Addrs(), topic, parts, kgo.ReadUncommitted(), lastOff), acked)
	checkSeqLog(t, "read_committed", readPartitions(t, c.Addrs(), topic, parts, kgo.ReadCommitted(), lastOff), acked)

	// The old leader's own copy: it leads partition 0 again after a
	// preferred-leader election (it was the preferred replica), and what
	// it serves must be the same.
	if before.Replicas[0] != old {
		t.Logf("node %d is not partition 0's preferred replica: its copy is not read back", old)
		return
	}
	testutil.WaitFor(t, 60*time.Second, "a preferred-leader election of partition 0", func() (bool, string) {
		res, err := c.Admin(t).ElectLeaders(testutil.Context(t, 15*time.Second), kadm.ElectPreferredReplica, kadm.TopicsSet{topic: {0: {}}})
		if err != nil {
			return false, err.Error()
		}
		r := res[topic][0]
		return r.Err == nil || errors.Is(r.Err, kerr.ElectionNotNeeded), fmt.Sprintf("%v %s", r.Err, r.ErrMessage)
	})
	c.WaitPartition(topic, 0, "the old leader leading again", func(p testutil.Partition) bool { return p.Leader == old && len(p.ISR) == 3 })
	checkSeqLog(t, "read from the old leader", readPartitions(t, c.Addrs(), topic, parts, kgo.ReadUncommitted(), lastOff), acked)
}

// The active controller is cut off: the other two voters elect a new
// one, fence the cut node and take metadata changes; the cut node, which
// clients still reach, commits none. After the heal it follows the new
// controller and has every change.
func TestClusterNetcutController(t *testing.T) {
	c := testutil.StartNetCluster(t, 3)
	var active int32 = -1
	testutil.WaitFor(t, 30*time.Second, "an active controller", func() (bool, string) {
		id, err := c.ActiveControllerOn(1)
		active = id
		return err == nil && id > 0, fmt.Sprintf("%d %v", id, err)
	})
	t.Logf("cutting off node %d, the active controller", active)
	c.Cut(active)
	rest := c.Connected()

	var next int32 = -1
	testutil.WaitFor(t, 60*time.Second, "a new active controller on the connected side", func() (bool, string) {
		var ids []int32
		for _, id := range rest {
			l, err := c.ActiveControllerOn(id)
			if err != nil {
				return false, err.Error()
			}
			ids = append(ids, l)
		}
		next = ids[0]
		return next > 0 && next != active && slices.Equal(ids, []int32{next, next}), fmt.Sprintf("nodes %v see controllers %v", rest, ids)
	})
	t.Logf("node %d is the new active controller", next)
	c.WaitBrokers(2) // the cut node is fenced

	// The cut node cannot change metadata: it has no quorum. (A request
	// that timed out rather than failed may still complete after the
	// heal, as in Kafka: its outcome is unknown, so only the cut is
	// checked.)
	zombie := topicName(t) + "-zombie"
	if err := createTopicOn(c, active, zombie, 2); err == nil {
		t.Errorf("the cut-off node %d created topic %s without a quorum", active, zombie)
	} else {
		t.Logf("create on the cut-off node: %v", err)
	}

	// The majority can.
	topic := topicName(t)
	testutil.WaitFor(t, 60*time.Second, "a topic created on the connected side", func() (bool, string) {
		err := createTopicOn(c, rest[0], topic, 2) // two brokers are unfenced
		if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
			return false, err.Error()
		}
		return true, ""
	})
	c.WaitPartition(topic, 0, "the new topic's leader", func(p testutil.Partition) bool { return p.Leader > 0 })
	for _, id := range rest {
		if _, err := c.DescribeOn(id, zombie, 0); err == nil {
			t.Errorf("topic %s, created on the cut-off node, exists on node %d", zombie, id)
		}
	}

	c.Heal(active)
	testutil.WaitFor(t, 60*time.Second, "the old controller following the new one", func() (bool, string) {
		l, err := c.ActiveControllerOn(active)
		if err != nil {
			return false, err.Error()
		}
		return l > 0 && l != active, fmt.Sprintf("node %d sees controller %d", active, l)
	})
	c.WaitBrokers(3)
	c.WaitPartitionOn(active, topic, 0, "the new topic known to the old controller", func(p testutil.Partition) bool { return p.Leader > 0 })
	// Metadata changes go on through the healed node too.
	second := topicName(t)
	testutil.WaitFor(t, 60*time.Second, "a topic created through the healed node", func() (bool, string) {
		err := createTopicOn(c, active, second, 3)
		if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
			return false, err.Error()
		}
		return true, ""
	})
	for _, id := range []int32{1, 2, 3} {
		c.WaitPartitionOn(id, second, 0, "the second topic everywhere", func(p testutil.Partition) bool { return p.Leader > 0 })
	}
}

// createTopicOn sends CreateTopics (1 partition, replication factor rf)
// to node id itself.
func createTopicOn(c *testutil.NetCluster, id int32, topic string, rf int16) error {
	req := kmsg.NewPtrCreateTopicsRequest()
	req.TimeoutMillis = 5000
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = topic, 1, rf
	req.Topics = append(req.Topics, rt)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	kr, err := c.RequestOn(ctx, id, req)
	if err != nil {
		return err
	}
	resp := kr.(*kmsg.CreateTopicsResponse)
	if len(resp.Topics) != 1 {
		return fmt.Errorf("CreateTopics response shape: %+v", resp)
	}
	return kerr.ErrorForCode(resp.Topics[0].ErrorCode)
}

// TestClusterNetcutChaos is TestClusterChaos with network cuts: acks=all
// and idempotence while the leader of a partition is, in turn, cut off
// from its peers and healed, SIGKILLed and restarted, SIGSTOPped past its
// session and continued, or isolated from peers and clients alike and
// healed; then every acknowledged record must be present exactly once, in
// order. It runs for -chaos.duration / $QUILL_CHAOS_DURATION (20 s by
// default).
func TestClusterNetcutChaos(t *testing.T) {
	if testing.Short() {
		t.Skip("chaos test skipped in -short mode")
	}
	c := testutil.StartNetCluster(t, 3)
	const parts = 3
	topic := netcutTopic(t, c, parts)
	sp := startSeqProducer(t, seqClient(t, c), topic, parts, 1<<30)

	deadline := time.Now().Add(chaosTime())
	for round := 0; time.Now().Before(deadline); round++ {
		p := int32(round % parts)
		part := c.WaitPartition(topic, p, "a leader and a full ISR", func(p testutil.Partition) bool {
			return p.Leader > 0 && len(p.ISR) == 3
		})
		id := part.Leader
		b := c.Node(id)
		switch round % 4 {
		case 0:
			t.Logf("round %d: cut off leader %d of partition %d for 4s", round, id, p)
			c.Cut(id)
			time.Sleep(4 * time.Second)
			c.Heal(id)
		case 1:
			t.Logf("round %d: SIGKILL leader %d of partition %d", round, id, p)
			b.Kill()
			time.Sleep(time.Second)
			b.Start()
		case 2:
			t.Logf("round %d: SIGSTOP leader %d of partition %d for 3s", round, id, p)
			c.Pause(b)
			time.Sleep(3 * time.Second)
			c.Resume(b)
		case 3:
			t.Logf("round %d: isolate leader %d of partition %d (peers and clients) for 4s", round, id, p)
			c.Isolate(id)
			time.Sleep(4 * time.Second)
			c.Heal(id)
		}
		sp.waitMore(t, p, 50, "records acknowledged after the fault")
	}
	for p := int32(0); p < parts; p++ {
		c.WaitPartition(topic, p, "a leader and a full ISR", func(p testutil.Partition) bool { return p.Leader > 0 && len(p.ISR) == 3 })
	}
	acked, lastOff := sp.finish(t)
	checkSeqLog(t, "read_uncommitted", readPartitions(t, c.Addrs(), topic, parts, kgo.ReadUncommitted(), lastOff), acked)
}
