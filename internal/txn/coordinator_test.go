package txn

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

type fakePIDs struct {
	mu   sync.Mutex
	next int64
}

func (f *fakePIDs) AllocateProducerID() (int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.next++
	return f.next - 1 + 1000, nil
}

type fakeMarkers struct {
	mu      sync.Mutex
	written []Marker
	fail    error
}

func (f *fakeMarkers) WriteMarker(_ context.Context, m Marker) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return f.fail
	}
	f.written = append(f.written, m)
	return nil
}

func (f *fakeMarkers) take() []Marker {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := f.written
	f.written = nil
	sortMarkers(out)
	return out
}

func sortMarkers(ms []Marker) {
	tps := make([]TP, len(ms))
	for i := range ms {
		tps[i] = ms[i].TP
	}
	idx := map[TP]Marker{}
	for _, m := range ms {
		idx[m.TP] = m
	}
	sortTPs(tps)
	for i, tp := range tps {
		ms[i] = idx[tp]
	}
}

type allTopics struct{}

func (allTopics) PartitionExists(topic string, _ int32) bool { return topic != "missing" }

type manualClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *manualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *manualClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

type harness struct {
	t       *testing.T
	store   *MemStore
	markers *fakeMarkers
	pids    *fakePIDs
	clk     *manualClock
	c       *Coordinator
	cfg     Config
}

func newHarness(t *testing.T) *harness {
	h := &harness{
		t: t, store: NewMemStore(), markers: &fakeMarkers{}, pids: &fakePIDs{},
		clk: &manualClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)},
		cfg: Config{NumPartitions: 1, OffsetsPartitions: 3, MaxTimeout: 15 * time.Minute, IDExpiration: time.Hour},
	}
	h.start()
	return h
}

// start (re)creates the coordinator over the same store, as a restart.
func (h *harness) start() {
	if h.c != nil {
		h.c.Close()
	}
	h.c = New(h.cfg, Deps{Store: h.store, PIDs: h.pids, Markers: h.markers, Topics: allTopics{}, Now: h.clk.Now})
	if err := h.c.Load(0, 5); err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(h.c.Close)
}

func (h *harness) do(req kmsg.Request) kmsg.Response {
	h.t.Helper()
	resp, err := h.c.Handle(context.Background(), req)
	if err != nil {
		h.t.Fatal(err)
	}
	return resp
}

func (h *harness) init(id string, version int16, pid int64, epoch int16) (int64, int16, int16) {
	h.t.Helper()
	req := kmsg.NewPtrInitProducerIDRequest()
	req.SetVersion(version)
	req.TransactionalID = &id
	req.TransactionTimeoutMillis = 60000
	req.ProducerID, req.ProducerEpoch = pid, epoch
	resp := h.do(req).(*kmsg.InitProducerIDResponse)
	return resp.ProducerID, resp.ProducerEpoch, resp.ErrorCode
}

func (h *harness) add(id string, pid int64, epoch int16, topic string, parts ...int32) int16 {
	h.t.Helper()
	req := kmsg.NewPtrAddPartitionsToTxnRequest()
	req.SetVersion(3)
	req.TransactionalID, req.ProducerID, req.ProducerEpoch = id, pid, epoch
	rt := kmsg.NewAddPartitionsToTxnRequestTopic()
	rt.Topic, rt.Partitions = topic, parts
	req.Topics = append(req.Topics, rt)
	resp := h.do(req).(*kmsg.AddPartitionsToTxnResponse)
	code := int16(0)
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			if p.ErrorCode != 0 {
				code = p.ErrorCode
			}
		}
	}
	return code
}

func (h *harness) end(id string, pid int64, epoch int16, commit bool) int16 {
	h.t.Helper()
	req := kmsg.NewPtrEndTxnRequest()
	req.SetVersion(3)
	req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Commit = id, pid, epoch, commit
	return h.do(req).(*kmsg.EndTxnResponse).ErrorCode
}

func (h *harness) describe(id string) kmsg.DescribeTransactionsResponseTransactionState {
	h.t.Helper()
	req := kmsg.NewPtrDescribeTransactionsRequest()
	req.TransactionalIDs = []string{id}
	return h.do(req).(*kmsg.DescribeTransactionsResponse).TransactionStates[0]
}

func wantCode(t *testing.T, what string, got int16, want *kerr.Error) {
	t.Helper()
	wc := int16(0)
	if want != nil {
		wc = want.Code
	}
	if got != wc {
		t.Fatalf("%s: error %v, want %v", what, kerr.ErrorForCode(got), want)
	}
}

