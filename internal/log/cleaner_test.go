package log

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"math/rand"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/quillstream/quill/internal/record"
)

// kv is a record for the cleaner tests; a nil value is a tombstone.
type kv struct {
	key, value string
	tomb       bool
}

func put(k, v string) kv { return kv{key: k, value: v} }
func del(k string) kv    { return kv{key: k, tomb: true} }

// kvBatch builds a batch of keyed records with timestamps ts, ts+1, ...
func kvBatch(t testing.TB, ts int64, pid int64, kvs ...kv) []byte {
	t.Helper()
	recs := make([]record.Record, len(kvs))
	for i, r := range kvs {
		recs[i] = record.Record{Key: []byte(r.key), TimestampDelta: int64(i)}
		if !r.tomb {
			recs[i].Value = []byte(r.value)
		}
	}
	spec := record.BatchSpec{BaseTimestamp: ts}.NoProducer()
	if pid >= 0 {
		spec.ProducerID, spec.ProducerEpoch, spec.BaseSequence = pid, 0, 0
	}
	b, err := record.Build(spec, recs)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// rec is a record read back: its absolute offset and timestamp.
type rec struct {
	off   int64
	ts    int64
	key   string
	value string
	tomb  bool
}

// readRecords reads the whole log through Read, checking that batches are
// valid and offsets strictly increase, and returns the records.
func readRecords(t testing.TB, l *Log) ([]rec, []record.Header) {
	t.Helper()
	var out []rec
	var hs []record.Header
	off := l.LogStartOffset()
	prev := int64(-1)
	for off < l.LogEndOffset() {
		s, err := l.Read(off, 4096, l.LogEndOffset(), true)
		if err != nil {
			t.Fatalf("read %d: %v", off, err)
		}
		b, err := s.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		if len(b) == 0 {
			break // only empty segments / gaps up to the LEO
		}
		for len(b) > 0 {
			n := record.BatchSize(b)
			h, err := record.Check(b[:n])
			if err != nil {
				t.Fatalf("bad batch in read at %d: %v", off, err)
			}
			if h.BaseOffset <= prev {
				t.Fatalf("batch at %d after offset %d", h.BaseOffset, prev)
			}
			rs, err := record.Records(b[:n])
			if err != nil {
				t.Fatalf("records of batch %d: %v", h.BaseOffset, err)
			}
			for _, r := range rs {
				o := h.BaseOffset + int64(r.OffsetDelta)
				if o <= prev || o > h.LastOffset() {
					t.Fatalf("record offset %d after %d (batch %d..%d)", o, prev, h.BaseOffset, h.LastOffset())
				}
				prev = o
				out = append(out, rec{off: o, ts: h.BaseTimestamp + r.TimestampDelta, key: string(r.Key), value: string(r.Value), tomb: r.Value == nil})
			}
			prev = max(prev, h.LastOffset())
			hs = append(hs, h)
			off = h.NextOffset()
			b = b[n:]
		}
	}
	return out, hs
}

// latest is what compaction must converge to: the last record per key.
func latest(rs []rec) []rec {
	last := map[string]int{}
	for i, r := range rs {
		last[r.key] = i
	}
	idx := slices.Sorted(maps.Values(last))
	out := make([]rec, len(idx))
	for i, j := range idx {
		out[i] = rs[j]
	}
	return out
}

func noTombstones(rs []rec) []rec {
	return slices.DeleteFunc(slices.Clone(rs), func(r rec) bool { return r.tomb })
}

func sameRecs(t testing.TB, what string, got, want []rec) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d records, want %d\ngot  %v\nwant %v", what, len(got), len(want), got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("%s: record %d is %+v, want %+v", what, i, got[i], want[i])
		}
	}
}

