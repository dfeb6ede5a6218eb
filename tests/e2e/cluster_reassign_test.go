package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
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

// Partition reassignments (KIP-455) on 4 `quill server` processes: a move
// that adds one broker and removes another (the leader) while an idempotent
// acks=all producer keeps writing, a cancelled move, invalid requests, and
// a move finished by a new active controller after the old one is killed.
func TestClusterReassign(t *testing.T) {
	c := testutil.StartCluster(t, 4)
	t.Run("move", func(t *testing.T) { testReassignMove(t, c) })
	t.Run("cancel", func(t *testing.T) { testReassignCancel(t, c) })
	t.Run("errors", func(t *testing.T) { testReassignErrors(t, c) })
	t.Run("failover", func(t *testing.T) { testReassignFailover(t, c) })
}

// createAssigned creates a one-partition topic on the given replicas
// (CreateTopics with a manual assignment).
func createAssigned(t *testing.T, cl *kgo.Client, topic string, replicas []int32) {
	t.Helper()
	req := kmsg.NewPtrCreateTopicsRequest()
	req.TimeoutMillis = 30000
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = topic, -1, -1
	ra := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
	ra.Partition, ra.Replicas = 0, replicas
	rt.ReplicaAssignment = append(rt.ReplicaAssignment, ra)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctxT(t, 30*time.Second), cl)
	if err != nil {
		t.Fatal(err)
	}
	if err := kerr.ErrorForCode(resp.Topics[0].ErrorCode); err != nil {
		t.Fatalf("create %s on %v: %v", topic, replicas, err)
	}
}

// reassign sends one partition's reassignment (nil replicas: cancel) and
// returns its error.
func reassign(t *testing.T, adm *kadm.Client, topic string, replicas []int32) error {
	t.Helper()
	var req kadm.AlterPartitionAssignmentsReq
	req.Assign(topic, 0, replicas)
	resps, err := adm.AlterPartitionAssignments(ctxT(t, 30*time.Second), req)
	if err != nil {
		return err
	}
	r, ok := resps[topic][0]
	if !ok {
		return fmt.Errorf("no result for %s-0 in %v", topic, resps)
	}
	return r.Err
}

// inFlight lists topic-0's reassignment, nil if none.
func inFlight(adm *kadm.Client, topic string) (*kadm.ListPartitionReassignmentsResponse, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resps, err := adm.ListPartitionReassignments(ctx, kadm.TopicsSet{topic: {0: {}}})
	if err != nil {
		return nil, err
	}
	if r, ok := resps[topic][0]; ok {
		return &r, nil
	}
	return nil, nil
}

// reassignVia sends topic-0's reassignment (nil replicas: cancel) to
// broker via, so that no request goes to a paused broker, and returns
// the partition's error.
func reassignVia(t *testing.T, cl *kgo.Client, via int32, topic string, replicas []int32) error {
	t.Helper()
	req := kmsg.NewPtrAlterPartitionAssignmentsRequest()
	rt := kmsg.NewAlterPartitionAssignmentsRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewAlterPartitionAssignmentsRequestTopicPartition()
	rp.Partition, rp.Replicas = 0, replicas
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctxT(t, 30*time.Second), cl.Broker(int(via)))
	if err != nil {
		return err
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return err
	}
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		return fmt.Errorf("unexpected response %+v", resp.Topics)
	}
	return kerr.ErrorForCode(resp.Topics[0].Partitions[0].ErrorCode)
}

// inFlightVia lists topic-0's reassignment through broker via, nil if none.
func inFlightVia(cl *kgo.Client, via int32, topic string) (*kmsg.ListPartitionReassignmentsResponseTopicPartition, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req := kmsg.NewPtrListPartitionReassignmentsRequest()
	rt := kmsg.NewListPartitionReassignmentsRequestTopic()
	rt.Topic, rt.Partitions = topic, []int32{0}
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl.Broker(int(via)))
	if err != nil {
		return nil, err
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return nil, err
	}
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			if t.Topic == topic && p.Partition == 0 {
				return &p, nil
			}
		}
	}
	return nil, nil
}

