package log

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/quillstream/quill/internal/record"
	"github.com/twmb/franz-go/pkg/kerr"
)

// mkBatch builds a batch of n records with valSize-byte values; record i has
// timestamp ts+i.
func mkBatch(t testing.TB, n, valSize int, ts int64) []byte {
	t.Helper()
	recs := make([]record.Record, n)
	for i := range recs {
		v := bytes.Repeat([]byte{byte('a' + i%26)}, valSize)
		recs[i] = record.Record{Key: []byte(fmt.Sprint(i)), Value: v, TimestampDelta: int64(i)}
	}
	b, err := record.Build(record.BatchSpec{BaseTimestamp: ts}.NoProducer(), recs)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// mkBatchTs builds a batch whose records have exactly the given timestamps.
func mkBatchTs(t testing.TB, tss ...int64) []byte {
	t.Helper()
	recs := make([]record.Record, len(tss))
	for i, ts := range tss {
		recs[i] = record.Record{Value: []byte("v"), TimestampDelta: ts - tss[0]}
	}
	b, err := record.Build(record.BatchSpec{BaseTimestamp: tss[0]}.NoProducer(), recs)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type clock struct{ ms atomic.Int64 }

func (c *clock) now() time.Time  { return time.UnixMilli(c.ms.Load()) }
func (c *clock) set(ms int64)    { c.ms.Store(ms) }
func (c *clock) advance(d int64) { c.ms.Add(d) }

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func testConfig() Config {
	c := DefaultConfig()
	c.FileDeleteDelayMs = 0
	return c
}

func openT(t testing.TB, dir string, cfg Config, opts Options) *Log {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = quietLogger()
	}
	l, err := Open(dir, cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func mustAppend(t testing.TB, l *Log, b []byte, epoch int32) AppendInfo {
	t.Helper()
	info, err := l.AppendLeader(b, epoch)
	if err != nil {
		t.Fatal(err)
	}
	return info
}

// readAll reads every batch from offset from to the LEO with small reads
// and checks that each one is whole and valid.
func readAll(t testing.TB, l *Log, from int64) []record.Header {
	t.Helper()
	var out []record.Header
	off := from
	for off < l.LogEndOffset() {
		s, err := l.Read(off, 1000, l.LogEndOffset(), true)
		if err != nil {
			t.Fatalf("read %d: %v", off, err)
		}
		b, err := s.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		if len(b) == 0 {
			t.Fatalf("empty read at %d below LEO %d", off, l.LogEndOffset())
		}
		for len(b) > 0 {
			n := record.BatchSize(b)
			h, err := record.Check(b[:n])
			if err != nil {
				t.Fatalf("bad batch in read at %d: %v", off, err)
			}
			out = append(out, h)
			off = h.NextOffset()
			b = b[n:]
		}
	}
	return out
}

func TestAppendReadAcrossRolls(t *testing.T) {
	cfg := testConfig()
	cfg.SegmentBytes = 4096
	cfg.IndexIntervalBytes = 256
	l := openT(t, t.TempDir(), cfg, Options{})
	defer l.Close()
	var want []AppendInfo
	for i := range 200 {
		info := mustAppend(t, l, mkBatch(t, 1+i%5, 50, int64(1000+i)), 3)
		if len(want) > 0 && info.BaseOffset != want[len(want)-1].LastOffset+1 {
			t.Fatalf("non-contiguous offsets: %+v after %+v", info, want[len(want)-1])
		}
		want = append(want, info)
	}
	if l.NumSegments() < 5 {
		t.Fatalf("expected rolls, got %d segments", l.NumSegments())
	}
	if got := l.LogEndOffset(); got != want[len(want)-1].LastOffset+1 {
		t.Fatalf("LEO %d", got)
	}
	hs := readAll(t, l, 0)
	if len(hs) != len(want) {
		t.Fatalf("read %d batches, want %d", len(hs), len(want))
	}
	for i, h := range hs {
		if h.BaseOffset != want[i].BaseOffset || h.LastOffset() != want[i].LastOffset || h.PartitionLeaderEpoch != 3 {
			t.Fatalf("batch %d: %+v want %+v", i, h, want[i])
		}
	}
	// Every offset reads back from the batch containing it.
	for _, w := range want {
		for off := w.BaseOffset; off <= w.LastOffset; off++ {
			s, err := l.Read(off, 1, l.LogEndOffset(), true)
			if err != nil {
				t.Fatal(err)
			}
			if s.Offset != w.BaseOffset {
				t.Fatalf("read %d: batch %d, want %d", off, s.Offset, w.BaseOffset)
			}
		}
	}
	var size int64
	for _, w := range want {
		size += int64(w.Size)
	}
	if l.Size() != size {
		t.Fatalf("Size %d want %d", l.Size(), size)
	}
}

func TestRollBySegmentMs(t *testing.T) {
	cfg := testConfig()
	cfg.SegmentMs = 1000
	l := openT(t, t.TempDir(), cfg, Options{})
	defer l.Close()
	mustAppend(t, l, mkBatch(t, 1, 10, 10_000), 0)
	mustAppend(t, l, mkBatch(t, 1, 10, 10_900), 0)
	if n := l.NumSegments(); n != 1 {
		t.Fatalf("rolled too early: %d", n)
	}
	mustAppend(t, l, mkBatch(t, 1, 10, 11_001), 0)
	if n := l.NumSegments(); n != 2 {
		t.Fatalf("no time roll: %d segments", n)
	}
	// A segment without timestamps rolls by its creation time.
	c := &clock{}
	c.set(5000)
	cfg.SegmentMs = 100
	l2 := openT(t, t.TempDir(), cfg, Options{Now: c.now})
	defer l2.Close()
	mustAppend(t, l2, mkBatch(t, 1, 10, -1), 0)
	c.advance(50)
	mustAppend(t, l2, mkBatch(t, 1, 10, -1), 0)
	if n := l2.NumSegments(); n != 1 {
		t.Fatalf("rolled too early: %d", n)
	}
	c.advance(100)
	mustAppend(t, l2, mkBatch(t, 1, 10, -1), 0)
	if n := l2.NumSegments(); n != 2 {
		t.Fatalf("no time roll by creation time: %d", n)
	}
}

func TestRollWhenIndexFull(t *testing.T) {
	cfg := testConfig()
	cfg.IndexIntervalBytes = 1
	cfg.SegmentIndexBytes = 4 * timeEntrySize
	l := openT(t, t.TempDir(), cfg, Options{})
	defer l.Close()
	for i := range 20 {
		mustAppend(t, l, mkBatch(t, 1, 10, int64(i)), 0)
	}
	if n := l.NumSegments(); n < 3 {
		t.Fatalf("index-full rolls missing: %d segments", n)
	}
	readAll(t, l, 0)
}

func TestReadBoundaries(t *testing.T) {
	l := openT(t, t.TempDir(), testConfig(), Options{})
	defer l.Close()
	// Batches of 10 records each: offsets 0-9, 10-19, 20-29, 30-39.
	var sizes []int64
	for i := range 4 {
		info := mustAppend(t, l, mkBatch(t, 10, 20, int64(i*100)), 0)
		sizes = append(sizes, int64(info.Size))
	}
	one := sizes[0]
	cases := []struct {
		name      string
		off       int64
		maxBytes  int
		maxOffset int64
		minOne    bool
		wantOff   int64 // -1: empty
		wantSize  int64
		wantErr   error
	}{
		{"all", 0, 1 << 20, 40, false, 0, 4 * one, nil},
		{"mid-batch offset returns the containing batch", 15, 1 << 20, 40, false, 10, 3 * one, nil},
		{"maxBytes cuts at a batch boundary", 0, int(2*one + one/2), 40, false, 0, 2 * one, nil},
		{"maxBytes exact", 0, int(2 * one), 40, false, 0, 2 * one, nil},
		{"maxBytes below one batch, minOne", 0, 10, 40, true, 0, one, nil},
		{"maxBytes below one batch, no minOne", 0, 10, 40, false, -1, 0, nil},
		{"maxBytes zero, minOne", 20, 0, 40, true, 20, one, nil},
		{"maxOffset (HW) stops reads", 0, 1 << 20, 20, false, 0, 2 * one, nil},
		{"maxOffset beats minOne", 20, 1, 20, true, -1, 0, nil},
		{"offset == maxOffset", 10, 1 << 20, 10, true, -1, 0, nil},
		{"offset == LEO", 40, 1 << 20, 40, true, -1, 0, nil},
		{"offset > LEO", 41, 1 << 20, 50, true, -1, 0, ErrOffsetOutOfRange},
		{"negative offset", -1, 1 << 20, 50, true, -1, 0, ErrOffsetOutOfRange},
		{"maxOffset past LEO", 30, 1 << 20, 1000, false, 30, one, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, err := l.Read(c.off, c.maxBytes, c.maxOffset, c.minOne)
			if !errors.Is(err, c.wantErr) {
				t.Fatalf("err %v want %v", err, c.wantErr)
			}
			if err != nil {
				if !errors.Is(err, kerr.OffsetOutOfRange) {
					t.Fatalf("error %v does not wrap kerr.OffsetOutOfRange", err)
				}
				return
			}
			if s.Offset != c.wantOff || s.Size != c.wantSize {
				t.Fatalf("got offset %d size %d, want %d %d", s.Offset, s.Size, c.wantOff, c.wantSize)
			}
		})
	}
}

func TestIndexLookup(t *testing.T) {
	cfg := testConfig()
	cfg.IndexIntervalBytes = 200
	l := openT(t, t.TempDir(), cfg, Options{})
	defer l.Close()
	var infos []AppendInfo
	for i := range 300 {
		infos = append(infos, mustAppend(t, l, mkBatch(t, 1+i%3, 30, int64(i)), 0))
	}
	seg := l.mu.segs[0]
	seg.idx.mu.Lock()
	n := seg.idx.n()
	if n < 10 {
		t.Fatalf("only %d index entries", n)
	}
	// Entries map a batch's last offset to its start position.
	for i := range n {
		off, pos := seg.idx.offsetAt(seg.base, i), seg.idx.posAt(i)
		var b [record.HeaderSize]byte
		if _, err := seg.log.ReadAt(b[:], pos); err != nil {
			t.Fatal(err)
		}
		h, _ := record.ParseHeader(b[:])
		if h.LastOffset() != off {
			t.Fatalf("entry %d: offset %d, batch at %d ends at %d", i, off, pos, h.LastOffset())
		}
	}
	seg.idx.mu.Unlock()
	for _, info := range infos {
		pos, h, found, err := seg.translate(info.LastOffset, 0, seg.size)
		if err != nil || !found || h.BaseOffset != info.BaseOffset {
			t.Fatalf("translate %d: %d %+v %v %v", info.LastOffset, pos, h, found, err)
		}
	}
}

func TestOffsetForTimestampAndMaxTimestamp(t *testing.T) {
	cfg := testConfig()
	cfg.SegmentBytes = 300
	cfg.IndexIntervalBytes = 1
	l := openT(t, t.TempDir(), cfg, Options{})
	defer l.Close()
	if off, ts, ep := l.MaxTimestamp(); off != -1 || ts != -1 || ep != -1 {
		t.Fatalf("empty MaxTimestamp %d %d %d", off, ts, ep)
	}
	// offsets: 0:100 1:105 2:103 | 3:200 4:150 | 5:400 6:300 | 7:250
	mustAppend(t, l, mkBatchTs(t, 100, 105, 103), 1)
	mustAppend(t, l, mkBatchTs(t, 200, 150), 2)
	mustAppend(t, l, mkBatchTs(t, 400, 300), 3)
	mustAppend(t, l, mkBatchTs(t, 250), 4)
	check := func(l *Log) {
		t.Helper()
		cases := []struct {
			ts      int64
			off     int64
			wantTs  int64
			epoch   int32
			present bool
		}{
			{0, 0, 100, 1, true},
			{100, 0, 100, 1, true},
			{101, 1, 105, 1, true},
			{104, 1, 105, 1, true},
			{106, 3, 200, 2, true},
			{150, 3, 200, 2, true},
			{201, 5, 400, 3, true},
			{260, 5, 400, 3, true},
			{400, 5, 400, 3, true},
			{401, -1, -1, -1, false},
		}
		for _, c := range cases {
			off, ts, ep, ok, err := l.OffsetForTimestamp(c.ts)
			if err != nil || ok != c.present || off != c.off || ts != c.wantTs || ep != c.epoch {
				t.Errorf("OffsetForTimestamp(%d) = %d %d %d %v %v, want %d %d %d %v", c.ts, off, ts, ep, ok, err, c.off, c.wantTs, c.epoch, c.present)
			}
		}
		if off, ts, ep := l.MaxTimestamp(); off != 5 || ts != 400 || ep != 3 {
			t.Errorf("MaxTimestamp = %d %d %d", off, ts, ep)
		}
	}
	check(l)
	if l.NumSegments() < 2 {
		t.Fatalf("want several segments, got %d", l.NumSegments())
	}
	// After the log start passes offset 1, lookups skip it.
	if err := l.SetLogStartOffset(2); err != nil {
		t.Fatal(err)
	}
	if off, ts, _, ok, _ := l.OffsetForTimestamp(101); !ok || off != 2 || ts != 103 {
		t.Fatalf("after log start 2: %d %d", off, ts)
	}
	dir := l.Dir()
	l.Close()
	l = openT(t, dir, cfg, Options{Clean: true, LogStartOffset: 0})
	defer l.Close()
	check(l)
	l.ReleaseIndexes()
	check(l)
}

func TestAppendFollower(t *testing.T) {
	l := openT(t, t.TempDir(), testConfig(), Options{})
	defer l.Close()
	var all []byte
	off := int64(0)
	for i := range 5 {
		b := mkBatch(t, 3, 10, int64(i))
		record.SetBaseOffset(b, off)
		record.SetPartitionLeaderEpoch(b, int32(1+i/3))
		off += 3
		all = append(all, b...)
	}
	info, err := l.AppendFollower(all)
	if err != nil {
		t.Fatal(err)
	}
	if info.BaseOffset != 0 || info.LastOffset != 14 || l.LogEndOffset() != 15 {
		t.Fatalf("info %+v LEO %d", info, l.LogEndOffset())
	}
	if got := l.EpochEntries(); len(got) != 2 || got[0] != [2]int64{1, 0} || got[1] != [2]int64{2, 9} {
		t.Fatalf("epochs %v", got)
	}
	// Not starting at the LEO.
	b := mkBatch(t, 1, 10, 0)
	record.SetBaseOffset(b, 3)
	if _, err := l.AppendFollower(b); !errors.Is(err, ErrNotContiguous) {
		t.Fatalf("err %v", err)
	}
	// A corrupt batch.
	record.SetBaseOffset(b, 15)
	b[len(b)-1] ^= 0xff
	if _, err := l.AppendFollower(b); err == nil {
		t.Fatal("corrupt follower batch accepted")
	}
	if len(readAll(t, l, 0)) != 5 {
		t.Fatal("wrong batch count")
	}
}

// A follower that led an epoch without writing anything (it became leader
// with an empty log, then lost leadership) takes the new leader's older
// batches from that offset on; the empty epoch gives way. A batch below
// an epoch that holds records is still refused.
func TestAppendFollowerReplacesEmptyEpoch(t *testing.T) {
	l := openT(t, t.TempDir(), testConfig(), Options{})
	defer l.Close()
	if err := l.AssignEpoch(1, 0); err != nil { // led epoch 1, wrote nothing
		t.Fatal(err)
	}
	b := mkBatch(t, 3, 10, 0)
	record.SetPartitionLeaderEpoch(b, 0)
	if _, err := l.AppendFollower(b); err != nil {
		t.Fatalf("append of the leader's epoch-0 batch: %v", err)
	}
	if got := l.EpochEntries(); len(got) != 1 || got[0] != [2]int64{0, 0} {
		t.Fatalf("epochs %v, want [[0 0]]", got)
	}
	b = mkBatch(t, 2, 10, 0)
	record.SetBaseOffset(b, 3)
	record.SetPartitionLeaderEpoch(b, 2)
	if _, err := l.AppendFollower(b); err != nil {
		t.Fatal(err)
	}
	// Epoch 2 has records (3-4): an epoch-1 batch after them is stale.
	b = mkBatch(t, 1, 10, 0)
	record.SetBaseOffset(b, 5)
	record.SetPartitionLeaderEpoch(b, 1)
	if _, err := l.AppendFollower(b); !errors.Is(err, ErrStaleEpoch) {
		t.Fatalf("err %v, want ErrStaleEpoch", err)
	}
}

func TestEpochCache(t *testing.T) {
	dir := t.TempDir()
	l := openT(t, dir, testConfig(), Options{})
	if l.LatestEpoch() != -1 {
		t.Fatal("fresh log has an epoch")
	}
	if e, o := l.EndOffsetForEpoch(0); e != -1 || o != -1 {
		t.Fatalf("empty: %d %d", e, o)
	}
	mustAppend(t, l, mkBatch(t, 5, 1, 0), 1) // 0-4
	mustAppend(t, l, mkBatch(t, 5, 1, 0), 1) // 5-9
	mustAppend(t, l, mkBatch(t, 5, 1, 0), 3) // 10-14
	mustAppend(t, l, mkBatch(t, 5, 1, 0), 5) // 15-19
	cases := []struct {
		req  int32
		ep   int32
		off  int64
		name string
	}{
		{5, 5, 20, "latest: LEO"},
		{3, 3, 15, "middle"},
		{4, 3, 15, "unknown between: floor epoch, next start"},
		{1, 1, 10, "first"},
		{0, 0, 0, "below the first: requested epoch, first start"},
		{6, -1, -1, "newer than any"},
		{-1, -1, -1, "undefined"},
	}
	for _, c := range cases {
		if e, o := l.EndOffsetForEpoch(c.req); e != c.ep || o != c.off {
			t.Errorf("%s: EndOffsetForEpoch(%d) = %d %d, want %d %d", c.name, c.req, e, o, c.ep, c.off)
		}
	}
	if err := l.TruncateTo(12); err != nil {
		t.Fatal(err)
	}
	// The batch holding 12 (10-14) goes whole, and with it epoch 3.
	if l.LogEndOffset() != 10 {
		t.Fatalf("after truncation to mid-batch: LEO %d", l.LogEndOffset())
	}
	if l.LatestEpoch() != 1 {
		t.Fatalf("epoch 3 survived truncation: %v", l.EpochEntries())
	}
	l.Close()
	l = openT(t, dir, testConfig(), Options{Clean: true})
	if got := l.EpochEntries(); len(got) != 1 || got[0] != [2]int64{1, 0} {
		t.Fatalf("reloaded epochs %v", got)
	}
	if err := l.AssignEpoch(7, 10); err != nil {
		t.Fatal(err)
	}
	if e, o := l.EndOffsetForEpoch(2); e != 1 || o != 10 {
		t.Fatalf("%d %d", e, o)
	}
	if err := l.SetLogStartOffset(5); err != nil {
		t.Fatal(err)
	}
	if got := l.EpochEntries(); got[0] != [2]int64{1, 5} {
		t.Fatalf("truncateFromStart: %v", got)
	}
	l.Close()
}

func TestFlushMessagesAdvancesRecoveryPoint(t *testing.T) {
	cfg := testConfig()
	cfg.FlushMessages = 10
	l := openT(t, t.TempDir(), cfg, Options{})
	defer l.Close()
	mustAppend(t, l, mkBatch(t, 5, 1, 0), 0)
	if rp := l.RecoveryPoint(); rp != 0 {
		t.Fatalf("recovery point %d before flush.messages", rp)
	}
	mustAppend(t, l, mkBatch(t, 5, 1, 0), 0)
	if rp := l.RecoveryPoint(); rp != 10 {
		t.Fatalf("recovery point %d after flush.messages", rp)
	}
	mustAppend(t, l, mkBatch(t, 1, 1, 0), 0)
	if err := l.Flush(); err != nil || l.RecoveryPoint() != 11 {
		t.Fatalf("flush: %v rp %d", err, l.RecoveryPoint())
	}
}

func TestRecoveryPointAfterRoll(t *testing.T) {
	l := openT(t, t.TempDir(), testConfig(), Options{})
	defer l.Close()
	mustAppend(t, l, mkBatch(t, 5, 1, 0), 0)
	if err := l.Roll(); err != nil {
		t.Fatal(err)
	}
	l.bg.Wait()
	if rp := l.RecoveryPoint(); rp != 5 {
		t.Fatalf("recovery point %d after roll", rp)
	}
}

func TestSliceWriteTo(t *testing.T) {
	l := openT(t, t.TempDir(), testConfig(), Options{})
	defer l.Close()
	for i := range 50 {
		mustAppend(t, l, mkBatch(t, 10, 100, int64(i)), 0)
	}
	s, err := l.Read(0, 1<<20, l.LogEndOffset(), true)
	if err != nil {
		t.Fatal(err)
	}
	want, err := s.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if n, err := s.WriteTo(&buf); err != nil || n != s.Size || !bytes.Equal(buf.Bytes(), want) {
		t.Fatalf("buffer WriteTo: %d %v", n, err)
	}
	// Over TCP (sendfile), several concurrent readers of one segment.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Skip(err)
	}
	defer ln.Close()
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			got, err := io.ReadAll(c)
			if err != nil || !bytes.Equal(got, want) {
				t.Errorf("tcp read %d bytes, err %v", len(got), err)
			}
		}()
		c, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			defer c.Close()
			if n, err := s.WriteTo(c); err != nil || n != s.Size {
				t.Errorf("sendfile: %d %v", n, err)
			}
		}()
	}
	wg.Wait()
}

