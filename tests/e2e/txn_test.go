package e2e

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/quillstream/quill/internal/testutil"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Exactly-once tests: real transactional clients (franz-go in helper
// processes that are killed with SIGKILL, confluent-kafka-python), checked
// through read_committed consumers, ListOffsets and the admin APIs.

var (
	workerOnce sync.Once
	workerBin  string
	workerErr  error
)

// eosWorker builds tests/e2e/eosworker once per test process.
func eosWorker(t *testing.T) string {
	t.Helper()
	workerOnce.Do(func() {
		root, err := testutil.RepoRoot()
		if err != nil {
			workerErr = err
			return
		}
		dir, err := os.MkdirTemp("", "quill-eosworker-")
		if err != nil {
			workerErr = err
			return
		}
		workerBin = filepath.Join(dir, "eosworker")
		cmd := exec.Command("go", "build", "-o", workerBin, "./tests/e2e/eosworker")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			workerErr = fmt.Errorf("go build eosworker: %v\n%s", err, out)
		}
	})
	if workerErr != nil {
		t.Fatal(workerErr)
	}
	return workerBin
}

// worker is a running eosworker process.
type worker struct {
	cmd *exec.Cmd
	mu  sync.Mutex
	out bytes.Buffer // stdout lines
	err bytes.Buffer
}

func startWorker(t *testing.T, args ...string) *worker {
	t.Helper()
	w := &worker{cmd: exec.Command(eosWorker(t), args...)}
	stdout, err := w.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	w.cmd.Stderr = &lockedWriter{w: &w.err, mu: &w.mu}
	if err := w.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			w.mu.Lock()
			w.out.WriteString(sc.Text() + "\n")
			w.mu.Unlock()
		}
	}()
	t.Cleanup(func() { w.kill() })
	return w
}

type lockedWriter struct {
	w  *bytes.Buffer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

// kill sends SIGKILL and reaps the process.
func (w *worker) kill() {
	if w.cmd.ProcessState != nil {
		return
	}
	w.cmd.Process.Signal(syscall.SIGKILL)
	w.cmd.Wait()
}

func (w *worker) stdout() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.out.String()
}

func (w *worker) stderr() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err.String()
}

// committed sums the "committed N" lines.
func (w *worker) committed() int {
	n := 0
	for _, line := range strings.Split(w.stdout(), "\n") {
		if v, ok := strings.CutPrefix(line, "committed "); ok {
			k, _ := strconv.Atoi(v)
			n += k
		}
	}
	return n
}

// readCommitted consumes topic from the start with read_committed until
// want records arrived (bounded), then polls a little longer to catch
// records beyond want.
func readCommitted(t *testing.T, b *testutil.Broker, topic string, want int, timeout time.Duration) []*kgo.Record {
	t.Helper()
	return readIsolated(t, b, topic, want, timeout, kgo.ReadCommitted())
}

func readIsolated(t *testing.T, b *testutil.Broker, topic string, want int, timeout time.Duration, iso kgo.IsolationLevel) []*kgo.Record {
	t.Helper()
	cl := b.Client(t,
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(iso),
		kgo.FetchMaxWait(300*time.Millisecond),
	)
	var out []*kgo.Record
	ctx := ctxT(t, timeout)
	for len(out) < want {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read_committed %s: %d of %d records before the timeout", topic, len(out), want)
		}
		fs.EachError(func(tp string, p int32, err error) { t.Fatalf("fetch %s[%d]: %v", tp, p, err) })
		out = append(out, fs.Records()...)
	}
	extra := ctxT(t, 1500*time.Millisecond)
	for extra.Err() == nil {
		out = append(out, cl.PollFetches(extra).Records()...)
	}
	return out
}

// lso returns the read_committed end offset (the last stable offset) and
// the read_uncommitted one (the high watermark) of a partition.
func lso(t *testing.T, adm *kadm.Client, topic string, partition int32) (int64, int64) {
	t.Helper()
	c, err := adm.ListCommittedOffsets(ctxT(t, 10*time.Second), topic)
	if err == nil {
		err = c.Error()
	}
	if err != nil {
		t.Fatalf("list committed offsets: %v", err)
	}
	e, err := adm.ListEndOffsets(ctxT(t, 10*time.Second), topic)
	if err == nil {
		err = e.Error()
	}
	if err != nil {
		t.Fatalf("list end offsets: %v", err)
	}
	lc, _ := c.Lookup(topic, partition)
	le, _ := e.Lookup(topic, partition)
	return lc.Offset, le.Offset
}

