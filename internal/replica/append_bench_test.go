package replica

import (
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	qlog "github.com/quillstream/quill/internal/log"
	"github.com/quillstream/quill/internal/record"
)

// benchPartition is a leader partition over a fresh log, outside a Manager.
func benchPartition(b testing.TB, s Settings) *Partition {
	l, err := qlog.Open(b.TempDir(), qlog.DefaultConfig(), qlog.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { l.Close() })
	p := &Partition{Topic: "bench", log: l, dir: l.Dir(), producers: map[int64]*producerEntry{},
		waiters: map[*Waiter]struct{}{}, now: time.Now}
	p.settings.Store(&s)
	p.segments = l.NumSegments()
	return p
}

// BenchmarkAppendProduce is the broker's produce path below the protocol:
// validate (header, CRC-32C), stamp, append, advance the high watermark,
// for batches of 1 to 1000 records of 100 B, idempotent or not. The
// allocations per op must not grow with the records per batch (the batch
// stays opaque).
//
//	go test ./internal/replica -run '^$' -bench AppendProduce -benchmem
func BenchmarkAppendProduce(b *testing.B) {
	for _, idem := range []bool{false, true} {
		for _, n := range []int{1, 100, 1000} {
			b.Run(fmt.Sprintf("idempotent=%v/records=%d", idem, n), func(b *testing.B) {
				p := benchPartition(b, Settings{MaxMessageBytes: 1 << 20, Recompress: -1, MinInsyncReplicas: 1, SegmentBytes: 1 << 30})
				recs := make([]record.Record, n)
				for i := range recs {
					recs[i] = record.Record{Value: make([]byte, 100), TimestampDelta: int64(i)}
				}
				spec := record.BatchSpec{BaseTimestamp: time.Now().UnixMilli()}.NoProducer()
				if idem {
					spec.ProducerID, spec.ProducerEpoch = 1, 0
				}
				batches := make([][]byte, 64)
				for i := range batches {
					bb, err := record.Build(spec, recs)
					if err != nil {
						b.Fatal(err)
					}
					batches[i] = bb
				}
				b.SetBytes(int64(len(batches[0])))
				b.ReportAllocs()
				b.ResetTimer()
				seq := int32(0)
				for i := range b.N {
					bb := batches[i%len(batches)]
					if idem {
						b.StopTimer()
						spec.BaseSequence = seq
						bb, _ = record.Build(spec, recs)
						seq += int32(n)
						b.StartTimer()
					}
					if _, err := p.AppendProduce(bb, true); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.N)*float64(n)/b.Elapsed().Seconds(), "records/s")
			})
		}
	}
}
