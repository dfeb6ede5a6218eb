package log

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// retentionLog makes 5 segments of 2 batches (10 records each): segment i
// holds offsets 20i..20i+19 with timestamps 1000*i.
func retentionLog(t *testing.T, cfg Config, c *clock) *Log {
	t.Helper()
	l := openT(t, t.TempDir(), cfg, Options{Now: c.now})
	for i := range 5 {
		mustAppend(t, l, mkBatch(t, 10, 50, int64(1000*i)), 0)
		mustAppend(t, l, mkBatch(t, 10, 50, int64(1000*i+1)), 0)
		if i < 4 {
			if err := l.Roll(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if l.NumSegments() != 5 {
		t.Fatalf("%d segments", l.NumSegments())
	}
	return l
}

func TestRetentionByTime(t *testing.T) {
	c := &clock{}
	cfg := testConfig()
	cfg.RetentionMs = 2500
	l := retentionLog(t, cfg, c)
	defer l.Close()
	c.set(4000) // segments with max ts < 1500 are older than 2500 ms
	n, err := l.ApplyRetention(l.LogEndOffset())
	if err != nil || n != 2 {
		t.Fatalf("deleted %d, %v", n, err)
	}
	if l.LogStartOffset() != 40 || l.NumSegments() != 3 {
		t.Fatalf("start %d segs %d", l.LogStartOffset(), l.NumSegments())
	}
	if _, err := l.Read(39, 100, 100, true); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("read below start: %v", err)
	}
	// The high watermark protects segments it has not passed.
	c.set(100_000)
	n, err = l.ApplyRetention(60)
	if err != nil || n != 1 || l.LogStartOffset() != 60 {
		t.Fatalf("deleted %d, start %d, %v", n, l.LogStartOffset(), err)
	}
	// Everything expired: the active segment goes too, after a roll.
	n, err = l.ApplyRetention(l.LogEndOffset())
	if err != nil || n != 2 {
		t.Fatalf("deleted %d, %v", n, err)
	}
	if l.LogStartOffset() != 100 || l.LogEndOffset() != 100 || l.NumSegments() != 1 || l.Size() != 0 {
		t.Fatalf("start %d end %d segs %d size %d", l.LogStartOffset(), l.LogEndOffset(), l.NumSegments(), l.Size())
	}
	if info := mustAppend(t, l, mkBatch(t, 1, 1, 200_000), 0); info.BaseOffset != 100 {
		t.Fatalf("append at %d", info.BaseOffset)
	}
	if n, _ := l.ApplyRetention(l.LogEndOffset()); n != 0 {
		t.Fatal("deleted fresh data")
	}
	if m, _ := filepath.Glob(filepath.Join(l.Dir(), "*.deleted")); len(m) != 0 {
		t.Fatalf("deleted files left: %v", m)
	}
}

func TestRetentionBySize(t *testing.T) {
	c := &clock{}
	cfg := testConfig()
	cfg.RetentionMs = -1
	l := retentionLog(t, cfg, c)
	defer l.Close()
	seg := l.Size() / 5
	cfg.RetentionBytes = 2*seg + seg/2
	l.UpdateConfig(cfg)
	n, err := l.ApplyRetention(l.LogEndOffset())
	if err != nil || n != 2 || l.LogStartOffset() != 40 {
		t.Fatalf("deleted %d start %d %v", n, l.LogStartOffset(), err)
	}
	if l.Size() > 3*seg {
		t.Fatalf("size %d", l.Size())
	}
	if hs := readAll(t, l, 40); len(hs) != 6 {
		t.Fatalf("%d batches left", len(hs))
	}
}

func TestFileDeleteDelay(t *testing.T) {
	c := &clock{}
	cfg := testConfig()
	cfg.RetentionMs = 10
	cfg.FileDeleteDelayMs = 200
	l := retentionLog(t, cfg, c)
	s, err := l.Read(0, 1<<20, l.LogEndOffset(), true)
	if err != nil {
		t.Fatal(err)
	}
	c.set(10_000)
	if n, err := l.ApplyRetention(60); err != nil || n != 3 {
		t.Fatalf("%d %v", n, err)
	}
	if m, _ := filepath.Glob(filepath.Join(l.Dir(), "*.log.deleted")); len(m) != 3 {
		t.Fatalf("renamed files: %v", m)
	}
	// The slice of a deleted segment still reads.
	if b, err := s.Bytes(); err != nil || int64(len(b)) != s.Size {
		t.Fatalf("in-flight read: %d %v", len(b), err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		m, _ := filepath.Glob(filepath.Join(l.Dir(), "*.deleted"))
		if len(m) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not removed: %v", m)
		}
		time.Sleep(20 * time.Millisecond)
	}
	l.Close()
}

func TestSetLogStartOffset(t *testing.T) {
	c := &clock{}
	l := retentionLog(t, testConfig(), c)
	defer l.Close()
	if err := l.SetLogStartOffset(45); err != nil {
		t.Fatal(err)
	}
	if l.LogStartOffset() != 45 || l.NumSegments() != 3 {
		t.Fatalf("start %d segs %d", l.LogStartOffset(), l.NumSegments())
	}
	// Reads at the new start get the batch containing it.
	s, err := l.Read(45, 1, 100, true)
	if err != nil || s.Offset != 40 {
		t.Fatalf("%+v %v", s, err)
	}
	if _, err := l.Read(44, 1, 100, true); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("below start: %v", err)
	}
	if err := l.SetLogStartOffset(10); err != nil || l.LogStartOffset() != 45 {
		t.Fatalf("moved back: %d %v", l.LogStartOffset(), err)
	}
	if err := l.SetLogStartOffset(101); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("beyond LEO: %v", err)
	}
	if err := l.SetLogStartOffset(100); err != nil || l.NumSegments() != 1 {
		t.Fatalf("to LEO: %v, %d segments", err, l.NumSegments())
	}
	if s, err := l.Read(100, 1, 100, true); err != nil || s.Size != 0 {
		t.Fatalf("read at LEO: %+v %v", s, err)
	}
}

