package replica

import (
	"testing"
	"time"

	qlog "github.com/quillstream/quill/internal/log"
	"github.com/quillstream/quill/internal/record"
)

// With SyncBeforeAck an append is neither visible nor acknowledged before
// its fsync round: the high watermark stays put until AwaitDurable, which
// then covers the batch.
func TestSyncBeforeAckHoldsHighWatermark(t *testing.T) {
	s := Settings{MaxMessageBytes: 1 << 20, Recompress: -1, MinInsyncReplicas: 1, SegmentBytes: 1 << 30, SyncBeforeAck: true}
	p := benchPartition(t, s)
	g := qlog.NewGroupSyncer(0)
	defer g.Close()
	p.syncer = g
	batch, err := record.Build(record.BatchSpec{BaseTimestamp: time.Now().UnixMilli()}.NoProducer(),
		[]record.Record{{Value: []byte("a")}, {Value: []byte("b")}})
	if err != nil {
		t.Fatal(err)
	}
	res, err := p.AppendProduce(batch, true)
	if err != nil {
		t.Fatal(err)
	}
	if !res.AwaitsFsync() {
		t.Fatal("append on a SyncBeforeAck partition does not await an fsync")
	}
	if hw := p.HighWatermark(); hw != 0 {
		t.Fatalf("high watermark %d before the fsync", hw)
	}
	if err := p.AwaitDurable(res); err != nil {
		t.Fatal(err)
	}
	if hw := p.HighWatermark(); hw != 2 {
		t.Fatalf("high watermark %d after the fsync, want 2", hw)
	}

	// Without the setting nothing waits.
	s.SyncBeforeAck = false
	p.settings.Store(&s)
	res, err = p.AppendProduce(batch, true)
	if err != nil {
		t.Fatal(err)
	}
	if res.AwaitsFsync() || p.HighWatermark() != 4 {
		t.Fatalf("plain append: awaits %v, high watermark %d", res.AwaitsFsync(), p.HighWatermark())
	}
}