// partitionDirs lists dir's entries for topic-0, including renamed
// "-delete" ones.
func partitionDirs(dir, topic string) []string {
	ents, _ := os.ReadDir(dir)
	var out []string
	for _, e := range ents {
		if n := e.Name(); n == topic+"-0" || strings.HasPrefix(n, topic+"-0.") {
			out = append(out, n)
		}
	}
	return out
}

func waitNoPartitionDir(t *testing.T, b *testutil.Broker, topic string) {
	t.Helper()
	testutil.WaitFor(t, 60*time.Second, fmt.Sprintf("%s-0 deleted from %s", topic, b.Dir()), func() (bool, string) {
		left := partitionDirs(b.Dir(), topic)
		return len(left) == 0, fmt.Sprint(left)
	})
}

// waitPartitionVia waits until cond holds for topic-0 in the Metadata that
// broker id answers.
func waitPartitionVia(t *testing.T, cl *kgo.Client, id int32, topic, what string, cond func(kmsg.MetadataResponseTopicPartition) bool) kmsg.MetadataResponseTopicPartition {
	t.Helper()
	var last kmsg.MetadataResponseTopicPartition
	testutil.WaitFor(t, 60*time.Second, what, func() (bool, string) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		req := kmsg.NewPtrMetadataRequest()
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(topic)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, cl.Broker(int(id)))
		if err != nil {
			return false, err.Error()
		}
		if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
			return false, fmt.Sprintf("%+v", resp.Topics)
		}
		last = resp.Topics[0].Partitions[0]
		return cond(last), fmt.Sprintf("replicas %v isr %v leader %d", last.Replicas, last.ISR, last.Leader)
	})
	return last
}

func testReassignMove(t *testing.T, c *testutil.Cluster) {
	start := time.Now()
	topic := topicName(t)
	admCl := c.Client(t)
	adm := kadm.NewClient(admCl)
	createAssigned(t, admCl, topic, []int32{1, 2})
	before := c.WaitPartition(topic, 0, "leader 1 and ISR [1 2]", func(p testutil.Partition) bool {
		return p.Leader == 1 && len(p.ISR) == 2
	})

	// An idempotent acks=all producer writes msg-00000, msg-00001, ...
	// in batches until told to stop (at most 60000 records, 3 minutes).
	prod := c.Client(t, kgo.RequiredAcks(kgo.AllISRAcks()), kgo.DefaultProduceTopic(topic),
		kgo.RecordDeliveryTimeout(60*time.Second), kgo.ProducerLinger(0))
	var (
		mu     sync.Mutex
		acked  int
		perr   error
		stop   = make(chan struct{})
		done   = make(chan struct{})
		ackedN = func() int { mu.Lock(); defer mu.Unlock(); return acked }
	)
	go func() {
		defer close(done)
		ctx := ctxT(t, 3*time.Minute)
		for next := 0; next < 60000; {
			select {
			case <-stop:
				return
			default:
			}
			var recs []*kgo.Record
			for i := next; i < next+20; i++ {
				recs = append(recs, &kgo.Record{Value: fmt.Appendf(nil, "msg-%05d", i)})
			}
			if err := prod.ProduceSync(ctx, recs...).FirstErr(); err != nil {
				mu.Lock()
				perr = fmt.Errorf("batch from %d: %w", next, err)
				mu.Unlock()
				return
			}
			next += len(recs)
			mu.Lock()
			acked = next
			mu.Unlock()
		}
	}()
	stopProducer := func() int {
		close(stop)
		<-done
		mu.Lock()
		defer mu.Unlock()
		if perr != nil {
			t.Errorf("produce failed: %v", perr)
		}
		return acked
	}
	testutil.WaitFor(t, 60*time.Second, "records acknowledged before the move", func() (bool, string) {
		n := ackedN()
		return n >= 400, fmt.Sprint(n, " acknowledged")
	})

	// [1 2] -> [3 2]: broker 3 joins, broker 1 (the leader) leaves.
	t.Logf("%v: %d acknowledged; moving", time.Since(start), ackedN())
	if err := reassign(t, adm, topic, []int32{3, 2}); err != nil {
		stopProducer()
		t.Fatalf("reassign: %v", err)
	}
	testutil.WaitFor(t, 90*time.Second, "no reassignment in flight", func() (bool, string) {
		r, err := inFlight(adm, topic)
		if err != nil {
			return false, err.Error()
		}
		return r == nil, fmt.Sprintf("%+v", r)
	})
	after := c.WaitPartition(topic, 0, "replicas and ISR [3 2]", func(p testutil.Partition) bool {
		return slices.Equal(p.Replicas, []int32{3, 2}) && slices.Equal(p.ISR, []int32{3, 2}) && p.Leader == 3
	})
	if after.LeaderEpoch <= before.LeaderEpoch {
		t.Errorf("leader epoch %d did not grow from %d", after.LeaderEpoch, before.LeaderEpoch)
	}
	// Writes continue on the new leader.
	moved := ackedN()
	t.Logf("%v: moved", time.Since(start))
	testutil.WaitFor(t, 60*time.Second, "records acknowledged after the move", func() (bool, string) {
		n := ackedN()
		select {
		case <-done: // failed, or at its bound
			return true, ""
		default:
		}
		return n >= moved+200, fmt.Sprint(n, " acknowledged")
	})
	n := stopProducer()
	t.Logf("%v: producer stopped", time.Since(start))
	if t.Failed() {
		return
	}
	t.Logf("%d records acknowledged, %d of them after the move", n, n-moved)
	if n == moved {
		t.Errorf("no record acknowledged after the move (the producer stopped at %d)", n)
	}

	waitNoPartitionDir(t, c.Node(1), topic)
	if len(partitionDirs(c.Node(3).Dir(), topic)) != 1 {
		t.Errorf("broker 3 has no %s-0 directory", topic)
	}

	// Every acknowledged record, once and in order, from the new replicas.
	got := consumeCluster(t, []string{c.Node(3).Addr(), c.Node(2).Addr()}, topic, n)
	checkSeq(t, got, n)
	t.Logf("%v: consumed", time.Since(start))
}

