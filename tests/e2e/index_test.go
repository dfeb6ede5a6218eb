package e2e

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/quillstream/quill/internal/testutil"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestIndexesManySegments: with many small segments and a dense sparse
// index, lookups by offset (Fetch/consume from any offset) and by timestamp
// (ListOffsets) agree with a brute-force scan, before and after a clean
// restart, and after a crash with the index files deleted (Kafka rebuilds
// them).
func TestIndexesManySegments(t *testing.T) {
	t.Parallel()
	b := testutil.StartBroker(t)
	topic := topicName(t)
	createTopic(t, b.Admin(t), topic, 1, map[string]*string{
		"segment.bytes":        sp("8192"),
		"index.interval.bytes": sp("256"),
	})
	cl := b.Client(t, kgo.ProducerLinger(0), kgo.ProducerBatchCompression(kgo.NoCompression()))
	// 1500 records in batches of 1..7, timestamps non-decreasing with
	// repeats and gaps (so the "first offset with ts >= t" rule matters).
	const n = 1500
	t0 := time.Now().Add(-40 * time.Minute).UnixMilli()
	ts := make([]int64, n)
	cur := t0
	for i := 0; i < n; {
		k := 1 + rand.IntN(7)
		var recs []*kgo.Record
		for j := 0; j < k && i < n; j++ {
			if rand.IntN(3) > 0 {
				cur += int64(rand.IntN(1000))
			}
			ts[i] = cur
			recs = append(recs, &kgo.Record{Topic: topic, Value: []byte(fmt.Sprintf("%06d-%s", i, "pppppppppppppppppppppppppppppppppppp")), Timestamp: time.UnixMilli(cur)})
			i++
		}
		produceSync(t, cl, recs...)
	}
	if segs := segmentFiles(t, b.Dir(), topic, 0); len(segs) < 5 {
		t.Fatalf("want many segments, have %v", segs)
	}

	check := func(phase string) {
		t.Helper()
		// By timestamp.
		probes := []int64{t0 - 1, t0, ts[n-1], ts[n-1] + 1}
		for i := 0; i < 40; i++ {
			probes = append(probes, ts[rand.IntN(n)]+int64(rand.IntN(3))-1)
		}
		// The last record of each segment: the tail after a segment's
		// last time-index entry is found only through the segment's
		// largest timestamp.
		for _, seg := range segmentFiles(t, b.Dir(), topic, 0) {
			if base := segBase(seg); base > 0 && base <= n {
				probes = append(probes, ts[base-1])
			}
		}
		for _, p := range probes {
			want, wantTS := int64(-1), int64(-1)
			for i, x := range ts {
				if x >= p {
					want, wantTS = int64(i), x
					break
				}
			}
			off, gotTS, code := rawListOffset(t, b, topic, 0, p)
			if code != 0 || off != want || gotTS != wantTS {
				t.Errorf("%s: ListOffsets(ts=t0%+d): offset %d ts t0%+d %s; want offset %d ts t0%+d (segments %v)", phase, p-t0, off, gotTS-t0, codeName(code), want, wantTS-t0, segmentFiles(t, b.Dir(), topic, 0))
			}
		}
		// By offset: consuming from any offset starts exactly there.
		for i := 0; i < 15; i++ {
			at := int64(rand.IntN(n))
			c := b.Client(t, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().At(at)}}))
			ctx := ctxT(t, 15*time.Second)
			fs := c.PollRecords(ctx, 1)
			if ctx.Err() != nil {
				t.Fatalf("%s: consume from %d: timed out", phase, at)
			}
			fs.EachError(func(_ string, _ int32, err error) { t.Fatalf("%s: consume from %d: %v", phase, at, err) })
			r := fs.Records()[0]
			if r.Offset != at || string(r.Value[:6]) != fmt.Sprintf("%06d", at) {
				t.Errorf("%s: consume from %d: first record offset %d value %q", phase, at, r.Offset, r.Value[:6])
			}
			c.Close()
		}
	}
	check("live")
	b.Restart()
	check("after restart")

	b.Kill()
	var removed int
	for _, pat := range []string{"*.index", "*.timeindex"} {
		m, _ := filepath.Glob(filepath.Join(b.Dir(), topic+"-0", pat))
		for _, f := range m {
			if os.Remove(f) == nil {
				removed++
			}
		}
	}
	if removed == 0 {
		t.Errorf("no .index/.timeindex files in %s-0 to remove (Kafka's layout has them)", topic)
	}
	b.Start()
	check("after crash with indexes deleted")
	got := consumeAll(t, b, topic)[0]
	if len(got) != n {
		t.Fatalf("after crash: %d records, want %d", len(got), n)
	}
	for i, r := range got {
		if r.Offset != int64(i) || string(r.Value[:6]) != fmt.Sprintf("%06d", i) || r.Timestamp.UnixMilli() != ts[i] {
			t.Fatalf("after crash: record %d: offset %d value %q ts %d (want %d)", i, r.Offset, r.Value[:6], r.Timestamp.UnixMilli(), ts[i])
		}
	}
}
