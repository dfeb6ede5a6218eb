package e2e

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/quillstream/quill/internal/testutil"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// startOffset returns the log start offset of topic[p].
func startOffset(t testing.TB, adm *kadm.Client, topic string, p int32) (int64, error) {
	lo, err := adm.ListStartOffsets(ctxT(t, 5*time.Second), topic)
	if err != nil {
		return 0, err
	}
	o, ok := lo.Lookup(topic, p)
	if !ok {
		return 0, fmt.Errorf("partition %d missing", p)
	}
	return o.Offset, o.Err
}

// checkReadableFrom consumes topic[0] and checks the records are exactly
// offsets start..end-1 with value == strconv.Itoa(offset).
func checkReadableFrom(t testing.TB, b *testutil.Broker, topic string, start, end int64) {
	t.Helper()
	got := consumeAll(t, b, topic)[0]
	if int64(len(got)) != end-start {
		t.Fatalf("consumed %d records, want offsets %d..%d", len(got), start, end-1)
	}
	for i, r := range got {
		if r.Offset != start+int64(i) || string(r.Value) != strconv.FormatInt(r.Offset, 10) {
			t.Fatalf("record %d: offset %d value %q, want offset %d", i, r.Offset, r.Value, start+int64(i))
		}
	}
}

// TestRetention: the retention checker deletes whole old segments (files
// gone from DIR/<topic>-0/) and advances the log start offset, by size
// (retention.bytes) and by age (retention.ms, judged by the records'
// timestamps).
func TestRetention(t *testing.T) {
	t.Parallel()
	b := testutil.StartBroker(t,
		testutil.WithOverride("log.retention.check.interval.ms", "200"),
		testutil.WithOverride("log.segment.delete.delay.ms", "0"),
	)
	adm := b.Admin(t)
	cl := b.Client(t, kgo.ProducerLinger(0))
	value := strings.Repeat("x", 100)

	t.Run("bytes", func(t *testing.T) {
		topic := topicName(t)
		createTopic(t, adm, topic, 1, map[string]*string{
			"segment.bytes":   sp("1024"),
			"retention.bytes": sp("2048"),
		})
		const n = 60
		for i := 0; i < n; i++ {
			// One batch per record, about 200 bytes each: several
			// segments. The value is the offset, padded.
			produceSync(t, cl, &kgo.Record{Topic: topic, Value: []byte(strconv.Itoa(i)), Headers: []kgo.RecordHeader{{Key: "pad", Value: []byte(value)}}})
		}
		first := filepath.Join(b.Dir(), topic+"-0", "00000000000000000000.log")
		testutil.WaitFor(t, 20*time.Second, "size retention to delete the first segment", func() (bool, string) {
			so, err := startOffset(t, adm, topic, 0)
			segs := segmentFiles(t, b.Dir(), topic, 0)
			if err != nil {
				return false, err.Error()
			}
			return so > 0 && !fileExists(first), fmt.Sprintf("start offset %d, segments %v", so, segs)
		})
		so, _ := startOffset(t, adm, topic, 0)
		segs := segmentFiles(t, b.Dir(), topic, 0)
		if len(segs) == 0 || segs[0] != fmt.Sprintf("%020d.log", so) {
			t.Errorf("log start offset %d does not match the first segment left: %v", so, segs)
		}
		if so >= n {
			t.Errorf("start offset %d: size retention deleted everything (retention.bytes=2048 keeps about 2 KiB)", so)
		}
		checkReadableFrom(t, b, topic, so, n)
	})

	t.Run("ms", func(t *testing.T) {
		topic := topicName(t)
		createTopic(t, adm, topic, 1, map[string]*string{
			"segment.bytes": sp("1024"),
			"retention.ms":  sp("600000"), // 10 minutes
		})
		old := time.Now().Add(-50 * time.Minute)
		const nOld, n = 30, 40
		for i := 0; i < n; i++ {
			ts := time.Now()
			if i < nOld {
				ts = old.Add(time.Duration(i) * time.Millisecond)
			}
			produceSync(t, cl, &kgo.Record{Topic: topic, Value: []byte(strconv.Itoa(i)), Timestamp: ts,
				Headers: []kgo.RecordHeader{{Key: "pad", Value: []byte(value)}}})
		}
		first := filepath.Join(b.Dir(), topic+"-0", "00000000000000000000.log")
		testutil.WaitFor(t, 20*time.Second, "time retention to delete the old segments", func() (bool, string) {
			so, err := startOffset(t, adm, topic, 0)
			if err != nil {
				return false, err.Error()
			}
			// Every segment that holds only old records goes: the
			// first one left must contain offset nOld.
			segs := segmentFiles(t, b.Dir(), topic, 0)
			done := so > 0 && !fileExists(first) && len(segs) > 0 && (len(segs) == 1 || segBase(segs[1]) > nOld)
			return done, fmt.Sprintf("start offset %d, segments %v", so, segs)
		})
		so, _ := startOffset(t, adm, topic, 0)
		segs := segmentFiles(t, b.Dir(), topic, 0)
		if so > nOld {
			t.Fatalf("start offset %d: records newer than retention.ms were deleted", so)
		}
		if segs[0] != fmt.Sprintf("%020d.log", so) {
			t.Errorf("log start offset %d does not match the first segment left: %v", so, segs)
		}
		checkReadableFrom(t, b, topic, so, n)
	})
}

func segBase(name string) int64 {
	n, _ := strconv.ParseInt(strings.TrimSuffix(name, ".log"), 10, 64)
	return n
}
