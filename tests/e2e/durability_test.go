package e2e

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/quillstream/quill/internal/testutil"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func cleanShutdownMarkers(dir string) []string {
	var out []string
	_ = filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err == nil && strings.Contains(strings.ToLower(info.Name()), "cleanshutdown") {
			out = append(out, p)
		}
		return nil
	})
	return out
}

// TestIdempotentDedupAcrossRestart: an idempotent producer's retry of its
// last batch after the broker restarted (cleanly, or after SIGKILL) is
// recognised as a duplicate: NONE with the original offset, nothing
// appended. Kafka restores producer state from snapshots and the log.
func TestIdempotentDedupAcrossRestart(t *testing.T) {
	t.Parallel()
	for _, how := range []string{"sigterm", "sigkill", "sigkill-tiny-segments"} {
		t.Run(how, func(t *testing.T) {
			b := testutil.StartBroker(t)
			topic := topicName(t)
			var cfg map[string]*string
			if strings.HasSuffix(how, "tiny-segments") {
				// About one batch per segment: producer state must
				// come back from snapshots taken at each roll.
				cfg = map[string]*string{"segment.bytes": sp("100")}
			}
			createTopic(t, b.Admin(t), topic, 1, cfg)
			rc := testutil.DialRaw(t, b.Addr())
			ireq := kmsg.NewPtrInitProducerIDRequest()
			ireq.Version = 4
			ireq.TransactionTimeoutMillis = 60000
			ireq.ProducerID, ireq.ProducerEpoch = -1, -1
			iresp := rc.Request(ireq).(*kmsg.InitProducerIDResponse)
			if iresp.ErrorCode != 0 {
				t.Fatalf("InitProducerId: %s", codeName(iresp.ErrorCode))
			}
			batch := func(seq int32, vals ...string) []byte {
				recs := make([]rawRecord, len(vals))
				for i, v := range vals {
					recs[i] = rawRecord{value: []byte(v)}
				}
				return buildBatch(batchOpts{baseTimestamp: time.Now().UnixMilli(), producerID: iresp.ProducerID, producerEpoch: iresp.ProducerEpoch, baseSequence: seq}, recs...)
			}
			for i, bt := range [][]byte{batch(0, "a", "b"), batch(2, "c", "d", "e")} {
				p := produceRaw(t, rc, -1, topic, bt)
				if p.ErrorCode != 0 {
					t.Fatalf("batch %d: %s", i, codeName(p.ErrorCode))
				}
			}
			last := batch(5, "f")
			if p := produceRaw(t, rc, -1, topic, last); p.ErrorCode != 0 || p.BaseOffset != 5 {
				t.Fatalf("last batch: %s at %d", codeName(p.ErrorCode), p.BaseOffset)
			}
			rc.Close()
			if how == "sigterm" {
				b.Stop()
			} else {
				b.Kill()
			}
			b.Start()
			rc = testutil.DialRaw(t, b.Addr())
			if p := produceRaw(t, rc, -1, topic, last); p.ErrorCode != 0 || p.BaseOffset != 5 {
				t.Errorf("retry of the last batch after %s: %s at %d; Kafka answers NONE with the original offset 5 and appends nothing", how, codeName(p.ErrorCode), p.BaseOffset)
			}
			if p := produceRaw(t, rc, -1, topic, batch(2, "c", "d", "e")); p.ErrorCode != 0 || p.BaseOffset != 2 {
				t.Errorf("retry of an earlier batch (within the last five) after %s: %s at %d; want NONE at 2", how, codeName(p.ErrorCode), p.BaseOffset)
			}
			if p := produceRaw(t, rc, -1, topic, batch(6, "g")); p.ErrorCode != 0 || p.BaseOffset != 6 {
				t.Errorf("next batch after %s: %s at %d; want NONE at 6", how, codeName(p.ErrorCode), p.BaseOffset)
			}
			if p := produceRaw(t, rc, -1, topic, batch(9, "x")); p.ErrorCode != kerr.OutOfOrderSequenceNumber.Code {
				t.Errorf("sequence gap after %s: %s; want OUT_OF_ORDER_SEQUENCE_NUMBER(45) (the producer state must survive)", how, codeName(p.ErrorCode))
			}
			var vals []string
			for _, r := range consumeAll(t, b, topic)[0] {
				vals = append(vals, string(r.Value))
			}
			if got := strings.Join(vals, ""); got != "abcdefg" {
				t.Errorf("log after %s holds %q, want \"abcdefg\"", how, got)
			}
		})
	}
}