// checkIndexes verifies every segment's offset index entry points at the
// start of the batch whose last offset it names, time index entries
// increase and stay within the segment, and each record offset is found.
func checkIndexes(t testing.TB, l *Log, rs []rec) {
	t.Helper()
	l.mu.RLock()
	segs := slices.Clone(l.mu.segs)
	l.mu.RUnlock()
	for _, s := range segs {
		s.idx.mu.Lock()
		if err := s.ensureLoadedLocked(s.idx, s.size); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < s.idx.n(); i++ {
			var hb [record.HeaderSize]byte
			if _, err := s.log.ReadAt(hb[:], s.idx.posAt(i)); err != nil {
				t.Fatal(err)
			}
			h, _ := record.ParseHeader(hb[:])
			if h.LastOffset() != s.idx.offsetAt(s.base, i) {
				t.Fatalf("%s: index entry %d says offset %d at %d, batch there ends at %d", s.path, i, s.idx.offsetAt(s.base, i), s.idx.posAt(i), h.LastOffset())
			}
		}
		s.idx.mu.Unlock()
		s.tidx.mu.Lock()
		if err := s.ensureLoadedLocked(s.tidx, s.size); err != nil {
			t.Fatal(err)
		}
		if err := s.tidx.checkLocked(s.base, s.size); err != nil {
			t.Fatal(err)
		}
		s.tidx.mu.Unlock()
	}
	for _, r := range rs {
		sl, err := l.Read(r.off, 1, l.LogEndOffset(), true)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := sl.Bytes()
		h, err := record.ParseHeader(b)
		if err != nil || h.BaseOffset > r.off || h.LastOffset() < r.off {
			t.Fatalf("read at %d gives batch %d..%d (%v)", r.off, h.BaseOffset, h.LastOffset(), err)
		}
	}
}

func compactConfig() Config {
	c := testConfig()
	c.Compact = true
	c.SegmentBytes = 1024
	c.IndexIntervalBytes = 100
	c.MinCleanableDirtyRatio = 0.01
	c.RetentionMs = -1
	return c
}

// fillUpdates appends rounds of updates to keys k0..k(keys-1), 4 records a
// batch, with timestamps from ts, and returns every record written.
func fillUpdates(t testing.TB, l *Log, keys, rounds int, ts int64) []rec {
	t.Helper()
	return fillUpdatesP(t, l, "k", keys, rounds, ts)
}

func fillUpdatesP(t testing.TB, l *Log, prefix string, keys, rounds int, ts int64) []rec {
	t.Helper()
	var all []rec
	var batch []kv
	flush := func() {
		if len(batch) == 0 {
			return
		}
		info := mustAppend(t, l, kvBatch(t, ts, -1, batch...), 1)
		for i, r := range batch {
			all = append(all, rec{off: info.BaseOffset + int64(i), ts: ts + int64(i), key: r.key, value: r.value, tomb: r.tomb})
		}
		ts += 10
		batch = nil
	}
	for round := range rounds {
		for k := range keys {
			batch = append(batch, put(fmt.Sprintf("%s%d", prefix, k), fmt.Sprintf("v%d-%d", k, round)))
			if len(batch) == 4 {
				flush()
			}
		}
	}
	flush()
	return all
}

