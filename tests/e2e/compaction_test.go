package e2e

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/quillstream/quill/internal/record"
	"github.com/quillstream/quill/internal/testutil"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// compactionBroker is a broker whose cleaner runs every 100 ms.
func compactionBroker(t *testing.T, opts ...testutil.Option) *testutil.Broker {
	return testutil.StartBroker(t, append([]testutil.Option{testutil.WithOverride("log.cleaner.backoff.ms", "100")}, opts...)...)
}

// compactedConfigs: small segments, clean at 1% dirty, tombstones kept 2 s.
func compactedConfigs() map[string]*string {
	return map[string]*string{
		"cleanup.policy":            sp("compact"),
		"segment.bytes":             sp("4096"),
		"min.cleanable.dirty.ratio": sp("0.01"),
		"delete.retention.ms":       sp("2000"),
	}
}

// fetched is one record read with a raw Fetch.
type fetched struct {
	off        int64
	key, value string
	tomb       bool
}

// fetchAll reads partition 0 from the log start to the high watermark with
// raw Fetch requests, checking every batch (CRC, counts) and that batches
// and records come in strictly increasing offset order.
func fetchAll(t testing.TB, b *testutil.Broker, topic string) ([]fetched, error) {
	t.Helper()
	start, err := startOffset(t, b.Admin(t), topic, 0)
	if err != nil {
		return nil, err
	}
	rc := testutil.DialRaw(t, b.Addr())
	defer rc.Close()
	var out []fetched
	off, prev := start, int64(-1)
	for range 10000 {
		req := fetchReq(12, 0, -1, 0)
		addFetchPartition(req, topic, [16]byte{}, 0, off, 64<<10)
		resp, err := rc.RequestErr(req, 10*time.Second)
		if err != nil {
			return out, err
		}
		fr := resp.(*kmsg.FetchResponse)
		p := fr.Topics[0].Partitions[0]
		if p.ErrorCode != 0 {
			return out, fmt.Errorf("fetch at %d: %s", off, codeName(p.ErrorCode))
		}
		if off >= p.HighWatermark {
			return out, nil
		}
		rb := p.RecordBatches
		if len(rb) == 0 {
			return out, fmt.Errorf("empty fetch at %d below the high watermark %d", off, p.HighWatermark)
		}
		for len(rb) > 0 {
			n := record.BatchSize(rb)
			if n < record.HeaderSize || n > len(rb) {
				return out, fmt.Errorf("torn batch at %d", off)
			}
			h, err := record.Check(rb[:n])
			if err != nil {
				return out, fmt.Errorf("batch at %d: %v", h.BaseOffset, err)
			}
			if h.BaseOffset <= prev {
				return out, fmt.Errorf("batch %d..%d after offset %d", h.BaseOffset, h.LastOffset(), prev)
			}
			recs, err := record.Records(rb[:n])
			if err != nil {
				return out, fmt.Errorf("batch at %d: %v", h.BaseOffset, err)
			}
			for _, r := range recs {
				o := h.BaseOffset + int64(r.OffsetDelta)
				if o <= prev || o > h.LastOffset() {
					return out, fmt.Errorf("record %d after %d in batch %d..%d", o, prev, h.BaseOffset, h.LastOffset())
				}
				prev = o
				if o >= off {
					out = append(out, fetched{off: o, key: string(r.Key), value: string(r.Value), tomb: r.Value == nil})
				}
			}
			prev = max(prev, h.LastOffset())
			off = max(off, h.NextOffset())
			rb = rb[n:]
		}
	}
	return out, errors.New("too many fetches")
}

// converged reports whether recs hold exactly one record per key of want
// (key -> value; "" means deleted: no record, not even a tombstone), at
// increasing offsets. Keys not in want are ignored.
func converged(recs []fetched, want map[string]string) (bool, string) {
	seen := map[string]int{}
	for _, r := range recs {
		w, ok := want[r.key]
		if !ok {
			continue
		}
		seen[r.key]++
		switch {
		case w == "":
			return false, fmt.Sprintf("deleted key %s still has a record at %d (tombstone=%v)", r.key, r.off, r.tomb)
		case seen[r.key] > 1:
			return false, fmt.Sprintf("key %s has %d records", r.key, seen[r.key])
		}
		if r.value != w {
			if r.tomb {
				return false, fmt.Sprintf("key %s: tombstone at %d, want %q", r.key, r.off, w)
			}
		}
	}
	for k, w := range want {
		if w != "" && seen[k] != 1 {
			return false, fmt.Sprintf("key %s: %d records", k, seen[k])
		}
	}
	for _, r := range recs {
		if w, ok := want[r.key]; ok && r.value != w {
			return false, fmt.Sprintf("key %s at %d has %q, want %q", r.key, r.off, r.value, w)
		}
	}
	return true, ""
}

