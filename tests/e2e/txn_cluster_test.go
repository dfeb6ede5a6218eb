package e2e

import (
	"bufio"
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
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

	"github.com/quillstream/quill/internal/group"
	"github.com/quillstream/quill/internal/record"
	"github.com/quillstream/quill/internal/testutil"
	"github.com/quillstream/quill/internal/txn"
)

// Exactly-once on a 3-node cluster: transaction coordinators, group
// coordinators and partition leaders on different brokers, killed with
// SIGKILL and restarted while transactions run. Every test polls with
// deadlines; none asserts on timing.

// txnClusterOverrides shorten the coordinator's loops.
var txnClusterOverrides = map[string]string{
	"transaction.abort.timed.out.transaction.cleanup.interval.ms": "500",
	"group.initial.rebalance.delay.ms":                            "0",
}

// leaderOf returns the current leader of a partition (polling until there
// is one).
func leaderOf(t *testing.T, c *testutil.Cluster, topic string, partition int32) int32 {
	t.Helper()
	return c.WaitPartition(topic, partition, fmt.Sprintf("%s-%d has a leader", topic, partition),
		func(p testutil.Partition) bool { return p.Leader > 0 }).Leader
}

// txnCoordinator is the broker coordinating txnID (the leader of its
// __transaction_state partition; testutil.StartCluster makes 5).
func txnCoordinator(t *testing.T, c *testutil.Cluster, txnID string) int32 {
	return leaderOf(t, c, "__transaction_state", txn.PartitionFor(txnID, 5))
}

// groupCoordinator is the broker coordinating a group.
func groupCoordinator(t *testing.T, c *testutil.Cluster, groupID string) int32 {
	return leaderOf(t, c, "__consumer_offsets", group.PartitionFor(groupID, 5))
}

// waitFullISR waits until every partition of topics has a leader and all
// three replicas in sync.
func waitFullISR(t *testing.T, c *testutil.Cluster, topics ...string) {
	t.Helper()
	testutil.WaitFor(t, 90*time.Second, "every partition fully in sync", func() (bool, string) {
		cl, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...), kgo.RetryTimeout(3*time.Second))
		if err != nil {
			return false, err.Error()
		}
		defer cl.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		m, err := kadm.NewClient(cl).Metadata(ctx, topics...)
		if err != nil {
			return false, err.Error()
		}
		for _, topic := range topics {
			td, ok := m.Topics[topic]
			if !ok || td.Err != nil || len(td.Partitions) == 0 {
				return false, fmt.Sprintf("%s: %v", topic, td.Err)
			}
			for _, p := range td.Partitions {
				if p.Leader <= 0 || len(p.ISR) != 3 {
					return false, fmt.Sprintf("%s-%d: leader %d, ISR %v", topic, p.Partition, p.Leader, p.ISR)
				}
			}
		}
		return true, ""
	})
}

// bounce kills node id with SIGKILL and starts it again.
func bounce(t *testing.T, c *testutil.Cluster, id int32) {
	t.Helper()
	c.Node(id).Kill()
	c.Node(id).Start()
}

// readCommittedCluster consumes topic from the start with read_committed
// until want records arrived (bounded), then a little longer to catch
// records beyond want.
func readCommittedCluster(t *testing.T, c *testutil.Cluster, topic string, want int, timeout time.Duration, dump func()) []*kgo.Record {
	t.Helper()
	cl := c.Client(t,
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.FetchMaxWait(300*time.Millisecond),
	)
	var out []*kgo.Record
	ctx := ctxT(t, timeout)
	for len(out) < want {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			if dump != nil {
				dump()
			}
			t.Fatalf("read_committed %s: %d of %d records before the timeout", topic, len(out), want)
		}
		out = append(out, fs.Records()...)
	}
	extra := ctxT(t, 2*time.Second)
	for extra.Err() == nil {
		out = append(out, cl.PollFetches(extra).Records()...)
	}
	return out
}

