package txn

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// batchMarkers is a BatchMarkerWriter failing the partitions in failing.
type batchMarkers struct {
	fakeMarkers
	mu      sync.Mutex
	calls   int
	failing map[TP]bool
}

func (b *batchMarkers) WriteMarkers(ctx context.Context, ms []Marker) []error {
	b.mu.Lock()
	b.calls++
	fail := map[TP]bool{}
	for tp, v := range b.failing {
		fail[tp] = v
	}
	b.mu.Unlock()
	errs := make([]error, len(ms))
	for i, m := range ms {
		if fail[m.TP] {
			errs[i] = kerr.NotLeaderForPartition
			continue
		}
		errs[i] = b.WriteMarker(ctx, m)
	}
	return errs
}

// A BatchMarkerWriter gets all of a transaction's markers in one call; a
// partition that failed is the only one retried, and the transaction
// completes once it is written.
func TestBatchMarkersPartialFailure(t *testing.T) {
	h := newHarness(t)
	bm := &batchMarkers{failing: map[TP]bool{{"t", 1}: true}}
	h.c.deps.Markers = bm
	pid, epoch, _ := h.init("a", 4, -1, -1)
	h.add("a", pid, epoch, "t", 0, 1, 2)
	wantCode(t, "commit", h.end("a", pid, epoch, true), nil)
	if bm.calls != 1 {
		t.Fatalf("%d WriteMarkers calls, want 1", bm.calls)
	}
	if ms := bm.take(); len(ms) != 2 {
		t.Fatalf("first round wrote %+v", ms)
	}
	if d := h.describe("a"); d.State != "PrepareCommit" {
		t.Fatalf("state %s with a marker unwritten", d.State)
	}
	bm.mu.Lock()
	bm.failing = nil
	bm.mu.Unlock()
	h.c.RetryMarkers()
	if ms := bm.take(); len(ms) != 1 || ms[0].TP != (TP{"t", 1}) || !ms[0].Commit {
		t.Fatalf("retry wrote %+v", ms)
	}
	if d := h.describe("a"); d.State != "CompleteCommit" {
		t.Fatalf("state %s after the retry", d.State)
	}
}

func verifyReq(id string, pid int64, epoch int16, topic string, parts ...int32) *kmsg.AddPartitionsToTxnRequest {
	req := kmsg.NewPtrAddPartitionsToTxnRequest()
	req.SetVersion(4)
	tx := kmsg.NewAddPartitionsToTxnRequestTransaction()
	tx.TransactionalID, tx.ProducerID, tx.ProducerEpoch, tx.VerifyOnly = id, pid, epoch, true
	tt := kmsg.NewAddPartitionsToTxnRequestTransactionTopic()
	tt.Topic, tt.Partitions = topic, parts
	tx.Topics = append(tx.Topics, tt)
	req.Transactions = append(req.Transactions, tx)
	return req
}

func v4Codes(resp *kmsg.AddPartitionsToTxnResponse) map[TP]int16 {
	out := map[TP]int16{}
	for _, tx := range resp.Transactions {
		for _, tt := range tx.Topics {
			for _, p := range tt.Partitions {
				out[TP{tt.Topic, p.Partition}] = p.ErrorCode
			}
		}
	}
	return out
}

// AddPartitionsToTxn v4 VerifyOnly (KIP-890 part 1, the partition leader's
// question) answers per partition and adds nothing; v4 without VerifyOnly
// adds like v3.
func TestAddPartitionsV4VerifyOnly(t *testing.T) {
	h := newHarness(t)
	pid, epoch, _ := h.init("a", 4, -1, -1)
	h.add("a", pid, epoch, "t", 0)
	resp := h.do(verifyReq("a", pid, epoch, "t", 0, 1)).(*kmsg.AddPartitionsToTxnResponse)
	codes := v4Codes(resp)
	if codes[TP{"t", 0}] != 0 || codes[TP{"t", 1}] != kerr.InvalidTxnState.Code || resp.ErrorCode != 0 {
		t.Fatalf("verify: %v (top-level %d)", codes, resp.ErrorCode)
	}
	if err := h.c.VerifyPartition("a", pid, epoch, TP{"t", 1}); !errors.Is(err, kerr.InvalidTxnState) {
		t.Fatalf("VerifyOnly added the partition: %v", err)
	}
	codes = v4Codes(h.do(verifyReq("a", pid, epoch+1, "t", 0)).(*kmsg.AddPartitionsToTxnResponse))
	if codes[TP{"t", 0}] != kerr.ProducerFenced.Code {
		t.Fatalf("other epoch: %v", codes)
	}
	codes = v4Codes(h.do(verifyReq("a", pid+1, epoch, "t", 0)).(*kmsg.AddPartitionsToTxnResponse))
	if codes[TP{"t", 0}] != kerr.InvalidProducerIDMapping.Code {
		t.Fatalf("other producer id: %v", codes)
	}
	codes = v4Codes(h.do(verifyReq("nobody", pid, epoch, "t", 0)).(*kmsg.AddPartitionsToTxnResponse))
	if codes[TP{"t", 0}] != kerr.InvalidProducerIDMapping.Code {
		t.Fatalf("unknown id: %v", codes)
	}

	add := verifyReq("a", pid, epoch, "t", 1)
	add.Transactions[0].VerifyOnly = false
	if codes := v4Codes(h.do(add).(*kmsg.AddPartitionsToTxnResponse)); codes[TP{"t", 1}] != 0 {
		t.Fatalf("v4 add: %v", codes)
	}
	if err := h.c.VerifyPartition("a", pid, epoch, TP{"t", 1}); err != nil {
		t.Fatalf("after the v4 add: %v", err)
	}
	h.end("a", pid, epoch, true)
	codes = v4Codes(h.do(verifyReq("a", pid, epoch, "t", 0)).(*kmsg.AddPartitionsToTxnResponse))
	if codes[TP{"t", 0}] != kerr.InvalidTxnState.Code {
		t.Fatalf("after commit: %v", codes)
	}
}
