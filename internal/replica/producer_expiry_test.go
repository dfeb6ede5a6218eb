package replica

import (
	"path/filepath"
	"testing"
	"time"
)

func producerIDs(p *Partition) []int64 {
	var out []int64
	for _, s := range p.Producers() {
		out = append(out, s.ProducerID)
	}
	return out
}

// Idle producers without an open transaction are dropped from the
// partition's state and stay dropped after a reopen (the fresh snapshot);
// a producer with an open transaction and a recent one are kept; an
// expired producer may write again with any sequence.
func TestExpireProducers(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "t-0")
	p := openPartition(t, dir)
	must(t)(produce(t, p, 10, 0, 0, 2, false)) // idle idempotent producer
	must(t)(produce(t, p, 11, 0, 0, 1, true))  // open transaction
	must(t)(produce(t, p, 12, 0, 0, 1, false))
	if n := p.ExpireProducers(time.Now(), time.Hour); n != 0 {
		t.Fatalf("expired %d recent producers", n)
	}
	if n := p.ExpireProducers(time.Now().Add(2*time.Hour), time.Hour); n != 2 {
		t.Fatalf("expired %d producers, want 2 (ids %v left)", n, producerIDs(p))
	}
	if ids := producerIDs(p); len(ids) != 1 || ids[0] != 11 {
		t.Fatalf("producers after expiry: %v, want [11]", ids)
	}
	checkTxnState(t, p, 2, 4, nil)

	q := openPartition(t, dir)
	if ids := producerIDs(q); len(ids) != 1 || ids[0] != 11 {
		t.Fatalf("producers after reopen: %v, want [11]", ids)
	}
	checkTxnState(t, q, 2, 4, nil)
	// Producer 10 lost its state: a batch with any sequence is taken.
	must(t)(produce(t, q, 10, 0, 7, 1, false))
	// The open transaction ends as before; then 11 can expire too.
	must(t)(q.AppendMarker(11, 0, true, 1))
	checkTxnState(t, q, 6, 6, nil)
	if n := q.ExpireProducers(time.Now().Add(2*time.Hour), time.Hour); n != 2 {
		t.Fatalf("expired %d producers after the commit, want 2", n)
	}
}