func cleanT(t testing.TB, l *Log, first, upper int64, maxKeys int) CleanResult {
	t.Helper()
	res, err := l.Clean(context.Background(), CleanOptions{FirstDirty: first, Upper: upper, MaxKeys: maxKeys})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// TestCleanConverges: many updates per key converge to the last record of
// each key, at its original offset; the active segment is untouched;
// indexes are valid; segments are grouped; the result survives clean and
// unclean reopening.
func TestCleanConverges(t *testing.T) {
	dir := t.TempDir()
	c := &clock{}
	c.set(1_000_000)
	cfg := compactConfig()
	l := openT(t, dir, cfg, Options{Now: c.now})
	all := fillUpdates(t, l, 10, 30, 1000)
	if err := l.Roll(); err != nil {
		t.Fatal(err)
	}
	// Updates in the active segment stay as they are.
	tail := fillUpdates(t, l, 3, 1, 5000)
	for i := range tail {
		tail[i].off += 0
	}
	all = append(all, tail...)
	leo := l.LogEndOffset()
	active := l.mu.segs[len(l.mu.segs)-1]
	activeBytes, _ := os.ReadFile(active.path)
	segsBefore := l.NumSegments()

	ratio, due := l.CleaningDue(0, leo)
	if !due || ratio < 0.99 {
		t.Fatalf("CleaningDue = %v, %v on a never-cleaned log", ratio, due)
	}
	res := cleanT(t, l, 0, leo, 0)
	if res.NextDirty != active.base {
		t.Fatalf("checkpoint %d, want the active segment's base %d", res.NextDirty, active.base)
	}
	if _, due := l.CleaningDue(res.NextDirty, leo); due {
		t.Fatal("still due after a pass")
	}
	// Segments are grouped by their size before cleaning (as Kafka does),
	// then the small results are merged up to segment.bytes.
	if n := l.NumSegments(); n >= segsBefore || n > 3 {
		t.Fatalf("%d segments after cleaning (from %d): small cleaned segments should be grouped", n, segsBefore)
	}
	if b, _ := os.ReadFile(active.path); !bytes.Equal(b, activeBytes) || l.LogEndOffset() != leo {
		t.Fatal("the active segment changed")
	}
	got, _ := readRecords(t, l)
	// Below the active segment: the latest per key; in it: everything.
	var want []rec
	var clean []rec
	for _, r := range all {
		if r.off < active.base {
			clean = append(clean, r)
		}
	}
	want = latest(clean)
	for _, r := range all {
		if r.off >= active.base {
			want = append(want, r)
		}
	}
	sameRecs(t, "after cleaning", got, want)
	checkIndexes(t, l, got)

	// A second pass with nothing new changes nothing.
	before := segFileSet(t, dir)
	cleanT(t, l, res.NextDirty, leo, 0)
	if after := segFileSet(t, dir); !maps.Equal(before, after) {
		t.Fatalf("an idle pass rewrote files: %v -> %v", before, after)
	}

	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	for _, opts := range []Options{{Clean: true, RecoveryPoint: leo}, {}} {
		l2 := openT(t, dir, cfg, opts)
		got2, _ := readRecords(t, l2)
		sameRecs(t, fmt.Sprintf("reopened (clean=%v)", opts.Clean), got2, want)
		checkIndexes(t, l2, got2)
		if err := l2.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func segFileSet(t testing.TB, dir string) map[string]int64 {
	t.Helper()
	m := map[string]int64{}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if st, err := e.Info(); err == nil {
			m[e.Name()] = st.ModTime().UnixNano()
		}
	}
	return m
}

// TestCleanTombstones: a tombstone removes its key's older records at once
// and is itself removed only delete.retention.ms after the pass that first
// saw it (KIP-534's delete horizon, kept in the batch); the horizon makes
// the log due again on its own.
func TestCleanTombstones(t *testing.T) {
	dir := t.TempDir()
	c := &clock{}
	c.set(1_000_000)
	cfg := compactConfig()
	cfg.DeleteRetentionMs = 60_000
	l := openT(t, dir, cfg, Options{Now: c.now})
	defer l.Close()
	all := fillUpdates(t, l, 6, 5, 1000)
	for k := 0; k < 6; k += 2 {
		info := mustAppend(t, l, kvBatch(t, 2000, -1, del(fmt.Sprintf("k%d", k))), 1)
		all = append(all, rec{off: info.BaseOffset, ts: 2000, key: fmt.Sprintf("k%d", k), tomb: true})
	}
	if err := l.Roll(); err != nil {
		t.Fatal(err)
	}
	leo := l.LogEndOffset()
	res := cleanT(t, l, 0, leo, 0)
	got, hs := readRecords(t, l)
	sameRecs(t, "first pass keeps tombstones", got, latest(all))
	for _, h := range hs {
		if rs, _ := l.Read(h.BaseOffset, 1, leo, true); rs.Size > 0 {
			b, _ := rs.Bytes()
			recs, _ := record.Records(b)
			hasTomb := slices.ContainsFunc(recs, func(r record.Record) bool { return r.Value == nil })
			at, ok := h.DeleteHorizon()
			if hasTomb && (!ok || at != c.now().UnixMilli()+60_000) {
				t.Fatalf("batch %d with tombstones: horizon %d %v, want now+delete.retention.ms", h.BaseOffset, at, ok)
			}
		}
	}
	if _, due := l.CleaningDue(res.NextDirty, leo); due {
		t.Fatal("due before the delete horizon")
	}
	c.advance(59_999)
	if _, due := l.CleaningDue(res.NextDirty, leo); due {
		t.Fatal("due before the delete horizon")
	}
	// A pass now still keeps them.
	cleanT(t, l, res.NextDirty, leo, 0)
	got, _ = readRecords(t, l)
	sameRecs(t, "pass before the horizon", got, latest(all))
	c.advance(1)
	if _, due := l.CleaningDue(res.NextDirty, leo); !due {
		t.Fatal("not due once the delete horizon passed")
	}
	cleanT(t, l, res.NextDirty, leo, 0)
	got, _ = readRecords(t, l)
	sameRecs(t, "after the horizon", got, noTombstones(latest(all)))
	checkIndexes(t, l, got)
	if _, due := l.CleaningDue(res.NextDirty, leo); due {
		t.Fatal("still due with no tombstones left")
	}
}

// TestCleanBounds: nothing at or above the upper bound (the high watermark /
// last stable offset) or younger than min.compaction.lag.ms is cleaned.
func TestCleanBounds(t *testing.T) {
	dir := t.TempDir()
	c := &clock{}
	c.set(100_000)
	cfg := compactConfig()
	cfg.MinCompactionLagMs = 50_000
	l := openT(t, dir, cfg, Options{Now: c.now})
	defer l.Close()
	// Old records (ts ~1000), then young ones (ts ~90_000).
	old := fillUpdates(t, l, 5, 10, 1000)
	l.Roll()
	young := fillUpdates(t, l, 5, 10, 90_000)
	l.Roll()
	leo := l.LogEndOffset()
	l.mu.RLock()
	youngBase := int64(-1)
	for _, s := range l.mu.segs {
		if s.base >= young[0].off && youngBase < 0 {
			youngBase = s.base
		}
	}
	l.mu.RUnlock()
	res := cleanT(t, l, 0, leo, 0)
	if res.NextDirty != youngBase {
		t.Fatalf("checkpoint %d, want %d (the first segment younger than min.compaction.lag.ms)", res.NextDirty, youngBase)
	}
	got, _ := readRecords(t, l)
	sameRecs(t, "with min.compaction.lag.ms", got, append(latest(old), young...))

	// The lag has passed, but the upper bound stops in the middle of the
	// young part: only segments wholly below it are cleaned.
	c.advance(100_000)
	upper := young[len(young)/2].off
	res = cleanT(t, l, res.NextDirty, upper, 0)
	if res.NextDirty > upper {
		t.Fatalf("checkpoint %d beyond the upper bound %d", res.NextDirty, upper)
	}
	got, _ = readRecords(t, l)
	for _, r := range young {
		if r.off >= upper && !slices.Contains(got, r) {
			t.Fatalf("record %+v at or above the upper bound %d was removed", r, upper)
		}
	}
	res = cleanT(t, l, res.NextDirty, leo, 0)
	got, _ = readRecords(t, l)
	sameRecs(t, "everything cleanable", got, latest(append(old, young...)))
}

// TestCleanKeyBudget: with a key map smaller than the dirty range, each
// pass cleans a prefix and moves the checkpoint; passes converge.
func TestCleanKeyBudget(t *testing.T) {
	dir := t.TempDir()
	cfg := compactConfig()
	l := openT(t, dir, cfg, Options{})
	defer l.Close()
	var all []rec
	for round := range 3 {
		all = append(all, fillUpdates(t, l, 40, 1, int64(1000+round*1000))...)
	}
	l.Roll()
	leo := l.LogEndOffset()
	first := int64(0)
	for i := 0; ; i++ {
		if i > 50 {
			t.Fatal("no convergence")
		}
		res := cleanT(t, l, first, leo, 12)
		if res.MapKeys > 12 {
			t.Fatalf("map of %d keys with a budget of 12", res.MapKeys)
		}
		got, _ := readRecords(t, l)
		for _, r := range latest(all) {
			if !slices.Contains(got, r) {
				t.Fatalf("pass %d lost the latest record %+v", i, r)
			}
		}
		if res.NextDirty <= first && res.NextDirty != leo {
			t.Fatalf("pass %d: checkpoint %d did not move from %d", i, res.NextDirty, first)
		}
		first = res.NextDirty
		if first >= leo {
			break
		}
	}
	got, _ := readRecords(t, l)
	sameRecs(t, "after budgeted passes", got, latest(all))
}

// TestCleanKeepsProducerState: an idempotent producer's last batch stays
// (emptied, with its lastOffsetDelta and sequence) when all its records are
// superseded; earlier emptied batches go. Keyless records are dropped, as
// Kafka's cleaner does.
func TestCleanKeepsProducerState(t *testing.T) {
	dir := t.TempDir()
	l := openT(t, dir, compactConfig(), Options{})
	defer l.Close()
	b1 := mustAppend(t, l, kvBatch(t, 1000, 7, put("a", "1"), put("b", "1")), 1)
	b2 := mustAppend(t, l, kvBatch(t, 1000, 7, put("a", "2"), put("b", "2"), put("c", "2")), 1)
	mustAppend(t, l, kvBatch(t, 1000, -1, put("a", "3"), put("b", "3"), put("c", "3")), 1)
	l.Roll()
	cleanT(t, l, 0, l.LogEndOffset(), 0)
	got, hs := readRecords(t, l)
	if len(got) != 3 || got[0].value != "3" {
		t.Fatalf("records %+v", got)
	}
	if len(hs) != 2 || hs[0].BaseOffset != b2.BaseOffset || hs[0].NumRecords != 0 || hs[0].LastOffsetDelta != 2 ||
		hs[0].ProducerID != 7 || hs[0].LastSequence() != 2 {
		t.Fatalf("batches %+v: want producer 7's last batch (at %d) kept empty, its first (at %d) gone", hs, b2.BaseOffset, b1.BaseOffset)
	}
}

// TestCleanConcurrentReaders: readers going through the log while passes
// swap segments never see a bad or out-of-order batch, and always see the
// latest value of every key.
func TestCleanConcurrentReaders(t *testing.T) {
	dir := t.TempDir()
	cfg := compactConfig()
	cfg.FileDeleteDelayMs = 200
	l := openT(t, dir, cfg, Options{})
	defer l.Close()
	var all []rec
	for round := range 5 {
		all = append(all, fillUpdates(t, l, 8, 5, int64(1000+round))...)
		l.Roll()
	}
	want := latest(all)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				got, _ := readRecords(t, l)
				for _, r := range want {
					if !slices.Contains(got, r) {
						t.Errorf("reader missed %+v", r)
						return
					}
				}
			}
		}()
	}
	first := int64(0)
	for round := range 20 {
		fillUpdatesP(t, l, "other", 8, 1, int64(10_000+round))
		l.Roll()
		res := cleanT(t, l, first, l.LogEndOffset(), 1+rand.Intn(20))
		first = res.NextDirty
	}
	close(stop)
	wg.Wait()
}

