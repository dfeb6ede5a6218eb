package log

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/quillstream/quill/internal/record"
)

func TestTruncateFullyAndStartAt(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig()
	cfg.SegmentBytes = 400 // several segments
	cfg.FileDeleteDelayMs = 60_000
	l := openT(t, dir, cfg, Options{})
	for range 10 {
		mustAppend(t, l, mkBatch(t, 3, 20, 0), 2)
	}
	if l.NumSegments() < 2 {
		t.Fatalf("want several segments, have %d", l.NumSegments())
	}
	// A reader that started before keeps its data (renamed files).
	s, err := l.Read(0, 1<<20, l.LogEndOffset(), true)
	if err != nil {
		t.Fatal(err)
	}
	const start = 100 // beyond the log end: the leader's log start
	if err := l.TruncateFullyAndStartAt(start); err != nil {
		t.Fatal(err)
	}
	if b, err := s.Bytes(); err != nil || len(b) == 0 {
		t.Fatalf("reader in flight lost its data: %d bytes, %v", len(b), err)
	}
	if l.LogStartOffset() != start || l.LogEndOffset() != start || l.Size() != 0 || l.NumSegments() != 1 {
		t.Fatalf("start %d end %d size %d segments %d", l.LogStartOffset(), l.LogEndOffset(), l.Size(), l.NumSegments())
	}
	if e := l.EpochEntries(); len(e) != 0 {
		t.Fatalf("epoch cache not cleared: %v", e)
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "*.log")); len(m) != 1 || filepath.Base(m[0]) != segmentName(start)+logSuffix {
		t.Fatalf("segment files %v", m)
	}
	// The follower appends from there, with the leader's epochs.
	b := mkBatch(t, 2, 10, 0)
	record.SetBaseOffset(b, start)
	record.SetPartitionLeaderEpoch(b, 5)
	if _, err := l.AppendFollower(b); err != nil {
		t.Fatal(err)
	}
	if l.LogEndOffset() != start+2 || len(readAll(t, l, start)) != 1 {
		t.Fatalf("end %d after append", l.LogEndOffset())
	}
	if e := l.EpochEntries(); len(e) != 1 || e[0] != [2]int64{5, start} {
		t.Fatalf("epochs %v", e)
	}
	// Below the current start too (nothing special).
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	// It survives a reopen (clean or not) without the log start checkpoint.
	for _, clean := range []bool{true, false} {
		l = openT(t, dir, cfg, Options{Clean: clean})
		if l.LogStartOffset() != start || l.LogEndOffset() != start+2 {
			t.Fatalf("reopen clean=%v: start %d end %d", clean, l.LogStartOffset(), l.LogEndOffset())
		}
		if e := l.EpochEntries(); len(e) != 1 || e[0] != [2]int64{5, start} {
			t.Fatalf("reopen clean=%v: epochs %v", clean, e)
		}
		l.Close()
	}
}

// A crash after the old segments were renamed but before the new one was
// created leaves an empty directory: the log reopens empty at its
// checkpointed start, never with old data next to a new start.
func TestTruncateFullyCrashBetweenSteps(t *testing.T) {
	dir := t.TempDir()
	l := openT(t, dir, testConfig(), Options{})
	for range 3 {
		mustAppend(t, l, mkBatch(t, 3, 20, 0), 1)
	}
	l.Close()
	// Simulate the first step only.
	m, _ := filepath.Glob(filepath.Join(dir, "*.log"))
	for _, p := range m {
		if err := os.Rename(p, p+deletedSuffix); err != nil {
			t.Fatal(err)
		}
	}
	l = openT(t, dir, testConfig(), Options{LogStartOffset: 4})
	defer l.Close()
	if l.LogStartOffset() != 4 || l.LogEndOffset() != 4 || l.Size() != 0 {
		t.Fatalf("start %d end %d size %d", l.LogStartOffset(), l.LogEndOffset(), l.Size())
	}
	if err := l.TruncateFullyAndStartAt(50); err != nil {
		t.Fatal(err)
	}
	if l.LogStartOffset() != 50 || l.LogEndOffset() != 50 {
		t.Fatalf("start %d end %d", l.LogStartOffset(), l.LogEndOffset())
	}
}