// dumpTxnState logs the LSO and high watermark of the topics' partitions,
// their producers, and the transactions, for a failure's diagnosis.
func dumpTxnState(t *testing.T, c *testutil.Cluster, topics ...string) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...), kgo.RetryTimeout(5*time.Second))
	if err != nil {
		t.Logf("dump: %v", err)
		return
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	stable, _ := testutil.ListCommittedOffsets(ctx, adm, topics...)
	end, _ := testutil.ListEndOffsets(ctx, adm, topics...)
	for _, topic := range topics {
		for p := int32(0); ; p++ {
			s, ok := stable.Lookup(topic, p)
			if !ok {
				break
			}
			e, _ := end.Lookup(topic, p)
			t.Logf("%s-%d: LSO %d (%v), HW %d (%v)", topic, p, s.Offset, s.Err, e.Offset, e.Err)
		}
	}
	set := kadm.TopicsSet{}
	for _, topic := range topics {
		for p := int32(0); p < 4; p++ {
			set.Add(topic, p)
		}
	}
	if dp, err := adm.DescribeProducers(ctx, set); err == nil {
		dp.EachPartition(func(p kadm.DescribedProducersPartition) {
			for _, ap := range p.ActiveProducers {
				if ap.CurrentTxnStartOffset >= 0 {
					t.Logf("%s-%d: producer %d epoch %d has a transaction open at %d", p.Topic, p.Partition, ap.ProducerID, ap.ProducerEpoch, ap.CurrentTxnStartOffset)
				}
			}
		})
	}
	if lt, err := adm.ListTransactions(ctx, nil, nil); err == nil {
		d, _ := adm.DescribeTransactions(ctx, lt.TransactionalIDs()...)
		for id, dt := range d {
			t.Logf("transaction %s: %s pid %d epoch %d partitions %v (%v)", id, dt.State, dt.ProducerID, dt.ProducerEpoch, dt.Topics, dt.Err)
		}
	}
}

// checkExactlyOnce asserts that values 0..n-1 each appear once in got.
func checkExactlyOnce(t *testing.T, topic string, got []*kgo.Record, n int, dump func()) {
	t.Helper()
	seen := map[string]int{}
	for _, r := range got {
		seen[string(r.Value)]++
	}
	var dups, missing []string
	for i := range n {
		v := strconv.Itoa(i)
		switch seen[v] {
		case 0:
			missing = append(missing, v)
		case 1:
		default:
			dups = append(dups, v)
		}
	}
	if len(dups) > 0 || len(missing) > 0 || len(got) != n {
		dump()
		t.Fatalf("%s: exactly once violated: %d records read, %d duplicated (e.g. %v), %d missing (e.g. %v)",
			topic, len(got), len(dups), head(dups), len(missing), head(missing))
	}
}

// TestTxnClusterFailover: a two-stage chain of franz-go
// GroupTransactSession workers (own processes) copies in -> mid -> out on
// a 3-node cluster (replication factor 3) while, one at a time, the leader
// of an input partition, of an output partition, the transaction
// coordinator of a worker (leader of its __transaction_state partition)
// and the group coordinator of a stage (leader of its __consumer_offsets
// partition) are killed with SIGKILL and restarted, and workers are killed
// and restarted. Every input record must appear exactly once in mid and
// out for read_committed consumers.
func TestTxnClusterFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster failover test skipped in -short mode")
	}
	c := testutil.StartCluster(t, 3, testutil.WithOverrides(txnClusterOverrides))
	adm := c.Admin(t)
	base := topicName(t)
	in, mid, out := base+"-in", base+"-mid", base+"-out"
	createClusterTopic(t, adm, in, 3, 3, nil)
	createClusterTopic(t, adm, mid, 3, 3, nil)
	createClusterTopic(t, adm, out, 2, 3, nil)
	waitFullISR(t, c, in, mid, out, "__transaction_state", "__consumer_offsets")
	const n = 3000
	prod := c.Client(t, kgo.DefaultProduceTopic(in), kgo.RequiredAcks(kgo.AllISRAcks()))
	var recs []*kgo.Record
	for i := range n {
		recs = append(recs, &kgo.Record{Key: []byte(strconv.Itoa(i % 97)), Value: []byte(strconv.Itoa(i))})
	}
	produceSync(t, prod, recs...)

	type stage struct{ group, from, to string }
	stages := map[string]stage{"a": {base + "-ga", in, mid}, "b": {base + "-gb", mid, out}}
	slots := []string{"a0", "b0", "a1", "b1"}
	seeds := strings.Join(c.Addrs(), ",")
	workers := map[string]*worker{}
	var all []*worker
	start := func(slot string) {
		st := stages[slot[:1]]
		// Small, slow transactions: the faults below land mid-stream.
		w := startWorker(t, "transform", seeds, st.group, st.from, st.to, st.group+"-"+slot, "50ms", "10")
		workers[slot] = w
		all = append(all, w)
	}
	for _, s := range slots {
		start(s)
	}
	progress := func() int { // records committed by the last stage
		sum := 0
		for _, w := range all {
			if slices.Contains(w.cmd.Args, out) {
				sum += w.committed()
			}
		}
		return sum
	}
	dump := func() {
		for i, w := range all {
			t.Logf("worker %d (%s): committed %d\nstderr:\n%s", i, strings.Join(w.cmd.Args[2:], " "), w.committed(), w.stderr())
		}
		dumpTxnState(t, c, in, mid, out)
	}
	// One fault per step, each at a higher progress mark.
	faults := []struct {
		what string
		node func() int32 // the broker to kill; nil: worker slot what
	}{
		{"leader of " + in + "-0", func() int32 { return leaderOf(t, c, in, 0) }},
		{"transaction coordinator of worker a0", func() int32 { return txnCoordinator(t, c, stages["a"].group+"-a0") }},
		{"b0", nil},
		{"group coordinator of stage b", func() int32 { return groupCoordinator(t, c, stages["b"].group) }},
		{"leader of " + out + "-0", func() int32 { return leaderOf(t, c, out, 0) }},
		{"transaction coordinator of worker b1", func() int32 { return txnCoordinator(t, c, stages["b"].group+"-b1") }},
		{"a1", nil},
	}
	for i, f := range faults {
		at := (i + 1) * n / (len(faults) + 2)
		testutil.WaitFor(t, 90*time.Second, fmt.Sprintf("progress past %d records", at), func() (bool, string) {
			p := progress()
			return p >= at, fmt.Sprintf("%d committed", p)
		})
		if f.node == nil {
			slot := f.what
			workers[slot].kill()
			t.Logf("step %d: killed worker %s at %d records through the chain", i, slot, progress())
			start(slot)
			continue
		}
		id := f.node()
		t.Logf("step %d: killing broker %d (%s) at %d records through the chain", i, id, f.what, progress())
		bounce(t, c, id)
		waitFullISR(t, c, in, mid, out, "__transaction_state", "__consumer_offsets")
	}
	for _, topic := range []string{out, mid} {
		checkExactlyOnce(t, topic, readCommittedCluster(t, c, topic, n, 120*time.Second, dump), n, dump)
	}
}

