package replica

import (
	"testing"
	"time"

	"github.com/quillstream/quill/internal/record"
)

// A follower below the leader's log start restarts its log there: nothing
// of the old log, its epochs or its producers survives, and it appends the
// leader's batches from the new start.
func TestTruncateFullyAndStartAtResetsPartition(t *testing.T) {
	p := leaderPartition(t)
	for seq := int32(0); seq < 30; seq += 3 {
		recs := []record.Record{{Value: []byte("a")}, {Value: []byte("b")}, {Value: []byte("c")}}
		b, err := record.Build(record.BatchSpec{BaseTimestamp: time.Now().UnixMilli(), ProducerID: 7, ProducerEpoch: 0, BaseSequence: seq}, recs)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.AppendProduce(b, true); err != nil {
			t.Fatal(err)
		}
	}
	p.mu.Lock()
	p.writeSnapshotLocked()
	p.mu.Unlock()
	if len(p.Producers()) != 1 || len(snapshotOffsets(p.dir)) == 0 {
		t.Fatalf("setup: producers %v snapshots %v", p.Producers(), snapshotOffsets(p.dir))
	}

	const start = 500
	if err := p.truncateFullyAndStartAt(start); err != nil {
		t.Fatal(err)
	}
	if p.log.LogStartOffset() != start || p.log.LogEndOffset() != start || p.HighWatermark() != start {
		t.Fatalf("start %d end %d hw %d", p.log.LogStartOffset(), p.log.LogEndOffset(), p.HighWatermark())
	}
	if n := len(p.Producers()); n != 0 {
		t.Fatalf("%d producers survived", n)
	}
	if s := snapshotOffsets(p.dir); len(s) != 0 {
		t.Fatalf("producer snapshots survived: %v", s)
	}
	if e := p.log.EpochEntries(); len(e) != 0 {
		t.Fatalf("epochs survived: %v", e)
	}
	// The leader's batches from its log start append.
	b, err := record.Build(record.BatchSpec{BaseOffset: start, PartitionLeaderEpoch: 3, BaseTimestamp: time.Now().UnixMilli(),
		ProducerID: 7, ProducerEpoch: 0, BaseSequence: 40}, []record.Record{{Value: []byte("x")}})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.appendFollower(b); err != nil {
		t.Fatal(err)
	}
	if p.log.LogEndOffset() != start+1 || len(p.Producers()) != 1 {
		t.Fatalf("end %d producers %v", p.log.LogEndOffset(), p.Producers())
	}
}

// The leader's log start can fall inside a batch (DeleteRecords): the
// follower restarted there gets that whole batch first and restarts its log
// at the batch's base.
func TestFollowerRestartsInsideFirstBatch(t *testing.T) {
	p := leaderPartition(t)
	if err := p.truncateFullyAndStartAt(250); err != nil {
		t.Fatal(err)
	}
	recs := make([]record.Record, 100)
	for i := range recs {
		recs[i] = record.Record{Value: []byte("v")}
	}
	b, err := record.Build(record.BatchSpec{BaseOffset: 200, PartitionLeaderEpoch: 2, BaseTimestamp: time.Now().UnixMilli()}.NoProducer(), recs)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.appendFollower(b); err != nil {
		t.Fatal(err)
	}
	if p.log.LogStartOffset() != 200 || p.log.LogEndOffset() != 300 {
		t.Fatalf("start %d end %d", p.log.LogStartOffset(), p.log.LogEndOffset())
	}
	// A batch below the end of a log that is not empty is still refused.
	record.SetBaseOffset(b, 250)
	if err := p.appendFollower(b); err == nil {
		t.Fatal("overlapping batch appended to a non-empty log")
	}
}