// TestCleanAbortsWhenLogChanges: a truncation or retention between reading
// and swapping drops the pass; nothing changes on disk.
func TestCleanAbortsWhenLogChanges(t *testing.T) {
	dir := t.TempDir()
	l := openT(t, dir, compactConfig(), Options{})
	defer l.Close()
	fillUpdates(t, l, 5, 20, 1000)
	l.Roll()
	l.noteTruncation(l.LogEndOffset()) // as if TruncateTo ran during the pass
	l.mu.RLock()
	segs := slices.Clone(l.mu.segs[:2])
	l.mu.RUnlock()
	ns := newSegmentStruct(dir, segs[0].base, 100)
	if err := l.swapIn(segs, ns); err != errCleanAborted {
		t.Fatalf("swap after a truncation: %v", err)
	}
}

// copyDir copies the regular files of src into a new temp dir.
func copyDir(t *testing.T, src string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), filepath.Base(src))
	if err := os.MkdirAll(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(src)
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// TestCleanCrashDuringSwap leaves the files as a kill -9 would at each step
// of a swap and checks that opening the log gives either the old or the
// new content of the swapped range, valid, with valid indexes.
func TestCleanCrashDuringSwap(t *testing.T) {
	cfg := compactConfig()
	cfg.SegmentBytes = 4096
	base := filepath.Join(t.TempDir(), "t-0")
	l := openT(t, base, compactConfig(), Options{}) // 1 KiB segments
	all := fillUpdates(t, l, 6, 20, 1000)
	l.Roll()
	l.Close()
	before := copyDir(t, base)
	l = openT(t, base, cfg, Options{Clean: true, RecoveryPoint: 1 << 40})
	cleanT(t, l, 0, l.LogEndOffset(), 0)
	cleaned, _ := readRecords(t, l)
	l.mu.RLock()
	groupEnd := l.mu.segs[1].base // the first cleaned segment covers [0, groupEnd)
	l.mu.RUnlock()
	l.Close()
	after := base
	newSeg, err := os.ReadFile(filepath.Join(after, segmentName(0)+logSuffix))
	if err != nil {
		t.Fatal(err)
	}
	oldLogs := segFiles(t, before, logSuffix)
	var group []string // old segments replaced by the first cleaned one
	for _, p := range oldLogs {
		if b, _ := parseBase(filepath.Base(p), logSuffix); b < groupEnd {
			group = append(group, filepath.Base(p))
		}
	}
	if len(group) < 2 {
		t.Fatalf("want a group of several segments, got %v", group)
	}
	var oldRecs, newRecs []rec
	for _, r := range all {
		if r.off >= groupEnd {
			oldRecs = append(oldRecs, r)
		}
	}
	for _, r := range cleaned {
		if r.off < groupEnd {
			newRecs = append(newRecs, r)
		}
	}
	wantNew := append(slices.Clone(newRecs), oldRecs...)

	deleteFiles := func(dir string, names []string, n int) {
		for _, name := range names[:n] {
			for _, suf := range []string{logSuffix, indexSuffix, timeIndexSuffix} {
				p := filepath.Join(dir, trimExt(name)+suf)
				os.Rename(p, p+deletedSuffix)
			}
		}
	}
	cases := []struct {
		name  string
		setup func(dir string)
		want  []rec
	}{
		{"cleaned file written, not committed", func(dir string) {
			os.WriteFile(filepath.Join(dir, segmentName(0)+logSuffix+cleanedSuffix), newSeg, 0o644)
		}, all},
		{"torn cleaned file", func(dir string) {
			os.WriteFile(filepath.Join(dir, segmentName(0)+logSuffix+cleanedSuffix), newSeg[:len(newSeg)/2], 0o644)
		}, all},
		{"committed: swap file, old segments in place", func(dir string) {
			os.WriteFile(filepath.Join(dir, segmentName(0)+logSuffix+swapSuffix), newSeg, 0o644)
		}, wantNew},
		{"some old segments renamed to .deleted", func(dir string) {
			os.WriteFile(filepath.Join(dir, segmentName(0)+logSuffix+swapSuffix), newSeg, 0o644)
			deleteFiles(dir, group, 1)
		}, wantNew},
		{"all old segments renamed to .deleted", func(dir string) {
			os.WriteFile(filepath.Join(dir, segmentName(0)+logSuffix+swapSuffix), newSeg, 0o644)
			deleteFiles(dir, group, len(group))
		}, wantNew},
		{"swap renamed, indexes not written", func(dir string) {
			deleteFiles(dir, group, len(group))
			os.WriteFile(filepath.Join(dir, segmentName(0)+logSuffix), newSeg, 0o644)
		}, wantNew},
	}
	for _, tc := range cases {
		for _, opts := range []Options{{}, {RecoveryPoint: 1 << 40}} {
			t.Run(fmt.Sprintf("%s/recovery-point=%d", tc.name, opts.RecoveryPoint), func(t *testing.T) {
				dir := copyDir(t, before)
				tc.setup(dir)
				l := openT(t, dir, cfg, opts)
				defer l.Close()
				got, _ := readRecords(t, l)
				sameRecs(t, "recovered", got, tc.want)
				checkIndexes(t, l, got)
				for _, suf := range []string{swapSuffix, cleanedSuffix, deletedSuffix} {
					if left := segFiles(t, dir, suf); len(left) > 0 {
						t.Fatalf("leftover %v", left)
					}
				}
				// And it compacts to the same result.
				cleanT(t, l, 0, l.LogEndOffset(), 0)
				got, _ = readRecords(t, l)
				sameRecs(t, "recovered then cleaned", got, latest(all))
			})
		}
	}
}

func trimExt(name string) string { return name[:20] }

// TestManagerCleaner: the Manager cleans compacted logs that are due, below
// upperFor's bound, leaves delete-policy logs alone, and keeps
// cleaner-offset-checkpoint (Kafka's format) across a restart; a partition
// deleted and re-created starts dirty from its log start again.
func TestManagerCleaner(t *testing.T) {
	dir := t.TempDir()
	m, err := OpenManager([]string{dir}, quietLogger())
	if err != nil {
		t.Fatal(err)
	}
	cfg := compactConfig()
	l, err := m.GetOrCreate("c", 0, [16]byte{1}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	plain := cfg
	plain.Compact = false
	lp, err := m.GetOrCreate("p", 0, [16]byte{2}, plain)
	if err != nil {
		t.Fatal(err)
	}
	all := fillUpdates(t, l, 5, 20, 1000)
	l.Roll()
	fillUpdates(t, lp, 5, 20, 1000)
	lp.Roll()
	plainSize := lp.Size()
	upper := func(topic string, p int32) int64 { return m.Get(topic, p).LogEndOffset() }
	ccfg := CleanerConfig{MaxKeys: 1000}
	if !m.CleanOnce(context.Background(), ccfg, upper) {
		t.Fatal("nothing cleaned")
	}
	got, _ := readRecords(t, l)
	sameRecs(t, "managed log", got, latest(all))
	if lp.Size() != plainSize {
		t.Fatal("a delete-policy log was compacted")
	}
	ck := m.CleanerCheckpoint("c", 0)
	if ck != l.LogEndOffset() {
		t.Fatalf("cleaner checkpoint %d, want %d", ck, l.LogEndOffset())
	}
	b, err := os.ReadFile(filepath.Join(dir, CleanerOffsetCheckpoint))
	if err != nil || string(b) != fmt.Sprintf("0\n1\nc 0 %d\n", ck) {
		t.Fatalf("cleaner-offset-checkpoint: %q %v", b, err)
	}
	// Nothing is due now; a bound of -1 (partition not hosted) skips it.
	if m.CleanOnce(context.Background(), ccfg, upper) {
		t.Fatal("cleaned again with nothing dirty")
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	m, err = OpenManager([]string{dir}, quietLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if got := m.CleanerCheckpoint("c", 0); got != ck {
		t.Fatalf("checkpoint after restart %d, want %d", got, ck)
	}
	l, _ = m.GetOrCreate("c", 0, [16]byte{1}, cfg)
	if m.CleanOnce(context.Background(), ccfg, upper) {
		t.Fatal("cleaned after a restart with nothing dirty")
	}
	// Delete and re-create: the old checkpoint must not apply.
	if err := m.Delete("c", 0); err != nil {
		t.Fatal(err)
	}
	if got := m.CleanerCheckpoint("c", 0); got != -1 {
		t.Fatalf("checkpoint %d kept for a deleted partition", got)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, CleanerOffsetCheckpoint)); string(b) != "0\n0\n" {
		t.Fatalf("cleaner-offset-checkpoint after the delete: %q", b)
	}
	l, _ = m.GetOrCreate("c", 0, [16]byte{3}, cfg)
	all = fillUpdates(t, l, 3, 10, 1000)
	l.Roll()
	if !m.CleanOnce(context.Background(), ccfg, upper) {
		t.Fatal("re-created partition not cleaned")
	}
	got, _ = readRecords(t, l)
	sameRecs(t, "re-created log", got, latest(all))

	// RunCleaner does the same in the background and stops with Close.
	fillUpdates(t, l, 3, 10, 2000)
	l.Roll()
	m.RunCleaner(context.Background(), CleanerConfig{Backoff: 10 * 1e6}, upper)
	deadline := 500
	for m.CleanerCheckpoint("c", 0) != l.LogEndOffset() && deadline > 0 {
		deadline--
		sleepMs(10)
	}
	if deadline == 0 {
		t.Fatal("RunCleaner did not clean")
	}
}

func sleepMs(n int) { <-time.After(time.Duration(n) * time.Millisecond) }

// txnBatch builds a transactional data batch of producer pid.
func txnBatch(t testing.TB, pid int64, seq int32, kvs ...kv) []byte {
	t.Helper()
	recs := make([]record.Record, len(kvs))
	for i, r := range kvs {
		recs[i] = record.Record{Key: []byte(r.key), Value: []byte(r.value)}
	}
	b, err := record.Build(record.BatchSpec{BaseTimestamp: 1000, Attributes: record.AttrTransactional,
		ProducerID: pid, ProducerEpoch: 0, BaseSequence: seq}, recs)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestCleanTransactions: records of an aborted transaction are removed
// (and never shadow an older committed value); a committed transaction's
// records are compacted like others; a marker stays while its transaction
// has data in the log, and otherwise until delete.retention.ms after the
// pass that first saw it.
func TestCleanTransactions(t *testing.T) {
	dir := t.TempDir()
	c := &clock{}
	c.set(1_000_000)
	cfg := compactConfig()
	cfg.DeleteRetentionMs = 1000
	l := openT(t, dir, cfg, Options{Now: c.now})
	defer l.Close()
	mustAppend(t, l, kvBatch(t, 1000, -1, put("a", "plain-1"), put("b", "plain-1")), 1)
	// Producer 10 commits a=committed; producer 11 aborts b=aborted.
	mustAppend(t, l, txnBatch(t, 10, 0, put("a", "committed")), 1)
	ab := mustAppend(t, l, txnBatch(t, 11, 0, put("b", "aborted"), put("c", "aborted")), 1)
	mustAppend(t, l, record.BuildControl(10, 0, record.ControlCommit, 0, 1000), 1)
	abortMarker := mustAppend(t, l, record.BuildControl(11, 0, record.ControlAbort, 0, 1000), 1)
	l.Roll()
	aborted := []AbortedTxn{{ProducerID: 11, FirstOffset: ab.BaseOffset, LastOffset: abortMarker.BaseOffset}}
	pass := func() (CleanResult, []rec, []record.Header) {
		res, err := l.Clean(context.Background(), CleanOptions{FirstDirty: 0, Upper: l.LogEndOffset(), Aborted: aborted})
		if err != nil {
			t.Fatal(err)
		}
		got, hs := readRecords(t, l)
		return res, got, hs
	}
	_, got, hs := pass()
	var data []rec
	for _, r := range got {
		if r.key == "a" || r.key == "b" || r.key == "c" {
			data = append(data, r)
		}
	}
	if len(data) != 2 || data[0].key != "b" || data[0].value != "plain-1" || data[1].key != "a" || data[1].value != "committed" {
		t.Fatalf("after the first pass: %+v; want b=plain-1 (the aborted b must not shadow it) and a=committed", data)
	}
	markers := func(hs []record.Header) (n int) {
		for _, h := range hs {
			if h.IsControl() {
				n++
			}
		}
		return n
	}
	if markers(hs) != 2 {
		t.Fatalf("%d markers after the first pass, want both (horizon not passed)", markers(hs))
	}
	c.advance(1001)
	if _, due := l.CleaningDue(l.LogEndOffset(), l.LogEndOffset()); !due {
		t.Fatal("not due when the markers' horizon passed")
	}
	_, got, hs = pass()
	// Producer 11's aborted batch is its last: it stays, emptied. The abort
	// marker goes (its data is gone); the commit marker stays while
	// a=committed is in the log.
	if markers(hs) != 1 {
		t.Fatalf("%d markers after the horizon, want only the commit marker: %+v", markers(hs), hs)
	}
	for _, h := range hs {
		if h.IsControl() && h.ProducerID != 10 {
			t.Fatalf("marker of producer %d kept", h.ProducerID)
		}
	}
	// The kept commit marker's horizon has passed: that alone must not
	// make the log due over and over.
	if _, due := l.CleaningDue(l.LogEndOffset(), l.LogEndOffset()); due {
		t.Fatal("due again because of a marker kept for its transaction's data")
	}
}

// TestCleanMaxCompactionLag: a log below min.cleanable.dirty.ratio becomes
// due once its oldest dirty record is older than max.compaction.lag.ms.
func TestCleanMaxCompactionLag(t *testing.T) {
	dir := t.TempDir()
	c := &clock{}
	c.set(10_000)
	cfg := compactConfig()
	cfg.MinCleanableDirtyRatio = 0.99
	cfg.MaxCompactionLagMs = 5_000
	l := openT(t, dir, cfg, Options{Now: c.now})
	defer l.Close()
	fillUpdates(t, l, 5, 20, 9_000)
	l.Roll()
	res := cleanT(t, l, 0, l.LogEndOffset(), 0)
	fillUpdates(t, l, 5, 2, 10_000) // a little dirty data on a big clean part
	l.Roll()
	if ratio, due := l.CleaningDue(res.NextDirty, l.LogEndOffset()); due || ratio >= 0.99 {
		t.Fatalf("due (ratio %v) below min.cleanable.dirty.ratio and max.compaction.lag.ms", ratio)
	}
	c.advance(4_990) // the first dirty batch's timestamp is 10_003
	if _, due := l.CleaningDue(res.NextDirty, l.LogEndOffset()); due {
		t.Fatal("due before max.compaction.lag.ms")
	}
	c.advance(20)
	if _, due := l.CleaningDue(res.NextDirty, l.LogEndOffset()); !due {
		t.Fatal("not due after max.compaction.lag.ms")
	}
}