// fillCompacted writes rounds of updates to keys, then tombstones for the
// first del keys, then filler records (another key) until the segment
// holding the tombstones has rolled. It returns the expected content.
func fillCompacted(t *testing.T, cl *kgo.Client, topic string, keys, rounds, del int) map[string]string {
	t.Helper()
	want := map[string]string{}
	for round := range rounds {
		var recs []*kgo.Record
		for k := range keys {
			key, val := fmt.Sprintf("key-%03d", k), fmt.Sprintf("value-%03d-%03d", k, round)
			recs = append(recs, &kgo.Record{Topic: topic, Key: []byte(key), Value: []byte(val)})
			want[key] = val
		}
		produceSync(t, cl, recs...)
	}
	var tombs []*kgo.Record
	for k := range del {
		key := fmt.Sprintf("key-%03d", k)
		tombs = append(tombs, &kgo.Record{Topic: topic, Key: []byte(key)})
		want[key] = ""
	}
	produceSync(t, cl, tombs...)
	// The active segment is never cleaned: push the tombstones out of it.
	fill(t, cl, topic, 12)
	return want
}

// fill writes n hardly compressible (random letters) 1000-byte records under the key "filler",
// so that the active segment rolls past everything written before.
func fill(t *testing.T, cl *kgo.Client, topic string, n int) {
	t.Helper()
	for range n {
		v := make([]byte, 1000)
		for i := range v {
			v[i] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"[rand.IntN(62)]
		}
		produceSync(t, cl, &kgo.Record{Topic: topic, Key: []byte("filler"), Value: v})
	}
}

// TestCompaction: a compacted topic with many updates per key converges to
// one record per key, tombstones gone after delete.retention.ms, as read by
// a raw Fetch, franz-go, kcat and confluent-kafka-python; keyless records
// are refused; the cleaner checkpoint is written.
func TestCompaction(t *testing.T) {
	t.Parallel()
	b := compactionBroker(t)
	adm := b.Admin(t)
	topic := topicName(t)
	createTopic(t, adm, topic, 1, compactedConfigs())
	cl := b.Client(t, kgo.ProducerLinger(0), kgo.RecordPartitioner(kgo.ManualPartitioner()))

	err := cl.ProduceSync(ctxT(t, 10*time.Second), &kgo.Record{Topic: topic, Value: []byte("no key")}).FirstErr()
	if !errors.Is(err, kerr.InvalidRecord) {
		t.Fatalf("keyless record to a compacted topic: %v, want INVALID_RECORD", err)
	}

	want := fillCompacted(t, cl, topic, 40, 25, 10)
	testutil.WaitFor(t, 60*time.Second, "compaction converges", func() (bool, string) {
		recs, err := fetchAll(t, b, topic)
		if err != nil {
			t.Fatalf("fetch during compaction: %v", err)
		}
		return converged(recs, want)
	})
	files := segmentFiles(t, b.Dir(), topic, 0)
	t.Logf("segments after compaction: %v", files)

	// franz-go.
	var got []fetched
	for _, r := range consumeAll(t, b, topic)[0] {
		got = append(got, fetched{off: r.Offset, key: string(r.Key), value: string(r.Value), tomb: r.Value == nil})
	}
	if ok, why := converged(got, want); !ok {
		t.Errorf("franz-go: %s", why)
	}

	// kcat.
	r := testutil.Kcat(t, 30*time.Second, b.Addr(), nil, "-C", "-t", topic, "-e", "-o", "beginning", "-f", "%k=%s\n")
	if r.Err != nil {
		t.Fatalf("kcat: %v", r)
	}
	got = nil
	for i, line := range strings.Split(strings.TrimSpace(r.Stdout), "\n") {
		k, v, _ := strings.Cut(line, "=")
		got = append(got, fetched{off: int64(i), key: k, value: v})
	}
	if ok, why := converged(got, want); !ok {
		t.Errorf("kcat: %s\n%s", why, r.Stdout)
	}

	// confluent-kafka-python.
	testutil.RequirePython(t, "confluent_kafka")
	py := testutil.Python(t, 90*time.Second, "confluent_compacted.py", b.Addr(), topic)
	if py.Err != nil {
		t.Fatalf("confluent_compacted.py: %v", py)
	}
	got = nil
	for _, line := range strings.Split(strings.TrimSpace(py.Stdout), "\n") {
		if strings.HasPrefix(line, "END") {
			continue
		}
		var off int64
		var kv string
		if _, err := fmt.Sscanf(line, "%d %s", &off, &kv); err != nil {
			t.Fatalf("python output line %q", line)
		}
		k, v, _ := strings.Cut(kv, "=")
		got = append(got, fetched{off: off, key: k, value: v, tomb: v == "<null>"})
	}
	if ok, why := converged(got, want); !ok {
		t.Errorf("confluent-kafka-python: %s\n%s", why, py.Stdout)
	}

	if ck := readCleanerCheckpoint(t, b.Dir(), topic); ck <= 0 {
		t.Errorf("cleaner-offset-checkpoint has no entry for %s-0", topic)
	}

	// The compacted log and checkpoint survive a clean restart.
	b.Restart()
	recs, err := fetchAll(t, b, topic)
	if err != nil {
		t.Fatal(err)
	}
	if ok, why := converged(recs, want); !ok {
		t.Errorf("after restart: %s", why)
	}
}