// TestRecoveryAfterCrash: after SIGKILL with a torn write at the end of the
// active segment (garbage appended, as a crash mid-write leaves it), the
// broker recovers: the garbage is dropped, every record is there, and new
// records follow the last good offset. A clean-shutdown marker from an
// earlier clean stop must not survive into the next run (it would skip
// recovery).
func TestRecoveryAfterCrash(t *testing.T) {
	t.Parallel()
	b := testutil.StartBroker(t, testutil.WithOverride("log.segment.bytes", "16384"))
	topic := topicName(t)
	createTopic(t, b.Admin(t), topic, 1, nil)
	cl := b.Client(t, kgo.ProducerLinger(0), kgo.ProducerBatchCompression(kgo.NoCompression()))
	const n = 300
	for i := 0; i < n; i += 10 {
		var recs []*kgo.Record
		for j := i; j < i+10; j++ {
			recs = append(recs, &kgo.Record{Topic: topic, Value: []byte(strconv.Itoa(j) + strings.Repeat(".", 50))})
		}
		produceSync(t, cl, recs...)
	}
	b.Stop()
	b.Start()
	produceSync(t, cl, &kgo.Record{Topic: topic, Value: []byte(strconv.Itoa(n) + strings.Repeat(".", 50))})
	b.Kill()
	if m := cleanShutdownMarkers(b.Dir()); len(m) > 0 {
		t.Errorf("clean-shutdown marker %v still present after a crash: Kafka deletes it once the logs are loaded, so a crash is recovered", m)
	}
	segs := segmentFiles(t, b.Dir(), topic, 0)
	if len(segs) < 2 {
		t.Fatalf("expected several segments with log.segment.bytes=16384, have %v", segs)
	}
	active := filepath.Join(b.Dir(), topic+"-0", segs[len(segs)-1])
	f, err := os.OpenFile(active, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	// A whole batch header, then only part of the records it announces.
	torn := plainBatch("torn write that never completed")
	torn = torn[:len(torn)-7]
	if _, err := f.Write(torn); err != nil {
		t.Fatal(err)
	}
	f.Close()

	b.Start()
	got := consumeAll(t, b, topic)[0]
	if len(got) != n+1 {
		t.Fatalf("after recovery: %d records, want %d", len(got), n+1)
	}
	for i, r := range got {
		if r.Offset != int64(i) || !strings.HasPrefix(string(r.Value), strconv.Itoa(i)+".") {
			t.Fatalf("after recovery: record %d is offset %d value %q", i, r.Offset, r.Value)
		}
	}
	r := &kgo.Record{Topic: topic, Value: []byte("after recovery")}
	produceSync(t, b.Client(t), r)
	if r.Offset != n+1 {
		t.Errorf("first record after recovery at offset %d, want %d (the torn bytes must be truncated)", r.Offset, n+1)
	}
	got = consumeAll(t, b, topic)[0]
	if len(got) != n+2 || string(got[n+1].Value) != "after recovery" {
		t.Errorf("after recovery and a new produce: %d records, last %q", len(got), got[len(got)-1].Value)
	}
}

// TestLogStartOffsetSurvivesRestart: DeleteRecords' new log start offset
// is checkpointed and survives a clean restart.
func TestLogStartOffsetSurvivesRestart(t *testing.T) {
	t.Parallel()
	b := testutil.StartBroker(t)
	topic := topicName(t)
	adm := b.Admin(t)
	createTopic(t, adm, topic, 1, nil)
	var recs []*kgo.Record
	for i := 0; i < 50; i++ {
		recs = append(recs, &kgo.Record{Topic: topic, Value: []byte(strconv.Itoa(i))})
	}
	produceSync(t, b.Client(t), recs...)
	os := kadm.Offsets{}
	os.Add(kadm.Offset{Topic: topic, Partition: 0, At: 30, LeaderEpoch: -1})
	if dr, err := adm.DeleteRecords(ctxT(t, 10*time.Second), os); err != nil || dr.Error() != nil {
		t.Fatalf("DeleteRecords: %v %v", err, dr.Error())
	}
	b.Restart()
	adm = b.Admin(t)
	so, err := startOffset(t, adm, topic, 0)
	if err != nil || so != 30 {
		t.Errorf("log start offset after restart: %d %v, want 30", so, err)
	}
	got := consumeAll(t, b, topic)[0]
	if len(got) != 20 || got[0].Offset != 30 {
		t.Errorf("after restart: %d records from offset %d, want 20 from 30", len(got), got[0].Offset)
	}
}