// TestTxnClusterConfluentPython: librdkafka's transactional producer on a
// 3-node cluster commits and aborts transactions over partitions led by
// different brokers while the transaction coordinator's broker is killed
// between transactions (and restarted a transaction later); read_committed
// sees exactly the committed records (py/confluent_txn_cluster.py).
func TestTxnClusterConfluentPython(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test skipped in -short mode")
	}
	testutil.RequirePython(t, "confluent_kafka")
	c := testutil.StartCluster(t, 3, testutil.WithOverrides(txnClusterOverrides))
	prefix := topicName(t)
	txnID := prefix + "-tx"
	root, err := testutil.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxT(t, 150*time.Second)
	cmd := exec.CommandContext(ctx, testutil.SystemPython, filepath.Join(root, "tests", "e2e", "py", "confluent_txn_cluster.py"),
		strings.Join(c.Addrs(), ","), prefix)
	cmd.Env = append(cmd.Environ(), "PYTHONUNBUFFERED=1", "PYTHONDONTWRITEBYTECODE=1")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	var mu sync.Mutex
	cmd.Stderr = &lockedStringWriter{b: &stderr, mu: &mu}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	var down int32 // a killed broker to start again
	var lines []string
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		line := sc.Text()
		lines = append(lines, line)
		round, ok := strings.CutPrefix(line, "ROUND ")
		if !ok {
			continue
		}
		if down > 0 {
			t.Logf("after round %s: starting broker %d again", round, down)
			c.Node(down).Start()
			waitFullISR(t, c, prefix+"-out", "__transaction_state")
			down = 0
		} else {
			down = txnCoordinator(t, c, txnID)
			t.Logf("after round %s: killing broker %d, the transaction coordinator", round, down)
			c.Node(down).Kill()
		}
		if _, err := fmt.Fprintln(stdin, "go"); err != nil {
			t.Fatalf("python stdin: %v", err)
		}
	}
	err = cmd.Wait()
	mu.Lock()
	defer mu.Unlock()
	if err != nil || len(lines) == 0 || lines[len(lines)-1] != "OK" {
		t.Fatalf("confluent_txn_cluster.py: %v\nstdout:\n%s\nstderr:\n%s", err, strings.Join(lines, "\n"), stderr.String())
	}
	t.Logf("%s", strings.Join(lines, "\n"))
}