func testReassignCancel(t *testing.T, c *testutil.Cluster) {
	start := time.Now()
	topic := topicName(t)
	admCl := c.Client(t)
	// The moved-to broker x is paused so the move cannot finish; it must
	// not be the active controller (pausing that stalls every change).
	ctl := activeController(t, c)
	var ids []int32
	for id := int32(1); id <= 4; id++ {
		if id != ctl {
			ids = append(ids, id)
		}
	}
	a, b, x := ids[0], ids[1], ids[2]
	createAssigned(t, admCl, topic, []int32{a, b})
	c.WaitPartition(topic, 0, "full ISR", func(p testutil.Partition) bool { return len(p.ISR) == 2 })
	produceSeq(t, c.Client(t, kgo.DefaultProduceTopic(topic)), topic, 0, 100)

	// Pause x and start [a b] -> [a x] before x is fenced (2 s).
	pausedMove(t, c, admCl, a, topic, x, []int32{a, x})
	t.Logf("%v: move to [%d %d] started with broker %d paused", time.Since(start), a, x, x)
	resumed := false
	defer func() {
		if !resumed {
			c.Resume(c.Node(x))
		}
	}()
	r, err := inFlightVia(admCl, a, topic)
	if err != nil || r == nil {
		t.Fatalf("reassignment not listed: %+v %v", r, err)
	}
	if !slices.Equal(r.Replicas, []int32{a, x, b}) || !slices.Equal(r.AddingReplicas, []int32{x}) || !slices.Equal(r.RemovingReplicas, []int32{b}) {
		t.Fatalf("listed %+v, want replicas [%d %d %d] adding [%d] removing [%d]", r, a, x, b, x, b)
	}
	// Metadata from broker a (a request to the paused one would hang).
	p := waitPartitionVia(t, admCl, a, topic, "replicas of the move in flight", func(p kmsg.MetadataResponseTopicPartition) bool {
		return slices.Equal(p.Replicas, []int32{a, x, b})
	})
	if slices.Contains(p.ISR, x) {
		t.Fatalf("paused broker %d is in the ISR %v", x, p.ISR)
	}

	if err := reassignVia(t, admCl, a, topic, nil); err != nil {
		t.Fatalf("cancel: %v", err)
	}
	if r, err := inFlightVia(admCl, a, topic); err != nil || r != nil {
		t.Fatalf("after cancel: %+v %v", r, err)
	}
	waitPartitionVia(t, admCl, a, topic, "original replicas back", func(p kmsg.MetadataResponseTopicPartition) bool {
		return slices.Equal(p.Replicas, []int32{a, b}) && slices.Equal(p.ISR, []int32{a, b})
	})
	if err := reassignVia(t, admCl, a, topic, nil); !errors.Is(err, kerr.NoReassignmentInProgress) {
		t.Fatalf("second cancel: got %v, want NO_REASSIGNMENT_IN_PROGRESS", err)
	}

	// x catches up on the metadata: it opened the partition as an adding
	// replica, then drops it.
	c.Resume(c.Node(x))
	resumed = true
	t.Logf("%v: cancelled; broker %d resumed", time.Since(start), x)
	testutil.WaitFor(t, 60*time.Second, fmt.Sprintf("broker %d dropped its replica", x), func() (bool, string) {
		return hasLogLine(c.Node(x), "partition reassigned away", topic), "no such log line yet"
	})
	waitNoPartitionDir(t, c.Node(x), topic)
	t.Logf("%v: broker %d dropped its replica", time.Since(start), x)
	checkSeq(t, consumeCluster(t, []string{c.Node(a).Addr()}, topic, 100), 100)
	t.Logf("%v: consumed", time.Since(start))
}