// KIP-98: commit writes PrepareCommit, a commit marker to every partition
// with the producer's epoch and the coordinator epoch, then CompleteCommit.
func TestCommitWritesMarkers(t *testing.T) {
	h := newHarness(t)
	pid, epoch, code := h.init("a", 4, -1, -1)
	wantCode(t, "init", code, nil)
	if epoch != 0 {
		t.Fatalf("first epoch %d", epoch)
	}
	wantCode(t, "add", h.add("a", pid, epoch, "t", 0, 1), nil)
	wantCode(t, "add again", h.add("a", pid, epoch, "t", 1), nil)
	if d := h.describe("a"); d.State != "Ongoing" || len(d.Topics) != 1 || len(d.Topics[0].Partitions) != 2 || d.StartTimestamp < 0 {
		t.Fatalf("describe: %+v", d)
	}
	wantCode(t, "commit", h.end("a", pid, epoch, true), nil)
	ms := h.markers.take()
	if len(ms) != 2 || !ms[0].Commit || ms[0].ProducerID != pid || ms[0].ProducerEpoch != epoch || ms[0].CoordinatorEpoch != 5 {
		t.Fatalf("markers: %+v", ms)
	}
	if d := h.describe("a"); d.State != "CompleteCommit" || len(d.Topics) != 0 {
		t.Fatalf("describe after commit: %+v", d)
	}
	// Retrying the same end is fine; the opposite is not.
	wantCode(t, "commit retry", h.end("a", pid, epoch, true), nil)
	wantCode(t, "abort after commit", h.end("a", pid, epoch, false), kerr.InvalidTxnState)
	if len(h.markers.take()) != 0 {
		t.Fatal("a retried EndTxn wrote markers again")
	}
}

func TestEndTxnErrors(t *testing.T) {
	h := newHarness(t)
	pid, epoch, _ := h.init("a", 4, -1, -1)
	wantCode(t, "end from Empty", h.end("a", pid, epoch, true), kerr.InvalidTxnState)
	wantCode(t, "unknown id", h.end("nope", pid, epoch, true), kerr.InvalidProducerIDMapping)
	wantCode(t, "wrong pid", h.end("a", pid+1, epoch, true), kerr.InvalidProducerIDMapping)
	wantCode(t, "wrong epoch", h.end("a", pid, epoch+1, true), kerr.ProducerFenced)
	wantCode(t, "add to unknown topic", h.add("a", pid, epoch, "missing", 0), kerr.UnknownTopicOrPartition)
}

// A partition failing makes the others OPERATION_NOT_ATTEMPTED.
func TestAddPartitionsOperationNotAttempted(t *testing.T) {
	h := newHarness(t)
	pid, epoch, _ := h.init("a", 4, -1, -1)
	req := kmsg.NewPtrAddPartitionsToTxnRequest()
	req.SetVersion(3)
	req.TransactionalID, req.ProducerID, req.ProducerEpoch = "a", pid, epoch
	for _, topic := range []string{"t", "missing"} {
		rt := kmsg.NewAddPartitionsToTxnRequestTopic()
		rt.Topic, rt.Partitions = topic, []int32{0}
		req.Topics = append(req.Topics, rt)
	}
	resp := h.do(req).(*kmsg.AddPartitionsToTxnResponse)
	if resp.Topics[0].Partitions[0].ErrorCode != kerr.OperationNotAttempted.Code ||
		resp.Topics[1].Partitions[0].ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("%+v", resp.Topics)
	}
	if d := h.describe("a"); d.State != "Empty" {
		t.Fatalf("state %s after a failed add", d.State)
	}
}

// An InitProducerId for an id with an ongoing transaction bumps the epoch,
// aborts the transaction with the new epoch (fencing the old producer) and
// answers CONCURRENT_TRANSACTIONS; the retry gets the next epoch.
func TestInitFencesOngoingTransaction(t *testing.T) {
	h := newHarness(t)
	pid, epoch, _ := h.init("a", 4, -1, -1)
	h.add("a", pid, epoch, "t", 0)
	_, _, code := h.init("a", 4, -1, -1)
	wantCode(t, "init during ongoing", code, kerr.ConcurrentTransactions)
	ms := h.markers.take()
	if len(ms) != 1 || ms[0].Commit || ms[0].ProducerEpoch != epoch+1 {
		t.Fatalf("fencing markers: %+v", ms)
	}
	pid2, epoch2, code := h.init("a", 4, -1, -1)
	wantCode(t, "init retry", code, nil)
	if pid2 != pid || epoch2 != epoch+2 {
		t.Fatalf("got %d/%d, want %d/%d", pid2, epoch2, pid, epoch+2)
	}
	wantCode(t, "zombie add", h.add("a", pid, epoch, "t", 0), kerr.ProducerFenced)
	wantCode(t, "zombie end", h.end("a", pid, epoch, true), kerr.ProducerFenced)
	// Old request versions get INVALID_PRODUCER_EPOCH instead (KIP-588).
	req := kmsg.NewPtrEndTxnRequest()
	req.SetVersion(1)
	req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Commit = "a", pid, epoch, true
	wantCode(t, "zombie end v1", h.do(req).(*kmsg.EndTxnResponse).ErrorCode, kerr.InvalidProducerEpoch)
}