func readCleanerCheckpoint(t testing.TB, dir, topic string) int64 {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "cleaner-offset-checkpoint"))
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) == 3 && f[0] == topic && f[1] == "0" {
			var o int64
			fmt.Sscan(f[2], &o)
			return o
		}
	}
	return -1
}

// TestCompactionConcurrentConsumer: consumers reading from the start over
// and over while producers update keys and the cleaner swaps segments never
// see a bad batch or offsets out of order, and always see the latest value
// of the keys that no longer change.
func TestCompactionConcurrentConsumer(t *testing.T) {
	t.Parallel()
	b := compactionBroker(t)
	adm := b.Admin(t)
	topic := topicName(t)
	createTopic(t, adm, topic, 1, compactedConfigs())
	cl := b.Client(t, kgo.ProducerLinger(0), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	stable := fillCompacted(t, cl, topic, 20, 3, 0)
	delete(stable, "filler")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failures []string
	passes := 0
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				recs, err := fetchAll(t, b, topic)
				msg := ""
				if err != nil {
					msg = err.Error()
				} else {
					seen := map[string]string{}
					for _, r := range recs {
						seen[r.key] = r.value
					}
					for k, v := range stable {
						if seen[k] != v {
							msg = fmt.Sprintf("key %s: last value %q, want %q", k, seen[k], v)
							break
						}
					}
				}
				mu.Lock()
				passes++
				if msg != "" {
					failures = append(failures, msg)
				}
				mu.Unlock()
				if msg != "" {
					return
				}
			}
		}()
	}
	// Churn other keys for a while: the cleaner keeps rewriting segments.
	hot := map[string]string{}
	for round := range 60 {
		var recs []*kgo.Record
		for k := range 30 {
			key, val := fmt.Sprintf("hot-%02d", k), fmt.Sprintf("v-%d-%d-%s", k, round, strings.Repeat("x", rand.IntN(50)))
			recs = append(recs, &kgo.Record{Topic: topic, Key: []byte(key), Value: []byte(val)})
			hot[key] = val
		}
		produceSync(t, cl, recs...)
	}
	fill(t, cl, topic, 8)
	for k, v := range hot {
		stable[k] = v
	}
	testutil.WaitFor(t, 60*time.Second, "compaction converges under readers", func() (bool, string) {
		recs, err := fetchAll(t, b, topic)
		if err != nil {
			t.Fatal(err)
		}
		return converged(recs, stable)
	})
	cancel()
	wg.Wait()
	if len(failures) > 0 {
		t.Fatalf("readers during compaction: %v", failures)
	}
	t.Logf("%d full reads during compaction", passes)
	if !strings.Contains(b.Logs(), "cleaned log") {
		t.Error("the broker log shows no cleaning")
	}
}

