package log

import (
	"bytes"
	"math/rand"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/quillstream/quill/internal/record"
)

// crash simulates kill -9: the files stay as written (page cache), nothing
// is flushed, indexes kept in memory are lost.
func crash(l *Log) {
	l.bg.Wait()
	l.mu.Lock()
	l.mu.closed = true
	for _, s := range l.mu.segs {
		s.log.Close()
	}
	l.mu.Unlock()
}

func segFiles(t *testing.T, dir, suffix string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*"+suffix))
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(m)
	return m
}

// buildLog writes n batches across several small segments and returns the
// append infos.
func buildLog(t *testing.T, dir string, n int) []AppendInfo {
	t.Helper()
	cfg := testConfig()
	cfg.SegmentBytes = 2048
	cfg.IndexIntervalBytes = 128
	l := openT(t, dir, cfg, Options{})
	var infos []AppendInfo
	for i := range n {
		infos = append(infos, mustAppend(t, l, mkBatch(t, 1+i%4, 40, int64(1000+i)), int32(1+i/10)))
	}
	crash(l)
	return infos
}

// checkLog verifies a recovered log: the batches are exactly want, the
// indexes agree with the data, and the log takes appends and reopens.
func checkLog(t *testing.T, dir string, l *Log, want []AppendInfo) {
	t.Helper()
	leo := int64(0)
	if len(want) > 0 {
		leo = want[len(want)-1].LastOffset + 1
	}
	if got := l.LogEndOffset(); got != leo {
		t.Fatalf("LEO %d, want %d", got, leo)
	}
	hs := readAll(t, l, 0)
	if len(hs) != len(want) {
		t.Fatalf("%d batches, want %d", len(hs), len(want))
	}
	for i, h := range hs {
		if h.BaseOffset != want[i].BaseOffset || h.LastOffset() != want[i].LastOffset {
			t.Fatalf("batch %d: %d-%d, want %d-%d", i, h.BaseOffset, h.LastOffset(), want[i].BaseOffset, want[i].LastOffset)
		}
	}
	for _, w := range want {
		s, err := l.Read(w.LastOffset, 1, leo, true)
		if err != nil || s.Offset != w.BaseOffset {
			t.Fatalf("read %d: %+v %v", w.LastOffset, s, err)
		}
	}
	if got := l.LatestEpoch(); len(want) > 0 && got != int32(1+(len(want)-1)/10) {
		t.Fatalf("latest epoch %d after recovering %d batches", got, len(want))
	}
	info := mustAppend(t, l, mkBatch(t, 2, 10, 5000), 99)
	if info.BaseOffset != leo {
		t.Fatalf("append after recovery at %d, want %d", info.BaseOffset, leo)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l2 := openT(t, dir, testConfig(), Options{Clean: true})
	defer l2.Close()
	if l2.LogEndOffset() != leo+2 {
		t.Fatalf("clean reopen LEO %d, want %d", l2.LogEndOffset(), leo+2)
	}
	readAll(t, l2, 0)
}

func TestRecoverAfterCrash(t *testing.T) {
	const n = 60
	type damage func(t *testing.T, dir string, infos []AppendInfo) (keep int)
	lastLog := func(t *testing.T, dir string) string { m := segFiles(t, dir, ".log"); return m[len(m)-1] }
	appendBytes := func(p string, b []byte) {
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			t.Fatal(err)
		}
		f.Write(b)
		f.Close()
	}
	// lastBatchesIn counts how many of the batches live in segments before
	// the last one.
	batchesBeforeLast := func(t *testing.T, dir string, infos []AppendInfo) int {
		base, _ := parseBase(filepath.Base(lastLog(t, dir)), logSuffix)
		k := 0
		for k < len(infos) && infos[k].BaseOffset < base {
			k++
		}
		return k
	}
	cases := []struct {
		name string
		fn   damage
	}{
		{"intact", func(t *testing.T, dir string, infos []AppendInfo) int { return len(infos) }},
		{"torn tail", func(t *testing.T, dir string, infos []AppendInfo) int {
			p := lastLog(t, dir)
			st, _ := os.Stat(p)
			os.Truncate(p, st.Size()-7)
			return len(infos) - 1
		}},
		{"flipped byte in the last batch", func(t *testing.T, dir string, infos []AppendInfo) int {
			p := lastLog(t, dir)
			b, _ := os.ReadFile(p)
			b[len(b)-3] ^= 0x40
			os.WriteFile(p, b, 0o644)
			return len(infos) - 1
		}},
		{"garbage appended", func(t *testing.T, dir string, infos []AppendInfo) int {
			g := make([]byte, 777)
			rand.New(rand.NewSource(1)).Read(g)
			appendBytes(lastLog(t, dir), g)
			return len(infos)
		}},
		{"zeros appended", func(t *testing.T, dir string, infos []AppendInfo) int {
			appendBytes(lastLog(t, dir), make([]byte, 4096))
			return len(infos)
		}},
		{"a plausible header appended", func(t *testing.T, dir string, infos []AppendInfo) int {
			b := mkBatch(t, 1, 10, 0)
			record.SetBaseOffset(b, infos[len(infos)-1].LastOffset+1)
			appendBytes(lastLog(t, dir), b[:record.HeaderSize+3])
			return len(infos)
		}},
		{"a stale batch with an old offset appended", func(t *testing.T, dir string, infos []AppendInfo) int {
			b := mkBatch(t, 1, 10, 0)
			record.SetBaseOffset(b, 0)
			appendBytes(lastLog(t, dir), b)
			return len(infos)
		}},
		{"missing index files", func(t *testing.T, dir string, infos []AppendInfo) int {
			for _, p := range append(segFiles(t, dir, ".index"), segFiles(t, dir, ".timeindex")...) {
				os.Remove(p)
			}
			return len(infos)
		}},
		{"corrupt index files", func(t *testing.T, dir string, infos []AppendInfo) int {
			r := rand.New(rand.NewSource(2))
			for _, p := range append(segFiles(t, dir, ".index"), segFiles(t, dir, ".timeindex")...) {
				g := make([]byte, 24*(1+r.Intn(5)))
				r.Read(g)
				os.WriteFile(p, g, 0o644)
			}
			return len(infos)
		}},
		{"corrupt batch in a middle segment", func(t *testing.T, dir string, infos []AppendInfo) int {
			logs := segFiles(t, dir, ".log")
			p := logs[1]
			base, _ := parseBase(filepath.Base(p), logSuffix)
			b, _ := os.ReadFile(p)
			// Damage the second batch of the segment.
			first := record.BatchSize(b)
			b[first+record.HeaderSize+2] ^= 1
			os.WriteFile(p, b, 0o644)
			k := 0
			for infos[k].BaseOffset < base {
				k++
			}
			return k + 1
		}},
		{"last segment empty after roll", func(t *testing.T, dir string, infos []AppendInfo) int {
			last := infos[len(infos)-1].LastOffset + 1
			os.WriteFile(filepath.Join(dir, segmentName(last)+logSuffix), nil, 0o644)
			return len(infos)
		}},
		{"whole last segment torn away", func(t *testing.T, dir string, infos []AppendInfo) int {
			os.Truncate(lastLog(t, dir), 0)
			return batchesBeforeLast(t, dir, infos)
		}},
		{"leftover files", func(t *testing.T, dir string, infos []AppendInfo) int {
			for _, name := range []string{"00000000000000000000.log.deleted", "00000000000000000005.index.cleaned",
				"00000000000000000007.log.swap", "00000000000099999999.index", "leader-epoch-checkpoint.tmp"} {
				os.WriteFile(filepath.Join(dir, name), []byte("junk"), 0o644)
			}
			return len(infos)
		}},
		{"leader epoch checkpoint lost", func(t *testing.T, dir string, infos []AppendInfo) int {
			os.Remove(filepath.Join(dir, leaderEpochFile))
			return len(infos)
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "topic-0")
			infos := buildLog(t, dir, n)
			if len(segFiles(t, dir, ".log")) < 3 {
				t.Fatal("need several segments")
			}
			keep := c.fn(t, dir, infos)
			l := openT(t, dir, testConfig(), Options{})
			checkLog(t, dir, l, infos[:keep])
			for _, p := range segFiles(t, dir, ".deleted") {
				t.Errorf("leftover %s", p)
			}
		})
	}
}