func TestTruncateTo(t *testing.T) {
	c := &clock{}
	l := retentionLog(t, testConfig(), c)
	dir := l.Dir()
	cases := []struct {
		to      int64
		wantLEO int64
		segs    int
	}{
		{100, 100, 5}, // at the LEO: nothing
		{90, 90, 5},   // batch boundary inside the active segment
		{75, 70, 4},   // mid-batch in an older segment: the whole batch goes
		{60, 60, 4},   // exactly a segment base: that segment becomes empty
		{20, 20, 2},
	}
	for _, tc := range cases {
		if err := l.TruncateTo(tc.to); err != nil {
			t.Fatal(err)
		}
		if l.LogEndOffset() != tc.wantLEO || l.NumSegments() != tc.segs {
			t.Fatalf("truncate %d: LEO %d segs %d, want %d %d", tc.to, l.LogEndOffset(), l.NumSegments(), tc.wantLEO, tc.segs)
		}
		if hs := readAll(t, l, 0); len(hs) != int(tc.wantLEO/10) {
			t.Fatalf("truncate %d: %d batches", tc.to, len(hs))
		}
		if off, ts, _ := l.MaxTimestamp(); off < 0 || ts != (tc.wantLEO-1)/20*1000+((tc.wantLEO-1)/10)%2+9 {
			t.Fatalf("truncate %d: max timestamp %d at %d", tc.to, ts, off)
		}
	}
	mustAppend(t, l, mkBatch(t, 10, 50, 50_000), 0)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	for _, clean := range []bool{true, false} {
		l = openT(t, dir, testConfig(), Options{Clean: clean})
		if l.LogEndOffset() != 30 || len(readAll(t, l, 0)) != 3 {
			t.Fatalf("reopen (clean %v): LEO %d", clean, l.LogEndOffset())
		}
		if off, ts, _ := l.MaxTimestamp(); off != 29 || ts != 50_009 {
			t.Fatalf("reopen max timestamp %d %d", off, ts)
		}
		l.Close()
	}
	// Below the log start: start over there.
	l = openT(t, dir, testConfig(), Options{Clean: true})
	defer l.Close()
	if err := l.SetLogStartOffset(15); err != nil {
		t.Fatal(err)
	}
	if err := l.TruncateTo(5); err != nil {
		t.Fatal(err)
	}
	if l.LogStartOffset() != 5 || l.LogEndOffset() != 5 || l.Size() != 0 {
		t.Fatalf("start %d end %d size %d", l.LogStartOffset(), l.LogEndOffset(), l.Size())
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "*.log")); len(m) != 1 {
		t.Fatalf("files %v", m)
	}
	if _, err := os.Stat(filepath.Join(dir, segmentName(5)+logSuffix)); err != nil {
		t.Fatal(err)
	}
}