func TestConcurrentReadersAndAppender(t *testing.T) {
	cfg := testConfig()
	cfg.SegmentBytes = 8192
	cfg.IndexIntervalBytes = 512
	cfg.RetentionBytes = 64 << 10
	cfg.FileDeleteDelayMs = 2000 // readers may still be reading deleted segments
	l := openT(t, t.TempDir(), cfg, Options{})
	defer l.Close()
	var done atomic.Bool
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !done.Load() {
				off := l.LogStartOffset()
				leo := l.LogEndOffset()
				for off < leo {
					s, err := l.Read(off, 4096, leo, true)
					if errors.Is(err, ErrOffsetOutOfRange) {
						break // retention moved the start
					}
					if err != nil {
						t.Error(err)
						return
					}
					b, err := s.Bytes()
					if err != nil {
						t.Error(err)
						return
					}
					for len(b) > 0 {
						n := record.BatchSize(b)
						h, err := record.Check(b[:n])
						if err != nil {
							t.Errorf("reader saw a bad batch: %v", err)
							return
						}
						off = h.NextOffset()
						b = b[n:]
					}
				}
				l.OffsetForTimestamp(50)
				l.MaxTimestamp()
			}
		}()
	}
	for i := range 1000 {
		mustAppend(t, l, mkBatch(t, 3, 40, int64(i)), 1)
		if i%100 == 0 {
			if _, err := l.ApplyRetention(l.LogEndOffset()); err != nil {
				t.Fatal(err)
			}
			if err := l.Flush(); err != nil {
				t.Fatal(err)
			}
		}
	}
	done.Store(true)
	wg.Wait()
	if l.LogStartOffset() == 0 {
		t.Fatal("retention by size never ran")
	}
}

func TestClosedLog(t *testing.T) {
	l := openT(t, filepath.Join(t.TempDir(), "t-0"), testConfig(), Options{})
	l.Close()
	if _, err := l.AppendLeader(mkBatch(t, 1, 1, 0), 0); !errors.Is(err, ErrClosed) {
		t.Fatalf("append after close: %v", err)
	}
	if _, err := l.Read(0, 1, 1, true); !errors.Is(err, ErrClosed) {
		t.Fatalf("read after close: %v", err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
}