// A clean open trusts the data and scans only the tail: damage in an early
// batch is not noticed (proving no full scan), while a bad index is rebuilt.
func TestCleanOpenTrustsFiles(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig()
	cfg.SegmentBytes = 2048
	cfg.IndexIntervalBytes = 128
	l := openT(t, dir, cfg, Options{})
	for i := range 60 {
		mustAppend(t, l, mkBatch(t, 2, 40, int64(i)), 1)
	}
	leo := l.LogEndOffset()
	l.Close()
	logs := segFiles(t, dir, ".log")
	b, _ := os.ReadFile(logs[0])
	b[record.HeaderSize+1] ^= 1 // CRC now wrong in batch 0
	os.WriteFile(logs[0], b, 0o644)
	idx := segFiles(t, dir, ".index")
	os.WriteFile(idx[0], []byte("12345"), 0o644) // impossible size
	os.WriteFile(idx[len(idx)-1], nil, 0o644)    // empty: LEO found by scanning the whole tail
	l = openT(t, dir, cfg, Options{Clean: true})
	defer l.Close()
	if l.LogEndOffset() != leo {
		t.Fatalf("LEO %d want %d", l.LogEndOffset(), leo)
	}
	s, err := l.Read(0, 1, leo, true)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := s.Bytes()
	if _, err := record.Check(got); err == nil {
		t.Fatal("clean open re-checked the CRC of an old batch")
	}
	for off := int64(1); off < leo; off += 2 {
		if s, err := l.Read(off, 1, leo, true); err != nil || s.Offset != off-1 {
			t.Fatalf("read %d: %+v %v", off, s, err)
		}
	}
}

