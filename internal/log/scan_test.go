package log

import (
	"encoding/binary"
	"errors"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/quillstream/quill/internal/record"
)

func TestScanBatches(t *testing.T) {
	cfg := testConfig()
	cfg.SegmentBytes = 1 << 20
	l := openT(t, t.TempDir(), cfg, Options{})
	defer l.Close()
	var infos []AppendInfo
	for i := range 40 {
		size := 30
		if i == 17 {
			size = 300 << 10 // larger than the scan buffer
		}
		infos = append(infos, mustAppend(t, l, mkBatch(t, 3, size, int64(i)), 1))
		if i%7 == 6 {
			l.Roll()
		}
	}
	for _, from := range []int64{0, 1, 50, 51, 52, 119, 120} {
		var got []int64
		err := l.ScanBatches(from, func(h record.Header, b []byte) error {
			if _, err := record.Check(b); err != nil {
				return err
			}
			got = append(got, h.BaseOffset)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		var want []int64
		for _, in := range infos {
			if in.LastOffset >= from {
				want = append(want, in.BaseOffset)
			}
		}
		if len(got) != len(want) || (len(got) > 0 && got[0] != want[0]) {
			t.Fatalf("from %d: got %v want %v", from, got, want)
		}
	}
	stop := errors.New("stop")
	n := 0
	if err := l.ScanBatches(0, func(record.Header, []byte) error { n++; return stop }); err != stop || n != 1 {
		t.Fatalf("%v %d", err, n)
	}
}

func TestFollowerJumpsAhead(t *testing.T) {
	l := openT(t, t.TempDir(), testConfig(), Options{})
	defer l.Close()
	far := int64(math.MaxInt32) + 1000
	b := mkBatch(t, 2, 10, 1)
	record.SetBaseOffset(b, far)
	if _, err := l.AppendFollower(b); err != nil {
		t.Fatal(err)
	}
	if l.LogEndOffset() != far+2 || l.NumSegments() != 1 {
		t.Fatalf("LEO %d segs %d", l.LogEndOffset(), l.NumSegments())
	}
	b2 := mkBatch(t, 1, 10, 1)
	record.SetBaseOffset(b2, 2*far)
	if _, err := l.AppendFollower(b2); err != nil {
		t.Fatal(err)
	}
	if l.NumSegments() != 2 {
		t.Fatalf("no roll for offsets beyond int32: %d segments", l.NumSegments())
	}
	if s, err := l.Read(2*far, 100, l.LogEndOffset(), true); err != nil || s.Offset != 2*far {
		t.Fatalf("%+v %v", s, err)
	}
}

func TestStaleEpochRefused(t *testing.T) {
	l := openT(t, t.TempDir(), testConfig(), Options{})
	defer l.Close()
	mustAppend(t, l, mkBatch(t, 1, 1, 1), 5)
	if _, err := l.AppendLeader(mkBatch(t, 1, 1, 1), 4); !errors.Is(err, ErrStaleEpoch) {
		t.Fatalf("stale epoch: %v", err)
	}
	if l.LatestEpoch() != 5 || l.LogEndOffset() != 1 {
		t.Fatal("stale append changed the log")
	}
}

// An older segment's index whose contents are bad is rebuilt when first
// loaded, and rewritten on disk.
func TestLazyIndexRebuild(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig()
	cfg.SegmentBytes = 4096
	cfg.IndexIntervalBytes = 100
	l := openT(t, dir, cfg, Options{})
	for i := range 50 {
		mustAppend(t, l, mkBatch(t, 2, 30, int64(i)), 1)
	}
	l.Close()
	p := filepath.Join(dir, segmentName(0)+indexSuffix)
	b, _ := os.ReadFile(p)
	if len(b) < 16 {
		t.Fatal("index too small")
	}
	binary.BigEndian.PutUint32(b[8+4:], 1<<30) // position far past the file end
	os.WriteFile(p, b, 0o644)
	l = openT(t, dir, cfg, Options{Clean: true})
	defer l.Close()
	readAll(t, l, 0)
	fixed, _ := os.ReadFile(p)
	if len(fixed) != len(b) || binary.BigEndian.Uint32(fixed[12:]) == 1<<30 {
		t.Fatal("index not rebuilt on disk")
	}
}

func TestLogDeleteAndValidate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "x-1")
	l := openT(t, dir, testConfig(), Options{})
	mustAppend(t, l, mkBatch(t, 1, 1, 1), 0)
	if err := l.Delete(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatal("dir still there")
	}
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	bad := DefaultConfig()
	bad.SegmentBytes = 1 << 40
	if bad.Validate() == nil {
		t.Fatal("accepted segment.bytes beyond int32")
	}
	if got := l.Config(); got.SegmentBytes != DefaultConfig().SegmentBytes {
		t.Fatal(got)
	}
}

// A follower append of several batches into an empty segment still rolls
// by segment.bytes.
func TestFollowerAppendRollsBySize(t *testing.T) {
	cfg := testConfig()
	cfg.SegmentBytes = 3000
	l := openT(t, t.TempDir(), cfg, Options{})
	defer l.Close()
	var all []byte
	off := int64(0)
	for i := range 10 {
		b := mkBatch(t, 2, 500, int64(i))
		record.SetBaseOffset(b, off)
		off += 2
		all = append(all, b...)
	}
	if _, err := l.AppendFollower(all); err != nil {
		t.Fatal(err)
	}
	if l.NumSegments() < 4 {
		t.Fatalf("%d segments", l.NumSegments())
	}
	l.mu.RLock()
	for _, s := range l.mu.segs {
		if s.size > cfg.SegmentBytes {
			t.Errorf("segment %d has %d bytes", s.base, s.size)
		}
	}
	l.mu.RUnlock()
	if len(readAll(t, l, 0)) != 10 {
		t.Fatal("batches lost")
	}
}