type lockedStringWriter struct {
	b  *strings.Builder
	mu *sync.Mutex
}

func (l *lockedStringWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// TestTxnClusterTimeoutAbort: a producer killed inside a transaction over
// partitions led by all three brokers holds their last stable offsets
// back; its coordinator's broker is then killed too, so the transaction
// coordinator that takes over loads the open transaction, aborts it on its
// timeout and sends the markers to the partition leaders on the other
// brokers: the LSO of every partition moves to its high watermark and
// read_committed consumers see none of it.
func TestTxnClusterTimeoutAbort(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test skipped in -short mode")
	}
	c := testutil.StartCluster(t, 3, testutil.WithOverrides(txnClusterOverrides))
	adm := c.Admin(t)
	topic := topicName(t)
	const parts = 3
	createClusterTopic(t, adm, topic, parts, 3, nil)
	waitFullISR(t, c, topic, "__transaction_state")
	cl := c.Client(t, kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	for p := range int32(parts) {
		produceSync(t, cl, &kgo.Record{Partition: p, Value: []byte("before")})
	}
	txnID := topic + "-txn"
	w := startWorker(t, "hang", strings.Join(c.Addrs(), ","), topic, txnID, "6", "15s", strconv.Itoa(parts))
	testutil.WaitFor(t, 60*time.Second, "transaction open", func() (bool, string) {
		return strings.Contains(w.stdout(), "open"), w.stderr()
	})
	w.kill()
	leaders := map[int32]bool{}
	for p := range int32(parts) {
		leaders[leaderOf(t, c, topic, p)] = true
	}
	coord := txnCoordinator(t, c, txnID)
	t.Logf("partition leaders %v, transaction coordinator %d; killing it", leaders, coord)
	c.Node(coord).Kill()
	testutil.WaitFor(t, 90*time.Second, "the timed-out transaction aborted on every partition", func() (bool, string) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		seeds := []string{}
		for _, b := range c.Brokers {
			if b.Running() {
				seeds = append(seeds, b.Addr())
			}
		}
		lcl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.RetryTimeout(3*time.Second))
		if err != nil {
			return false, err.Error()
		}
		defer lcl.Close()
		ladm := kadm.NewClient(lcl)
		stable, err := ladm.ListCommittedOffsets(ctx, topic)
		if err == nil {
			err = stable.Error()
		}
		if err != nil {
			return false, err.Error()
		}
		end, err := ladm.ListEndOffsets(ctx, topic)
		if err == nil {
			err = end.Error()
		}
		if err != nil {
			return false, err.Error()
		}
		var state []string
		ok := true
		for p := range int32(parts) {
			s, _ := stable.Lookup(topic, p)
			e, _ := end.Lookup(topic, p)
			// before(1) + 2 hung records + the abort marker.
			ok = ok && s.Offset == e.Offset && e.Offset == 4
			state = append(state, fmt.Sprintf("p%d LSO %d HW %d", p, s.Offset, e.Offset))
		}
		return ok, strings.Join(state, ", ")
	})
	c.Node(coord).Start()
	got := readCommittedCluster(t, c, topic, parts, 60*time.Second, func() { dumpTxnState(t, c, topic) })
	for _, r := range got {
		if string(r.Value) != "before" {
			t.Fatalf("read_committed returned %q of the aborted transaction", r.Value)
		}
	}
	if len(got) != parts {
		t.Fatalf("read_committed got %d records, want %d", len(got), parts)
	}
	d, err := adm.DescribeTransactions(ctxT(t, 20*time.Second), txnID)
	if err != nil {
		t.Fatal(err)
	}
	if dt := d[txnID]; dt.State != "CompleteAbort" || dt.ProducerEpoch != 1 {
		t.Fatalf("after timeout: %+v (want CompleteAbort, epoch bumped to 1)", dt)
	}
}