// An unclean open re-checks only from the recovery point's segment.
func TestUncleanOpenStartsAtRecoveryPoint(t *testing.T) {
	dir := t.TempDir()
	infos := buildLog(t, dir, 60)
	logs := segFiles(t, dir, ".log")
	// Damage the first segment, which lies below the recovery point.
	b, _ := os.ReadFile(logs[0])
	b[len(b)-1] ^= 1
	os.WriteFile(logs[0], b, 0o644)
	lastBase, _ := parseBase(filepath.Base(logs[len(logs)-1]), logSuffix)
	l := openT(t, dir, testConfig(), Options{RecoveryPoint: lastBase})
	defer l.Close()
	if l.LogEndOffset() != infos[len(infos)-1].LastOffset+1 {
		t.Fatalf("LEO %d", l.LogEndOffset())
	}
}

func TestLogStartCheckpointBeyondRecoveredEnd(t *testing.T) {
	dir := t.TempDir()
	infos := buildLog(t, dir, 10)
	leo := infos[len(infos)-1].LastOffset + 1
	l := openT(t, dir, testConfig(), Options{LogStartOffset: leo + 100})
	defer l.Close()
	if l.LogStartOffset() != leo+100 || l.LogEndOffset() != leo+100 || l.NumSegments() != 1 {
		t.Fatalf("start %d end %d segs %d", l.LogStartOffset(), l.LogEndOffset(), l.NumSegments())
	}
	if info := mustAppend(t, l, mkBatch(t, 1, 1, 0), 5); info.BaseOffset != leo+100 {
		t.Fatalf("append at %d", info.BaseOffset)
	}
}

// FuzzRecover writes arbitrary bytes as a segment and opens the log
// uncleanly: it must not panic and must keep only valid batches.
func FuzzRecover(f *testing.F) {
	b1 := mkBatch(f, 3, 20, 100)
	b2 := mkBatch(f, 1, 5, 200)
	record.SetBaseOffset(b2, 3)
	f.Add(b1)
	f.Add(append(append([]byte(nil), b1...), b2...))
	f.Add(b1[:len(b1)-1])
	f.Add(append(append([]byte(nil), b1...), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x40))
	f.Add([]byte{})
	three := append(append(append([]byte(nil), b1...), b2...), b1...)
	record.SetBaseOffset(three[len(b1)+len(b2):], 4)
	bad := append([]byte(nil), three...)
	bad[len(b1)+30] ^= 0x10
	f.Add(three)
	f.Add(bad)
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, segmentName(0)+logSuffix), data, 0o644); err != nil {
			t.Fatal(err)
		}
		l, err := Open(dir, testConfig(), Options{Logger: quietLogger()})
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		kept := l.Size()
		if !bytes.HasPrefix(data, mustRead(t, l, kept)) {
			t.Fatal("recovery changed kept bytes")
		}
		next := int64(0)
		for _, h := range readAll(t, l, 0) {
			if h.BaseOffset < next {
				t.Fatalf("offsets go back: %d after %d", h.BaseOffset, next)
			}
			next = h.NextOffset()
		}
		if next != l.LogEndOffset() && kept > 0 {
			t.Fatalf("LEO %d, last batch ends at %d", l.LogEndOffset(), next)
		}
	})
}

func mustRead(t *testing.T, l *Log, n int64) []byte {
	t.Helper()
	if n == 0 {
		return nil
	}
	b := make([]byte, n)
	if _, err := l.mu.segs[0].log.ReadAt(b, 0); err != nil {
		t.Fatal(err)
	}
	return b
}

// A closed segment whose index files are lost must still answer timestamp
// lookups for its last batches: the rebuilt time index ends with the
// segment's largest timestamp (regression: the tail of such a segment was
// skipped and ListOffsets returned the next segment's first offset).
func TestRebuiltTimeIndexKeepsSegmentTail(t *testing.T) {
	dir := t.TempDir()
	infos := buildLog(t, dir, 60)
	for _, p := range append(segFiles(t, dir, ".index"), segFiles(t, dir, ".timeindex")...) {
		os.Remove(p)
	}
	l := openT(t, dir, testConfig(), Options{RecoveryPoint: infos[len(infos)-1].LastOffset + 1})
	defer l.Close()
	// buildLog's batch i holds 1+i%4 records; record j has timestamp 1000+i+j.
	for target := int64(1000); target < int64(1000+len(infos)); target++ {
		wantOff, wantTs := int64(-1), int64(-1)
		for i, info := range infos {
			for j := int64(0); j <= info.LastOffset-info.BaseOffset; j++ {
				if ts := int64(1000+i) + j; ts >= target && wantOff < 0 {
					wantOff, wantTs = info.BaseOffset+j, ts
				}
			}
		}
		off, ts, _, ok, err := l.OffsetForTimestamp(target)
		if err != nil || !ok || off != wantOff || ts != wantTs {
			t.Fatalf("timestamp %d: offset %d ts %d ok %v err %v, want offset %d ts %d", target, off, ts, ok, err, wantOff, wantTs)
		}
	}
}