// KIP-360: a producer re-initializing with its current id and epoch gets
// the next epoch; with a stale one it is fenced; a retry of the last
// InitProducerId returns the same answer.
func TestInitKIP360(t *testing.T) {
	h := newHarness(t)
	pid, epoch, _ := h.init("a", 4, -1, -1)
	p2, e2, code := h.init("a", 4, pid, epoch)
	wantCode(t, "recover", code, nil)
	if p2 != pid || e2 != epoch+1 {
		t.Fatalf("recover: %d/%d", p2, e2)
	}
	p3, e3, code := h.init("a", 4, pid, epoch)
	wantCode(t, "retry", code, nil)
	if p3 != p2 || e3 != e2 {
		t.Fatalf("retry answered %d/%d, want %d/%d", p3, e3, p2, e2)
	}
	_, _, code = h.init("a", 4, pid, epoch+7)
	wantCode(t, "stale", code, kerr.ProducerFenced)
	_, _, code = h.init("a", 3, pid, epoch+7)
	wantCode(t, "stale v3", code, kerr.InvalidProducerEpoch)
}

func TestInitTimeoutValidation(t *testing.T) {
	h := newHarness(t)
	id := "a"
	for _, ms := range []int32{0, -1, int32((16 * time.Minute).Milliseconds())} {
		req := kmsg.NewPtrInitProducerIDRequest()
		req.TransactionalID = &id
		req.TransactionTimeoutMillis = ms
		wantCode(t, "timeout", h.do(req).(*kmsg.InitProducerIDResponse).ErrorCode, kerr.InvalidTransactionTimeout)
	}
	empty := ""
	req := kmsg.NewPtrInitProducerIDRequest()
	req.TransactionalID = &empty
	req.TransactionTimeoutMillis = 1000
	wantCode(t, "empty id", h.do(req).(*kmsg.InitProducerIDResponse).ErrorCode, kerr.InvalidRequest)
}

// An exhausted epoch moves the id to a new producer id.
func TestEpochExhaustion(t *testing.T) {
	h := newHarness(t)
	pid, _, _ := h.init("a", 4, -1, -1)
	m, _ := h.c.lookup("a", false)
	m.epoch = maxEpoch
	m.mu.Unlock()
	p2, e2, code := h.init("a", 4, -1, -1)
	wantCode(t, "init", code, nil)
	if p2 == pid || e2 != 0 {
		t.Fatalf("exhausted epoch: %d/%d", p2, e2)
	}
	// The old id may still recover as a retry (KIP-360).
	p3, e3, code := h.init("a", 4, pid, maxEpoch)
	wantCode(t, "retry with the old pid", code, nil)
	if p3 != p2 || e3 != 0 {
		t.Fatalf("retry: %d/%d", p3, e3)
	}
}

// Transactions open longer than their timeout are aborted with an epoch
// bump; the producer is fenced but may recover (KIP-360).
func TestTimeoutAbortsWithEpochBump(t *testing.T) {
	h := newHarness(t)
	pid, epoch, _ := h.init("a", 4, -1, -1)
	h.add("a", pid, epoch, "t", 3)
	h.clk.Advance(59 * time.Second)
	h.c.AbortTimedOut()
	if len(h.markers.take()) != 0 {
		t.Fatal("aborted before its timeout")
	}
	h.clk.Advance(2 * time.Second)
	h.c.AbortTimedOut()
	ms := h.markers.take()
	if len(ms) != 1 || ms[0].Commit || ms[0].ProducerEpoch != epoch+1 || ms[0].TP != (TP{"t", 3}) {
		t.Fatalf("timeout markers: %+v", ms)
	}
	if d := h.describe("a"); d.State != "CompleteAbort" || d.ProducerEpoch != epoch+1 {
		t.Fatalf("after timeout: %+v", d)
	}
	wantCode(t, "zombie produce-side add", h.add("a", pid, epoch, "t", 0), kerr.ProducerFenced)
	p2, e2, code := h.init("a", 4, pid, epoch)
	wantCode(t, "recover after timeout", code, nil)
	if p2 != pid || e2 != epoch+2 {
		t.Fatalf("recover: %d/%d", p2, e2)
	}
}