// TestTxnConsumeTransformProduceKilled: a two-stage chain of franz-go
// GroupTransactSession workers, in their own processes, copies an input
// topic to a middle topic and the middle topic to an output topic, while
// members of both stages are killed with SIGKILL and restarted (with the
// same transactional ids) mid-stream: some at once (their InitProducerId
// fences and aborts the open transaction), some later (the transaction
// timeout aborts it, the group moves their partitions). Every input record
// must appear exactly once in the middle and the output topics for
// read_committed consumers; the second stage reads the first with
// read_committed, so aborted records must not leak through it either.
func TestTxnConsumeTransformProduceKilled(t *testing.T) {
	t.Parallel()
	b := testutil.StartBroker(t, testutil.WithOverrides(map[string]string{
		"transaction.abort.timed.out.transaction.cleanup.interval.ms": "500",
		"group.initial.rebalance.delay.ms":                            "0",
	}))
	adm := b.Admin(t)
	base := topicName(t)
	in, mid, out := base+"-in", base+"-mid", base+"-out"
	createTopic(t, adm, in, 4, nil)
	createTopic(t, adm, mid, 3, nil)
	createTopic(t, adm, out, 2, nil)
	const n = 6000
	prod := b.Client(t, kgo.DefaultProduceTopic(in))
	var recs []*kgo.Record
	for i := range n {
		recs = append(recs, &kgo.Record{Key: []byte(strconv.Itoa(i % 97)), Value: []byte(strconv.Itoa(i))})
	}
	produceSync(t, prod, recs...)

	type stage struct{ group, from, to string }
	stages := map[string]stage{"a": {base + "-ga", in, mid}, "b": {base + "-gb", mid, out}}
	slots := []string{"a0", "b0", "a1", "b1"}
	workers := map[string]*worker{}
	var all []*worker
	start := func(slot string) {
		st := stages[slot[:1]]
		w := startWorker(t, "transform", b.Addr(), st.group, st.from, st.to, st.group+"-"+slot, "30ms")
		workers[slot] = w
		all = append(all, w)
	}
	for _, s := range slots {
		start(s)
	}
	progress := func() int { // records committed by the last stage
		sum := 0
		for _, w := range all {
			if strings.Contains(strings.Join(w.cmd.Args, " "), " "+out+" ") {
				sum += w.committed()
			}
		}
		return sum
	}
	var later []string
	for round, at := range []int{n / 10, n / 4, 2 * n / 5, n / 2, 3 * n / 5, 7 * n / 10} {
		testutil.WaitFor(t, 90*time.Second, fmt.Sprintf("progress past %d records", at), func() (bool, string) {
			p := progress()
			return p >= at, fmt.Sprintf("%d committed", p)
		})
		for _, s := range later {
			start(s)
		}
		later = nil
		slot := slots[round%len(slots)]
		workers[slot].kill()
		t.Logf("killed %s at %d records through the chain", slot, progress())
		if round%3 != 1 {
			start(slot)
		} else {
			later = append(later, slot)
		}
	}
	for _, s := range later {
		start(s)
	}
	for _, topic := range []string{out, mid} {
		got := readCommitted(t, b, topic, n, 120*time.Second)
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
			for i, w := range all {
				t.Logf("worker %d (%s): committed %d\nstderr:\n%s", i, strings.Join(w.cmd.Args[2:], " "), w.committed(), w.stderr())
			}
			t.Fatalf("%s: exactly once violated: %d records read, %d duplicated (e.g. %v), %d missing (e.g. %v)",
				topic, len(got), len(dups), head(dups), len(missing), head(missing))
		}
	}
}

func head(s []string) []string {
	if len(s) > 5 {
		return s[:5]
	}
	return s
}