func testReassignErrors(t *testing.T, c *testutil.Cluster) {
	topic := topicName(t)
	admCl := c.Client(t)
	adm := kadm.NewClient(admCl)
	createAssigned(t, admCl, topic, []int32{1, 2})
	for _, tc := range []struct {
		topic    string
		replicas []int32
		want     *kerr.Error
	}{
		{topic, []int32{1, 99}, kerr.InvalidReplicaAssignment},
		{topic, []int32{3, 3}, kerr.InvalidReplicaAssignment},
		{topic, []int32{}, kerr.InvalidReplicaAssignment},
		{topic + "-nope", []int32{1}, kerr.UnknownTopicOrPartition},
		{topic, nil, kerr.NoReassignmentInProgress},
	} {
		if err := reassign(t, adm, tc.topic, tc.replicas); !errors.Is(err, tc.want) {
			t.Errorf("%s %v: got %v, want %v", tc.topic, tc.replicas, err, tc.want)
		}
	}
	if r, err := inFlight(adm, topic); err != nil || r != nil {
		t.Fatalf("listed after refused requests: %+v %v", r, err)
	}

	// The CLI: a refused move exits 1 naming the error; the list is empty.
	bin := testutil.Binary(t)
	res := testutil.Run(t, 60*time.Second, nil, nil, bin, "topic", "reassign", topic, "--partition", "0", "--replicas", "1,99", "-b", c.Node(1).Addr())
	if res.Err == nil || !strings.Contains(res.Stderr, "INVALID_REPLICA_ASSIGNMENT") {
		t.Errorf("quill topic reassign to an unknown broker: %s", res)
	}
	res = testutil.Run(t, 60*time.Second, nil, nil, bin, "topic", "reassignments", "-o", "json", "-b", c.Node(1).Addr())
	if res.Err != nil || strings.TrimSpace(res.Stdout) != "[]" {
		t.Errorf("quill topic reassignments: %s", res)
	}
	res = testutil.Run(t, 60*time.Second, nil, nil, bin, "topic", "reassign", "--topic", topic, "--partition", "0", "--cancel", "-b", c.Node(1).Addr())
	if res.Err == nil || !strings.Contains(res.Stderr, "NO_REASSIGNMENT_IN_PROGRESS") {
		t.Errorf("quill topic reassign --cancel with no move: %s", res)
	}
	// A new order only takes effect at once.
	res = testutil.Run(t, 60*time.Second, nil, nil, bin, "topic", "reassign", topic, "-p", "0", "--replicas", "2,1", "-b", c.Node(1).Addr())
	if res.Err != nil || !strings.Contains(res.Stdout, "Reassigning") {
		t.Fatalf("quill topic reassign to 2,1: %s", res)
	}
	c.WaitPartition(topic, 0, "replicas [2 1]", func(p testutil.Partition) bool { return slices.Equal(p.Replicas, []int32{2, 1}) })
}

