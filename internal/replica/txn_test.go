package replica

import (
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	qlog "github.com/quillstream/quill/internal/log"
	"github.com/quillstream/quill/internal/record"
)

// openPartition opens (or reopens) a leader partition over dir, loading
// producer state as the Manager does.
func openPartition(t *testing.T, dir string) *Partition {
	t.Helper()
	l, err := qlog.Open(dir, qlog.DefaultConfig(), qlog.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	p := &Partition{Topic: "t", log: l, dir: l.Dir(), waiters: map[*Waiter]struct{}{}, now: time.Now}
	p.settings.Store(&Settings{Recompress: -1})
	p.mu.Lock()
	err = p.loadProducers()
	p.segments = l.NumSegments()
	p.hw.Store(l.LogEndOffset())
	p.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// produce appends n records as a batch of pid (-1: plain), transactional
// or not, with the next sequence.
func produce(t *testing.T, p *Partition, pid int64, epoch int16, seq int32, n int, txn bool) (int64, error) {
	t.Helper()
	spec := record.BatchSpec{ProducerID: pid, ProducerEpoch: epoch, BaseSequence: seq, BaseTimestamp: time.Now().UnixMilli()}
	if pid < 0 {
		spec = spec.NoProducer()
	}
	if txn {
		spec.Attributes = record.AttrTransactional
	}
	recs := make([]record.Record, n)
	for i := range recs {
		recs[i] = record.Record{Value: []byte("v")}
	}
	b, err := record.Build(spec, recs)
	if err != nil {
		t.Fatal(err)
	}
	res, err := p.AppendProduce(b, true)
	return res.BaseOffset, err
}

func must(t *testing.T) func(int64, error) int64 {
	return func(v int64, err error) int64 {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

// checkTxnState asserts LSO, HW and the aborted list.
func checkTxnState(t *testing.T, p *Partition, lso, hw int64, aborted []AbortedTxn) {
	t.Helper()
	if got := p.LastStableOffset(); got != lso {
		t.Errorf("LSO %d, want %d", got, lso)
	}
	if got := p.HighWatermark(); got != hw {
		t.Errorf("HW %d, want %d", got, hw)
	}
	got := p.AbortedTxns(0, 1<<62)
	if !slices.EqualFunc(got, aborted, func(a, b AbortedTxn) bool {
		return a.ProducerID == b.ProducerID && a.FirstOffset == b.FirstOffset && a.LastOffset == b.LastOffset
	}) {
		t.Errorf("aborted %+v, want %+v", got, aborted)
	}
}

// The LSO is the first offset of the oldest open transaction; markers move
// it; aborts are remembered for read_committed fetches.
func TestLastStableOffsetAndMarkers(t *testing.T) {
	p := openPartition(t, t.TempDir())
	must(t)(produce(t, p, -1, 0, 0, 2, false)) // 0-1
	must(t)(produce(t, p, 10, 0, 0, 2, true))  // 2-3: txn of 10
	must(t)(produce(t, p, 11, 0, 0, 1, true))  // 4: txn of 11
	must(t)(produce(t, p, 10, 0, 2, 1, true))  // 5: txn of 10
	checkTxnState(t, p, 2, 6, nil)
	if off := must(t)(p.AppendMarker(10, 0, true, 0)); off != 6 {
		t.Fatalf("commit marker at %d", off)
	}
	checkTxnState(t, p, 4, 7, nil)
	must(t)(p.AppendMarker(11, 0, false, 0)) // 7
	checkTxnState(t, p, 8, 8, []AbortedTxn{{ProducerID: 11, FirstOffset: 4, LastOffset: 7}})

	// read_committed reads stop at the LSO.
	must(t)(produce(t, p, 12, 0, 0, 3, true)) // 8-10
	s, err := p.Read(8, 1<<20, true, true)
	if err != nil || s.Size != 0 {
		t.Fatalf("read_committed returned %d bytes of an open transaction", s.Size)
	}
	if s, _ := p.Read(8, 1<<20, true, false); s.Size == 0 {
		t.Fatal("read_uncommitted must see the open transaction")
	}
	if got := p.AbortedTxns(8, 11); len(got) != 0 {
		t.Fatalf("aborted after 8: %+v", got)
	}
	if got := p.AbortedTxns(0, 5); len(got) != 1 {
		t.Fatalf("aborted in [0,5): %+v", got)
	}
	if got := p.AbortedTxns(0, 4); len(got) != 0 {
		t.Fatalf("aborted in [0,4): %+v", got)
	}
}

func TestTxnAppendRules(t *testing.T) {
	p := openPartition(t, t.TempDir())
	must(t)(produce(t, p, 10, 3, 0, 1, true))
	if _, err := produce(t, p, 10, 3, 1, 1, false); !errors.Is(err, kerr.InvalidTxnState) {
		t.Fatalf("non-transactional write in an open transaction: %v", err)
	}
	if _, err := p.AppendMarker(10, 2, false, 0); !errors.Is(err, kerr.InvalidProducerEpoch) {
		t.Fatalf("marker with an older epoch: %v", err)
	}
	must(t)(p.AppendMarker(10, 4, false, 7)) // the coordinator's fencing abort
	if _, err := p.AppendMarker(10, 4, true, 6); !errors.Is(err, kerr.TransactionCoordinatorFenced) {
		t.Fatalf("marker from an older coordinator: %v", err)
	}
	// The zombie (epoch 3) is fenced by the marker's epoch.
	if _, err := produce(t, p, 10, 3, 1, 1, true); !errors.Is(err, kerr.InvalidProducerEpoch) {
		t.Fatalf("zombie append: %v", err)
	}
	if ps := p.Producers(); len(ps) != 1 || ps[0].Epoch != 4 || ps[0].CoordinatorEpoch != 7 || ps[0].TxnStartOffset != -1 {
		t.Fatalf("producers %+v", ps)
	}
}

// KIP-890 part 1: with a verification begun, the first transactional
// append needs the coordinator's confirmation, and a marker written in
// between voids it.
func TestTxnVerificationGuard(t *testing.T) {
	p := openPartition(t, t.TempDir())
	tok, need := p.TxnVerificationNeeded(10, 0)
	if !need {
		t.Fatal("no verification needed for a first transactional append")
	}
	if _, err := produce(t, p, 10, 0, 0, 1, true); !errors.Is(err, kerr.InvalidTxnState) {
		t.Fatalf("unverified append: %v", err)
	}
	p.TxnVerified(10, tok)
	must(t)(produce(t, p, 10, 0, 0, 1, true))
	if _, need := p.TxnVerificationNeeded(10, 0); need {
		t.Fatal("verification needed inside an open transaction")
	}
	must(t)(p.AppendMarker(10, 0, false, 0))

	tok, _ = p.TxnVerificationNeeded(10, 0)
	must(t)(p.AppendMarker(10, 0, false, 0)) // the transaction ended meanwhile
	p.TxnVerified(10, tok)
	if _, err := produce(t, p, 10, 0, 1, 1, true); !errors.Is(err, kerr.InvalidTxnState) {
		t.Fatalf("append after the marker voided the verification: %v", err)
	}
}

// Producer state, open transactions, LSO and aborted transactions come
// back after a clean reopen, after losing the aborted-txns file, and after
// a crash that leaves no snapshot beyond an open transaction.
func TestTxnStateSurvivesReopen(t *testing.T) {
	for _, tc := range []struct {
		name  string
		crash func(t *testing.T, dir string)
	}{
		{"clean", func(*testing.T, string) {}},
		{"aborted file behind the log", func(t *testing.T, dir string) {
			path := filepath.Join(dir, abortedFileName)
			b, _ := os.ReadFile(path)
			os.WriteFile(path, b[:abortedEntrySize], 0o644) // what the snapshot made durable
		}},
		{"torn aborted file", func(t *testing.T, dir string) {
			path := filepath.Join(dir, abortedFileName)
			b, _ := os.ReadFile(path)
			os.WriteFile(path, b[:len(b)-5], 0o644)
		}},
		{"no snapshots", func(t *testing.T, dir string) {
			ents, _ := os.ReadDir(dir)
			for _, e := range ents {
				if filepath.Ext(e.Name()) == ".snapshot" {
					os.Remove(filepath.Join(dir, e.Name()))
				}
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "t-0")
			p := openPartition(t, dir)
			must(t)(produce(t, p, 10, 0, 0, 2, true)) // 0-1
			must(t)(produce(t, p, 11, 0, 0, 1, true)) // 2
			must(t)(p.AppendMarker(10, 0, false, 1))  // 3
			p.mu.Lock()
			p.writeSnapshotLocked() // at 4: 11 open
			p.mu.Unlock()
			must(t)(produce(t, p, 12, 0, 0, 1, true)) // 4
			must(t)(p.AppendMarker(12, 0, false, 1))  // 5
			must(t)(produce(t, p, 13, 0, 0, 1, true)) // 6
			want := []AbortedTxn{{ProducerID: 10, FirstOffset: 0, LastOffset: 3}, {ProducerID: 12, FirstOffset: 4, LastOffset: 5}}
			checkTxnState(t, p, 2, 7, want)
			tc.crash(t, dir)

			q := openPartition(t, dir)
			checkTxnState(t, q, 2, 7, want)
			// The open transactions continue and end as before.
			must(t)(produce(t, q, 11, 0, 1, 1, true)) // 7
			must(t)(q.AppendMarker(11, 0, true, 1))   // 8
			checkTxnState(t, q, 6, 9, want)
			if _, err := produce(t, q, 13, 0, 5, 1, true); !errors.Is(err, kerr.OutOfOrderSequenceNumber) {
				t.Fatalf("sequence state lost: %v", err)
			}
		})
	}
}