// TestTxnTimeoutAbortMovesLSO: a producer killed inside a transaction
// holds the last stable offset back until the coordinator aborts the
// transaction on its timeout (with an epoch bump); then the LSO moves to
// the high watermark and read_committed consumers see none of it. The
// state survives a kill -9 of the broker while the transaction is open.
func TestTxnTimeoutAbortMovesLSO(t *testing.T) {
	t.Parallel()
	b := testutil.StartBroker(t, testutil.WithOverrides(map[string]string{
		"transaction.abort.timed.out.transaction.cleanup.interval.ms": "300",
	}))
	adm := b.Admin(t)
	topic := topicName(t)
	createTopic(t, adm, topic, 1, nil)
	cl := b.Client(t, kgo.DefaultProduceTopic(topic))
	produceSync(t, cl, kgo.StringRecord("before-0"), kgo.StringRecord("before-1"))

	txnID := topic + "-txn"
	began := time.Now()
	// The transaction times out 20 s after it opens. The checks of the
	// open state below only hold before that, so each is made only while
	// there is time left (a loaded machine may take long to get here).
	const txnTimeout = 20 * time.Second
	w := startWorker(t, "hang", b.Addr(), topic, txnID, "5", txnTimeout.String())
	testutil.WaitFor(t, 30*time.Second, "transaction open", func() (bool, string) {
		return strings.Contains(w.stdout(), "open"), w.stderr()
	})
	w.kill()
	stillOpen := func() bool { return time.Since(began) < txnTimeout-2*time.Second }
	if stable, hw := lso(t, adm, topic, 0); stillOpen() && (stable != 2 || hw != 7) {
		t.Fatalf("open transaction: LSO %d, HW %d; want 2, 7", stable, hw)
	}
	dp, err := adm.DescribeProducers(ctxT(t, 10*time.Second), kadm.TopicsSet{topic: {0: {}}})
	if err != nil {
		t.Fatal(err)
	}
	openAt := int64(-2)
	dp.EachPartition(func(p kadm.DescribedProducersPartition) {
		for _, ap := range p.ActiveProducers {
			openAt = ap.CurrentTxnStartOffset
		}
	})
	if openAt != 2 && stillOpen() {
		t.Fatalf("DescribeProducers: open transaction at %d, want 2", openAt)
	}

	// kill -9 the broker with the transaction open: producer state and
	// the LSO must come back.
	b.Kill()
	b.Start()
	// Until the timeout passes, the reloaded state still holds the LSO at
	// the transaction's first offset.
	if stable, hw := lso(t, adm, topic, 0); stillOpen() && (stable != 2 || hw != 7) {
		t.Fatalf("after kill -9: LSO %d, HW %d; want 2, 7", stable, hw)
	}
	testutil.WaitFor(t, 30*time.Second, "transaction aborted on timeout", func() (bool, string) {
		stable, hw := lso(t, adm, topic, 0)
		return stable == hw && hw == 8, fmt.Sprintf("LSO %d, HW %d", stable, hw)
	})
	d, err := adm.DescribeTransactions(ctxT(t, 10*time.Second), txnID)
	if err != nil {
		t.Fatal(err)
	}
	dt := d[txnID]
	if dt.State != "CompleteAbort" || dt.ProducerEpoch != 1 {
		t.Fatalf("after timeout: %+v (want CompleteAbort, epoch bumped to 1)", dt)
	}
	got := readCommitted(t, b, topic, 2, 30*time.Second)
	if len(got) != 2 || string(got[0].Value) != "before-0" {
		t.Fatalf("read_committed got %d records", len(got))
	}
}

// TestTxnCommittedSurvivesRestart: committed and aborted transactions,
// read_committed vs read_uncommitted, across a clean restart and a kill -9.
func TestTxnCommittedSurvivesRestart(t *testing.T) {
	t.Parallel()
	b := testutil.StartBroker(t)
	adm := b.Admin(t)
	topic := topicName(t)
	createTopic(t, adm, topic, 2, nil)
	cl := b.Client(t, kgo.DefaultProduceTopic(topic), kgo.TransactionalID(topic+"-txn"))
	txn := func(commit bool, vals ...string) {
		t.Helper()
		if err := cl.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		for _, v := range vals {
			produceSync(t, cl, kgo.StringRecord(v))
		}
		if err := cl.EndTransaction(ctxT(t, 20*time.Second), kgo.TransactionEndTry(commit)); err != nil {
			t.Fatal(err)
		}
	}
	txn(true, "c1", "c2")
	txn(false, "a1", "a2", "a3")
	txn(true, "c3")
	check := func(when string) {
		t.Helper()
		got := readCommitted(t, b, topic, 3, 30*time.Second)
		var vals []string
		for _, r := range got {
			vals = append(vals, string(r.Value))
		}
		if len(got) != 3 || strings.Contains(strings.Join(vals, ","), "a") {
			t.Fatalf("%s: read_committed got %v", when, vals)
		}
		if all := readIsolated(t, b, topic, 6, 30*time.Second, kgo.ReadUncommitted()); len(all) != 6 {
			t.Fatalf("%s: read_uncommitted got %d records, want 6", when, len(all))
		}
	}
	check("before restart")
	b.Restart()
	check("after restart")
	b.Kill()
	b.Start()
	check("after kill -9")
	txn(true, "c4") // the producer carries on after the restarts
	got := readCommitted(t, b, topic, 4, 30*time.Second)
	if len(got) != 4 {
		t.Fatalf("after more: %d records", len(got))
	}
}

// TestTxnConfluentPython: librdkafka's transactional producer through
// confluent-kafka-python: commit, abort, isolation levels, fencing by a
// second producer with the same id, send_offsets_to_transaction.
func TestTxnConfluentPython(t *testing.T) {
	t.Parallel()
	testutil.RequirePython(t, "confluent_kafka")
	b := testutil.StartBroker(t)
	r := testutil.Python(t, 180*time.Second, "confluent_txn.py", b.Addr(), topicName(t))
	if r.Err != nil {
		t.Fatalf("confluent_txn.py: %v", r)
	}
	t.Logf("%s", r.Stdout)
}