// A marker that cannot be written leaves the transaction in Prepare*:
// requests get CONCURRENT_TRANSACTIONS until the background loop succeeds.
func TestMarkerRetry(t *testing.T) {
	h := newHarness(t)
	pid, epoch, _ := h.init("a", 4, -1, -1)
	h.add("a", pid, epoch, "t", 0)
	h.markers.fail = errors.New("leader unavailable")
	wantCode(t, "commit", h.end("a", pid, epoch, true), nil)
	if d := h.describe("a"); d.State != "PrepareCommit" {
		t.Fatalf("state %s", d.State)
	}
	wantCode(t, "add during prepare", h.add("a", pid, epoch, "t", 0), kerr.ConcurrentTransactions)
	wantCode(t, "end retry during prepare", h.end("a", pid, epoch, true), kerr.ConcurrentTransactions)
	wantCode(t, "opposite end during prepare", h.end("a", pid, epoch, false), kerr.InvalidTxnState)
	h.markers.fail = nil
	h.c.AbortTimedOut()
	if d := h.describe("a"); d.State != "CompleteCommit" {
		t.Fatalf("state %s after retry", d.State)
	}
	if ms := h.markers.take(); len(ms) != 1 || !ms[0].Commit {
		t.Fatalf("markers %+v", ms)
	}
}

// State survives a coordinator restart; a transaction found in Prepare*
// gets its markers written on load.
func TestReplayAfterRestart(t *testing.T) {
	h := newHarness(t)
	pid, epoch, _ := h.init("a", 4, -1, -1)
	h.add("a", pid, epoch, "t", 0, 1)
	pb, eb, _ := h.init("b", 4, -1, -1)
	h.add("b", pb, eb, "u", 0)
	h.markers.fail = errors.New("down")
	h.end("b", pb, eb, false)
	h.markers.fail = nil
	h.markers.take()

	h.start()
	if d := h.describe("a"); d.State != "Ongoing" || d.ProducerID != pid || len(d.Topics[0].Partitions) != 2 {
		t.Fatalf("a after restart: %+v", d)
	}
	if ms := h.markers.take(); len(ms) != 1 || ms[0].Commit || ms[0].TP != (TP{"u", 0}) {
		t.Fatalf("markers on load: %+v", ms)
	}
	if d := h.describe("b"); d.State != "CompleteAbort" {
		t.Fatalf("b after restart: %+v", d)
	}
	wantCode(t, "commit after restart", h.end("a", pid, epoch, true), nil)
	h.start()
	if d := h.describe("a"); d.State != "CompleteCommit" {
		t.Fatalf("a after second restart: %+v", d)
	}
	// Producer ids are never reused after a restart.
	pc, _, _ := h.init("c", 4, -1, -1)
	if pc == pid || pc == pb {
		t.Fatalf("pid %d reused", pc)
	}
}

// Idle transactional ids expire with a tombstone, also after replay.
func TestIDExpiration(t *testing.T) {
	h := newHarness(t)
	pid, epoch, _ := h.init("a", 4, -1, -1)
	h.add("a", pid, epoch, "t", 0)
	h.init("idle", 4, -1, -1)
	h.clk.Advance(2 * time.Hour)
	h.c.ExpireIDs()
	if d := h.describe("idle"); d.ErrorCode != kerr.TransactionalIDNotFound.Code {
		t.Fatalf("idle id not expired: %+v", d)
	}
	if d := h.describe("a"); d.ErrorCode != 0 {
		t.Fatal("an id with an open transaction expired")
	}
	h.start()
	if d := h.describe("idle"); d.ErrorCode != kerr.TransactionalIDNotFound.Code {
		t.Fatal("expired id came back on replay")
	}
}

func TestAddOffsetsUsesGroupPartition(t *testing.T) {
	h := newHarness(t)
	pid, epoch, _ := h.init("a", 4, -1, -1)
	req := kmsg.NewPtrAddOffsetsToTxnRequest()
	req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Group = "a", pid, epoch, "g"
	wantCode(t, "add offsets", h.do(req).(*kmsg.AddOffsetsToTxnResponse).ErrorCode, nil)
	h.end("a", pid, epoch, true)
	ms := h.markers.take()
	if len(ms) != 1 || ms[0].Topic != OffsetsTopic || ms[0].Partition != PartitionFor("g", 3) {
		t.Fatalf("markers %+v", ms)
	}
}