// pausedMove pauses broker x and starts moving topic-0 to target (which
// holds x) before the controller fences x; it retries when x was fenced
// first. x stays paused.
func pausedMove(t *testing.T, c *testutil.Cluster, cl *kgo.Client, via int32, topic string, x int32, target []int32) {
	t.Helper()
	for try := 0; ; try++ {
		c.Pause(c.Node(x))
		err := reassignVia(t, cl, via, topic, target)
		if err == nil {
			return
		}
		c.Resume(c.Node(x))
		if !errors.Is(err, kerr.InvalidReplicaAssignment) || try == 4 {
			t.Fatalf("reassign: %v", err)
		}
		t.Logf("try %d: broker %d was fenced before the move started; again", try, x)
		c.WaitBrokers(4)
	}
}

func testReassignFailover(t *testing.T, c *testutil.Cluster) {
	start := time.Now()
	topic := topicName(t)
	admCl := c.Client(t)
	ctl := activeController(t, c)
	var ids []int32
	for id := int32(1); id <= 4; id++ {
		if id != ctl {
			ids = append(ids, id)
		}
	}
	a, b, x := ids[0], ids[1], ids[2]
	createAssigned(t, admCl, topic, []int32{a, b})
	c.WaitPartition(topic, 0, "full ISR", func(p testutil.Partition) bool { return len(p.ISR) == 2 })
	produceSeq(t, c.Client(t, kgo.DefaultProduceTopic(topic)), topic, 0, 100)

	// [a b] -> [a x] with x paused, so the move waits; then the active
	// controller dies and x continues: the new controller completes it.
	pausedMove(t, c, admCl, a, topic, x, []int32{a, x})
	c.Node(ctl).Kill()
	c.Resume(c.Node(x))
	t.Logf("%v: move to [%d %d] started; controller %d killed; broker %d resumed", time.Since(start), a, x, ctl, x)
	defer func() {
		c.Node(ctl).Start()
		c.WaitBrokers(4)
	}()
	// Requests go to broker a: the killed node would only time out.
	testutil.WaitFor(t, 90*time.Second, "the move completed by the new controller", func() (bool, string) {
		r, err := inFlightVia(admCl, a, topic)
		if err != nil {
			return false, err.Error()
		}
		return r == nil, fmt.Sprintf("%+v", r)
	})
	waitPartitionVia(t, admCl, a, topic, "replicas and ISR [a x]", func(p kmsg.MetadataResponseTopicPartition) bool {
		return slices.Equal(p.Replicas, []int32{a, x}) && slices.Equal(p.ISR, []int32{a, x}) && p.Leader == a
	})
	t.Logf("%v: completed", time.Since(start))
	// The killed controller did not finish it: another node logged the
	// completion.
	if hasLogLine(c.Node(ctl), "reassignment completed", topic) {
		t.Fatalf("the killed controller %d completed the move", ctl)
	}
	found := false
	for _, id := range []int32{a, b, x} {
		found = found || hasLogLine(c.Node(id), "reassignment completed", topic)
	}
	if !found {
		t.Fatalf("no node logged the completion")
	}
	waitNoPartitionDir(t, c.Node(b), topic)
	checkSeq(t, consumeCluster(t, []string{c.Node(x).Addr()}, topic, 100), 100)
	t.Logf("%v: consumed", time.Since(start))
}

// hasLogLine says whether a line of b's output holds every one of subs.
func hasLogLine(b *testutil.Broker, subs ...string) bool {
	for _, line := range strings.Split(b.Logs(), "\n") {
		ok := true
		for _, s := range subs {
			ok = ok && strings.Contains(line, s)
		}
		if ok {
			return true
		}
	}
	return false
}