// TestCompactionKill9: SIGKILL at random moments while the cleaner works,
// then restart: the log opens valid (every batch checks, offsets increase)
// and still holds the latest acknowledged value of every key; compaction
// then converges.
func TestCompactionKill9(t *testing.T) {
	t.Parallel()
	b := compactionBroker(t, testutil.WithOverride("log.cleaner.backoff.ms", "10"))
	adm := b.Admin(t)
	topic := topicName(t)
	cfgs := compactedConfigs()
	cfgs["segment.bytes"] = sp("16384")
	createTopic(t, adm, topic, 1, cfgs)
	want := map[string]string{}
	caught := 0
	for cycle := range 6 {
		cl := b.Client(t, kgo.ProducerLinger(0), kgo.RecordPartitioner(kgo.ManualPartitioner()))
		for round := range 15 {
			var recs []*kgo.Record
			for k := range 200 {
				key := fmt.Sprintf("key-%03d", k)
				val := fmt.Sprintf("c%d-r%d-%s", cycle, round, strings.Repeat("v", k%40))
				recs = append(recs, &kgo.Record{Topic: topic, Key: []byte(key), Value: []byte(val)})
				want[key] = val
			}
			produceSync(t, cl, recs...)
		}
		cl.Close()
		// Kill the broker the moment the cleaner is writing a cleaned
		// segment (or after a random pause if it is not seen).
		if waitCleaning(filepath.Join(b.Dir(), topic+"-0"), time.Duration(50+rand.IntN(500))*time.Millisecond) {
			caught++
		}
		b.Kill()
		b.Start()
		recs, err := fetchAll(t, b, topic)
		if err != nil {
			t.Fatalf("cycle %d: after kill -9: %v", cycle, err)
		}
		last := map[string]string{}
		for _, r := range recs {
			last[r.key] = r.value
		}
		for k, v := range want {
			if last[k] != v {
				t.Fatalf("cycle %d: after kill -9 key %s reads %q, want the acknowledged %q", cycle, k, last[k], v)
			}
		}
	}
	fill(t, b.Client(t, kgo.ProducerLinger(0)), topic, 20)
	testutil.WaitFor(t, 60*time.Second, "compaction converges after kills", func() (bool, string) {
		recs, err := fetchAll(t, b, topic)
		if err != nil {
			t.Fatal(err)
		}
		return converged(recs, want)
	})
	files := segmentFiles(t, b.Dir(), topic, 0)
	sort.Strings(files)
	logs := b.Logs()
	t.Logf("segments: %v; %d passes logged; %d of 6 kills while a cleaned segment was being written; %d interrupted swaps completed at startup",
		files, strings.Count(logs, "cleaned log"), caught, strings.Count(logs, "completed an interrupted segment swap"))
	if caught == 0 {
		t.Error("no kill landed while the cleaner was writing: the test did not test what it should")
	}
}

// waitCleaning polls dir until a *.cleaned or *.swap file appears (true) or
// d passes (false).
func waitCleaning(dir string, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			if strings.HasSuffix(e.Name(), ".cleaned") || strings.HasSuffix(e.Name(), ".swap") {
				return true
			}
		}
		time.Sleep(200 * time.Microsecond)
	}
	return false
}

// TestCompactionConsumerOffsets: __consumer_offsets is compacted like any
// compacted topic, and a group's committed offsets survive its compaction
// and a restart that reloads the group from the compacted log.
func TestCompactionConsumerOffsets(t *testing.T) {
	t.Parallel()
	b := compactionBroker(t,
		testutil.WithOverride("offsets.topic.num.partitions", "1"),
		testutil.WithOverride("offsets.topic.segment.bytes", "4096"),
		testutil.WithOverride("log.cleaner.min.cleanable.ratio", "0.01"))
	adm := b.Admin(t)
	topic := topicName(t)
	createTopic(t, adm, topic, 1, nil)
	group := "g-" + topic
	var last int64
	for i := range 300 {
		last = int64(i + 1)
		offs := kadm.Offsets{}
		offs.Add(kadm.Offset{Topic: topic, Partition: 0, At: last, LeaderEpoch: -1})
		resp, err := adm.CommitOffsets(ctxT(t, 10*time.Second), group, offs)
		if err == nil {
			err = resp.Error()
		}
		if err != nil {
			t.Fatalf("commit %d: %v", i, err)
		}
	}
	uncompacted := len(segmentFiles(t, b.Dir(), "__consumer_offsets", 0))
	testutil.WaitFor(t, 30*time.Second, "__consumer_offsets is compacted", func() (bool, string) {
		files := segmentFiles(t, b.Dir(), "__consumer_offsets", 0)
		return len(files) <= 3, fmt.Sprintf("%d segments (%d before compaction)", len(files), uncompacted)
	})
	t.Logf("__consumer_offsets-0: %d segments when the commits ended (300 commits take ~14 uncompacted)", uncompacted)
	check := func(what string) {
		t.Helper()
		fetched, err := adm.FetchOffsets(ctxT(t, 10*time.Second), group)
		if err != nil {
			t.Fatalf("%s: fetch offsets: %v", what, err)
		}
		o, ok := fetched.Lookup(topic, 0)
		if !ok || o.Err != nil || o.At != last {
			t.Fatalf("%s: committed offset %+v, want %d", what, o, last)
		}
	}
	check("after compaction")
	b.Restart()
	adm = b.Admin(t)
	check("after a restart")
}