func TestVerifyPartition(t *testing.T) {
	h := newHarness(t)
	pid, epoch, _ := h.init("a", 4, -1, -1)
	if err := h.c.VerifyPartition("a", pid, epoch, TP{"t", 0}); !errors.Is(err, kerr.InvalidTxnState) {
		t.Fatalf("not added: %v", err)
	}
	h.add("a", pid, epoch, "t", 0)
	if err := h.c.VerifyPartition("a", pid, epoch, TP{"t", 0}); err != nil {
		t.Fatal(err)
	}
	if err := h.c.VerifyPartition("a", pid, epoch-1, TP{"t", 0}); !errors.Is(err, kerr.ProducerFenced) {
		t.Fatalf("stale epoch: %v", err)
	}
	h.end("a", pid, epoch, false)
	if err := h.c.VerifyPartition("a", pid, epoch, TP{"t", 0}); !errors.Is(err, kerr.InvalidTxnState) {
		t.Fatalf("after abort: %v", err)
	}
}

func TestListTransactions(t *testing.T) {
	h := newHarness(t)
	pa, ea, _ := h.init("a", 4, -1, -1)
	h.add("a", pa, ea, "t", 0)
	h.init("b", 4, -1, -1)
	req := kmsg.NewPtrListTransactionsRequest()
	req.SetVersion(1)
	req.StateFilters = []string{"Ongoing", "Bogus"}
	req.DurationFilterMillis = -1
	resp := h.do(req).(*kmsg.ListTransactionsResponse)
	if len(resp.TransactionStates) != 1 || resp.TransactionStates[0].TransactionalID != "a" ||
		len(resp.UnknownStateFilters) != 1 {
		t.Fatalf("%+v", resp)
	}
	req = kmsg.NewPtrListTransactionsRequest()
	req.SetVersion(1)
	req.DurationFilterMillis = 1000
	if resp := h.do(req).(*kmsg.ListTransactionsResponse); len(resp.TransactionStates) != 0 {
		t.Fatalf("duration filter: %+v", resp.TransactionStates)
	}
	h.clk.Advance(2 * time.Second)
	if resp := h.do(req).(*kmsg.ListTransactionsResponse); len(resp.TransactionStates) != 1 {
		t.Fatalf("duration filter after 2s: %+v", resp.TransactionStates)
	}
}

func TestNotCoordinator(t *testing.T) {
	h := newHarness(t)
	h.c.Unload(0)
	_, _, code := h.init("a", 4, -1, -1)
	wantCode(t, "unloaded", code, kerr.NotCoordinator)
}

func FuzzDecodeRecord(f *testing.F) {
	f.Add(keyFor("x"), encodeValue(snapshot{pid: 1, epoch: 2, parts: []TP{{"t", 1}}}))
	f.Add([]byte{0, 0}, []byte{0, 1, 2})
	f.Fuzz(func(t *testing.T, k, v []byte) {
		decodeRecord(Record{Key: k, Value: v})
	})
}

// Concurrent producers, timeouts, expiry and a reload, under -race: every
// answer is one of the expected codes and the lock order holds.
func TestConcurrentUse(t *testing.T) {
	h := newHarness(t)
	ok := map[int16]bool{0: true, kerr.ConcurrentTransactions.Code: true, kerr.ProducerFenced.Code: true,
		kerr.InvalidTxnState.Code: true, kerr.InvalidProducerIDMapping.Code: true, kerr.NotCoordinator.Code: true,
		kerr.CoordinatorLoadInProgress.Code: true}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := []string{"a", "b", "c"}[g%3]
			for i := range 200 {
				pid, epoch, code := h.init(id, 4, -1, -1)
				if !ok[code] {
					t.Errorf("init: %v", kerr.ErrorForCode(code))
					return
				}
				if code != 0 {
					continue
				}
				if code := h.add(id, pid, epoch, "t", int32(i%4)); !ok[code] {
					t.Errorf("add: %v", kerr.ErrorForCode(code))
				}
				if code := h.end(id, pid, epoch, i%2 == 0); !ok[code] {
					t.Errorf("end: %v", kerr.ErrorForCode(code))
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for range 100 {
			h.clk.Advance(time.Minute)
			h.c.AbortTimedOut()
			h.c.ExpireIDs()
			h.c.handleListTransactions(kmsg.NewPtrListTransactionsRequest())
		}
		h.c.Load(0, 6) // a reload while requests run
	}()
	wg.Wait()
	for _, id := range []string{"a", "b", "c"} {
		if d := h.describe(id); d.ErrorCode == 0 && d.State == "PrepareCommit" {
			t.Errorf("%s left in %s", id, d.State)
		}
	}
}