// TestTxnClusterVerification: KIP-890 part 1 across brokers. A partition
// leader that is not the producer's transaction coordinator asks the
// coordinator's broker (AddPartitionsToTxn v4, VerifyOnly) before the
// producer's first transactional batch: a partition not added to the
// transaction is refused (TRANSACTION_ABORTABLE for Produce v11,
// INVALID_TXN_STATE before), one added is accepted, the commit's marker
// reaches the remote leader (the LSO moves to the high watermark), and a
// late batch of the ended transaction is refused again.
func TestTxnClusterVerification(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test skipped in -short mode")
	}
	c := testutil.StartCluster(t, 3, testutil.WithOverrides(txnClusterOverrides))
	topic := topicName(t)
	createClusterTopic(t, c.Admin(t), topic, 3, 3, nil)
	waitFullISR(t, c, topic, "__transaction_state")
	txnID := topic + "-txn"
	coord := txnCoordinator(t, c, txnID)
	part := int32(-1)
	var leader int32
	for p := range int32(3) {
		if l := leaderOf(t, c, topic, p); l != coord {
			part, leader = p, l
			break
		}
	}
	if part < 0 {
		t.Fatalf("every partition of %s is led by the coordinator %d", topic, coord)
	}
	t.Logf("coordinator %d, %s-%d led by %d", coord, topic, part, leader)
	cc := testutil.DialRaw(t, c.Node(coord).Addr())
	lc := testutil.DialRaw(t, c.Node(leader).Addr())

	var ipr *kmsg.InitProducerIDResponse
	testutil.WaitFor(t, 30*time.Second, "InitProducerId", func() (bool, string) {
		ip := kmsg.NewPtrInitProducerIDRequest()
		ip.SetVersion(4)
		ip.TransactionalID, ip.TransactionTimeoutMillis = &txnID, 60000
		ip.ProducerID, ip.ProducerEpoch = -1, -1
		ipr = cc.Request(ip).(*kmsg.InitProducerIDResponse)
		return ipr.ErrorCode == 0, fmt.Sprint(kerr.ErrorForCode(ipr.ErrorCode))
	})
	pid, epoch := ipr.ProducerID, ipr.ProducerEpoch
	produce := func(version int16, seq int32) int16 {
		t.Helper()
		batch, err := record.Build(record.BatchSpec{
			Attributes: record.AttrTransactional, BaseTimestamp: time.Now().UnixMilli(),
			ProducerID: pid, ProducerEpoch: epoch, BaseSequence: seq,
		}, []record.Record{{Value: []byte("x")}})
		if err != nil {
			t.Fatal(err)
		}
		req := kmsg.NewPtrProduceRequest()
		req.SetVersion(version)
		req.TransactionID, req.Acks, req.TimeoutMillis = &txnID, -1, 10000
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic = topic
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Partition, rp.Records = part, batch
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		return lc.Request(req).(*kmsg.ProduceResponse).Topics[0].Partitions[0].ErrorCode
	}
	// want polls past the retriable NOT_ENOUGH_REPLICAS (coordinator busy).
	want := func(what string, version int16, seq int32, code int16) {
		t.Helper()
		testutil.WaitFor(t, 30*time.Second, what, func() (bool, string) {
			got := produce(version, seq)
			return got == code, fmt.Sprintf("got %v", kerr.ErrorForCode(got))
		})
	}
	want("Produce v11 outside the transaction refused", 11, 0, kerr.TransactionAbortable.Code)
	want("Produce v9 outside the transaction refused", 9, 0, kerr.InvalidTxnState.Code)

	ap := kmsg.NewPtrAddPartitionsToTxnRequest()
	ap.SetVersion(3)
	ap.TransactionalID, ap.ProducerID, ap.ProducerEpoch = txnID, pid, epoch
	apt := kmsg.NewAddPartitionsToTxnRequestTopic()
	apt.Topic, apt.Partitions = topic, []int32{part}
	ap.Topics = append(ap.Topics, apt)
	if code := cc.Request(ap).(*kmsg.AddPartitionsToTxnResponse).Topics[0].Partitions[0].ErrorCode; code != 0 {
		t.Fatalf("AddPartitionsToTxn: %v", kerr.ErrorForCode(code))
	}
	want("Produce in the transaction accepted", 11, 0, 0)

	end := kmsg.NewPtrEndTxnRequest()
	end.SetVersion(3)
	end.TransactionalID, end.ProducerID, end.ProducerEpoch, end.Commit = txnID, pid, epoch, true
	if code := cc.Request(end).(*kmsg.EndTxnResponse).ErrorCode; code != 0 {
		t.Fatalf("EndTxn: %v", kerr.ErrorForCode(code))
	}
	adm := c.Admin(t)
	testutil.WaitFor(t, 30*time.Second, "the commit marker on the remote leader", func() (bool, string) {
		stable, hw := lso(t, adm, topic, part)
		return stable == hw && hw == 2, fmt.Sprintf("LSO %d, HW %d", stable, hw)
	})
	want("a late batch of the ended transaction refused", 11, 1, kerr.TransactionAbortable.Code)
}
