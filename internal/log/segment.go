package log

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/quillstream/quill/internal/record"
)

// File name suffixes.
const (
	logSuffix       = ".log"
	indexSuffix     = ".index"
	timeIndexSuffix = ".timeindex"
	deletedSuffix   = ".deleted"
	cleanedSuffix   = ".cleaned"
	swapSuffix      = ".swap"
)

// ErrCorrupt marks bytes on disk that are not what the log wrote: a bad
// batch header inside the committed part of a segment.
var ErrCorrupt = errors.New("log: corrupt segment")

func segmentName(base int64) string { return fmt.Sprintf("%020d", base) }

// segment is one .log file with its two sparse indexes.
type segment struct {
	base     int64
	path     string // the .log file
	log      *os.File
	idx      *index // .index
	tidx     *index // .timeindex
	interval int    // index.interval.bytes used to rebuild lazily loaded indexes

	// Guarded by Log.mu; written only by a holder of Log.appendMu (which may
	// then read them without Log.mu).
	size       int64 // bytes of whole batches; the file is never longer for long
	next       int64 // offset after the last batch; base when empty
	maxTs      int64 // largest batch max timestamp, -1 if none
	maxTsOff   int64 // last offset of the batch carrying maxTs
	firstTs    int64 // max timestamp of the first batch (segment.ms), -1 if none
	created    time.Time
	modified   time.Time // last append; retention's clock for timestamp-less segments
	sinceIndex int       // bytes appended since the last offset index entry
	deleted    bool
}

func newSegmentStruct(dir string, base int64, interval int) *segment {
	name := filepath.Join(dir, segmentName(base))
	return &segment{
		base:     base,
		path:     name + logSuffix,
		idx:      newIndex(name+indexSuffix, false),
		tidx:     newIndex(name+timeIndexSuffix, true),
		interval: interval,
		next:     base,
		maxTs:    -1,
		maxTsOff: -1,
		firstTs:  -1,
	}
}

// createSegment makes a new empty segment, replacing stale files.
func createSegment(dir string, base int64, interval int, now time.Time) (*segment, error) {
	s := newSegmentStruct(dir, base, interval)
	f, err := os.OpenFile(s.path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, err
	}
	s.log = f
	s.created, s.modified = now, now
	s.idx.resetLocked()
	s.tidx.resetLocked()
	os.Remove(s.idx.path)
	os.Remove(s.tidx.path)
	return s, nil
}

// openSegment opens an existing segment's log file; the caller fills in the
// rest by loading or recovering it.
func openSegment(dir string, base int64, interval int) (*segment, error) {
	s := newSegmentStruct(dir, base, interval)
	f, err := os.OpenFile(s.path, os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	s.log, s.size, s.modified, s.created = f, st.Size(), st.ModTime(), st.ModTime()
	return s, nil
}

// indexBuilder decides where sparse index entries go, the same way for live
// appends and for rebuilds: an offset entry (last offset -> start position)
// for the first batch after more than interval bytes, and with it a time
// entry (largest timestamp so far -> its batch's last offset) when the
// largest timestamp grew.
type indexBuilder struct {
	base     int64
	interval int
	since    int
	maxTs    int64
	maxTsOff int64
	off, tim []byte // only used by rebuilds
}

// add notes a batch; it reports whether an index entry is due for it.
func (b *indexBuilder) add(pos int64, size int, last, maxTs int64) bool {
	if maxTs > b.maxTs {
		b.maxTs, b.maxTsOff = maxTs, last
	}
	due := b.since > b.interval
	if due {
		b.since = 0
	}
	b.since += size
	return due
}

// scanHeaders calls fn with the header of each batch that starts in [from,
// to), stopping early when fn returns false. Batches must lie wholly below
// to; a header that says otherwise is ErrCorrupt. It reads in chunks, so
// a run of small batches costs few syscalls.
func (s *segment) scanHeaders(from, to int64, fn func(pos int64, h record.Header) bool) error {
	bp := chunkPool.Get().(*[]byte)
	defer chunkPool.Put(bp)
	buf := *bp
	bufPos, n := int64(-1), 0
	// Start small: a lookup scans about index.interval.bytes past an index
	// entry; long scans grow to the whole chunk.
	want := min(2*s.interval+record.HeaderSize, len(buf))
	for pos := from; pos < to; {
		if pos+record.HeaderSize > to {
			return fmt.Errorf("%w: %s: %d trailing bytes at %d", ErrCorrupt, s.path, to-pos, pos)
		}
		if bufPos < 0 || pos < bufPos || pos+record.HeaderSize > bufPos+int64(n) {
			if bufPos >= 0 {
				want = len(buf)
			}
			m, err := s.log.ReadAt(buf[:min(int64(want), to-pos)], pos)
			if m < record.HeaderSize {
				if err == nil || err == io.EOF {
					err = io.ErrUnexpectedEOF
				}
				return fmt.Errorf("log: read %s at %d: %w", s.path, pos, err)
			}
			bufPos, n = pos, m
		}
		h, _ := record.ParseHeader(buf[pos-bufPos : n])
		size := int64(h.Size())
		if size < record.HeaderSize || pos+size > to || h.LastOffsetDelta < 0 {
			return fmt.Errorf("%w: %s: bad batch header at %d", ErrCorrupt, s.path, pos)
		}
		if !fn(pos, h) {
			return nil
		}
		pos += size
	}
	return nil
}

// chunkSize is the read size of header scans.
const chunkSize = 32 << 10

var chunkPool = sync.Pool{New: func() any { b := make([]byte, chunkSize); return &b }}

// recover re-checks every batch of the segment (size, magic, CRC, counts,
// offsets increasing from at least base and representable as relative
// offsets), truncates the file at the first bad or torn batch, and rebuilds
// both indexes and the in-memory state. onBatch sees each good batch (for the
// leader epoch cache). It reports whether bytes were cut off.
func (s *segment) recover(minOffset int64, onBatch func(h record.Header)) (bool, error) {
	st, err := s.log.Stat()
	if err != nil {
		return false, err
	}
	fileSize := st.Size()
	b := indexBuilder{base: s.base, interval: s.interval, maxTs: -1, maxTsOff: -1}
	next := max(s.base, minOffset)
	firstTs := int64(-1)
	// buf holds file bytes [bufPos, bufPos+bufLen); batches are read in
	// 1 MiB chunks, so small batches cost no syscall each.
	buf := make([]byte, 1<<20)
	bufPos, bufLen := int64(0), 0
	read := func(pos, n int64) []byte {
		if pos >= bufPos && pos+n <= bufPos+int64(bufLen) {
			return buf[pos-bufPos : pos-bufPos+n]
		}
		if n > int64(len(buf)) {
			buf = make([]byte, n)
		}
		want := min(int64(len(buf)), fileSize-pos)
		if want < n {
			return nil
		}
		m, _ := s.log.ReadAt(buf[:want], pos)
		if int64(m) < n {
			return nil
		}
		bufPos, bufLen = pos, m
		return buf[:n]
	}
	var pos int64
	for pos < fileSize {
		if fileSize-pos < record.HeaderSize {
			break
		}
		head := read(pos, record.LogOverhead)
		if head == nil {
			break
		}
		size := int64(record.BatchSize(head))
		if size < record.HeaderSize || size > fileSize-pos {
			break
		}
		batch := read(pos, size)
		if batch == nil {
			break
		}
		h, err := record.Check(batch)
		if err != nil || h.BaseOffset < next || h.LastOffset()-s.base > math.MaxInt32 {
			break
		}
		if firstTs < 0 && pos == 0 {
			firstTs = h.MaxTimestamp
		}
		if b.add(pos, int(size), h.LastOffset(), h.MaxTimestamp) {
			b.off = appendOffsetEntry(b.off, s.base, h.LastOffset(), pos)
			b.tim = appendTimeEntry(b.tim, s.base, b.maxTs, b.maxTsOff)
		}
		if onBatch != nil {
			onBatch(h)
		}
		next = h.NextOffset()
		pos += size
	}
	truncated := pos < fileSize
	if truncated {
		if err := s.log.Truncate(pos); err != nil {
			return false, err
		}
	}
	s.size, s.next, s.firstTs = pos, next, firstTs
	if pos == 0 {
		s.next = s.base
	}
	s.maxTs, s.maxTsOff, s.sinceIndex = b.maxTs, b.maxTsOff, b.since
	s.installIndexes(b.off, b.tim)
	return truncated, nil
}

func appendOffsetEntry(buf []byte, base, off, pos int64) []byte {
	x := index{esz: offsetEntrySize, buf: buf, loaded: true}
	x.appendOffsetLocked(base, off, pos)
	return x.buf
}

func appendTimeEntry(buf []byte, base, ts, off int64) []byte {
	x := index{esz: timeEntrySize, time: true, buf: buf, loaded: true}
	x.maybeAppendTimeLocked(base, ts, off)
	return x.buf
}

// installIndexes replaces both indexes with rebuilt entries, to be written
// to the files by the next writeTail.
func (s *segment) installIndexes(off, tim []byte) {
	s.idx.mu.Lock()
	s.idx.buf, s.idx.loaded, s.idx.written = off, true, -1
	s.idx.mu.Unlock()
	s.tidx.mu.Lock()
	s.tidx.buf, s.tidx.loaded, s.tidx.written = tim, true, -1
	s.tidx.mu.Unlock()
}

// rebuildEntries scans the headers of [0, size) and returns fresh index
// entries, for an index file found bad when lazily loaded. The log bytes
// below the recovery point are trusted, so this does not check CRCs.
func (s *segment) rebuildEntries(size int64) (off, tim []byte, err error) {
	b := indexBuilder{base: s.base, interval: s.interval, maxTs: -1, maxTsOff: -1}
	err = s.scanHeaders(0, size, func(pos int64, h record.Header) bool {
		if b.add(pos, h.Size(), h.LastOffset(), h.MaxTimestamp) {
			b.off = appendOffsetEntry(b.off, s.base, h.LastOffset(), pos)
			b.tim = appendTimeEntry(b.tim, s.base, b.maxTs, b.maxTsOff)
		}
		return true
	})
	// The last time entry carries the segment's largest timestamp, as
	// finishTimeIndex writes at a roll: without it a rebuilt segment's
	// tail is invisible to timestamp lookups.
	if b.maxTs >= 0 {
		b.tim = appendTimeEntry(b.tim, s.base, b.maxTs, b.maxTsOff)
	}
	return b.off, b.tim, err
}

// ensureLoaded loads x (one of s's indexes) if needed, rebuilding it from
// the log when the file is bad. size is the segment's committed size.
// REQUIRES: x.mu held.
func (s *segment) ensureLoadedLocked(x *index, size int64) error {
	if x.loaded {
		return nil
	}
	if err := x.loadLocked(s.base, size); err == nil {
		return nil
	}
	off, tim, err := s.rebuildEntries(size)
	if err != nil {
		return err
	}
	if x.time {
		x.buf = tim
	} else {
		x.buf = off
	}
	x.loaded, x.written = true, -1
	return x.writeTailLocked(false)
}

// lookup returns the position of the index entry for the largest indexed
// offset <= off (0 if none). size is the committed size.
func (s *segment) lookup(off, size int64) (int64, error) {
	s.idx.mu.Lock()
	defer s.idx.mu.Unlock()
	if err := s.ensureLoadedLocked(s.idx, size); err != nil {
		return 0, err
	}
	_, pos := s.idx.lookupOffsetLocked(s.base, off)
	return pos, nil
}

// translate finds the first batch in [from, to) whose last offset is >= off.
// found is false if there is none below to.
func (s *segment) translate(off, from, to int64) (pos int64, h record.Header, found bool, err error) {
	start, err := s.lookup(off, to)
	if err != nil {
		return 0, h, false, err
	}
	start = max(start, from)
	err = s.scanHeaders(start, to, func(p int64, bh record.Header) bool {
		if bh.LastOffset() >= off {
			pos, h, found = p, bh, true
			return false
		}
		return true
	})
	return pos, h, found, err
}

// writeIndexes writes index entries not yet in the files; with sync it
// fsyncs them too.
func (s *segment) writeIndexes(sync bool) error {
	for _, x := range []*index{s.idx, s.tidx} {
		x.mu.Lock()
		err := x.writeTailLocked(sync)
		x.mu.Unlock()
		if err != nil {
			return err
		}
	}
	return nil
}

// readFirstTs reads the first batch's max timestamp (segment.ms).
func (s *segment) readFirstTs(size int64) int64 {
	if size < record.HeaderSize {
		return -1
	}
	var b [record.HeaderSize]byte
	if _, err := s.log.ReadAt(b[:], 0); err != nil {
		return -1
	}
	h, _ := record.ParseHeader(b[:])
	return h.MaxTimestamp
}

// renameDeleted renames the segment's files to *.deleted; the open file
// stays readable until closeAndRemove.
func (s *segment) renameDeleted() error {
	var first error
	for _, p := range []string{s.path, s.idx.path, s.tidx.path} {
		if err := os.Rename(p, p+deletedSuffix); err != nil && !os.IsNotExist(err) && first == nil {
			first = err
		}
	}
	return first
}

// closeAndRemove closes the file and removes the *.deleted files.
func (s *segment) closeAndRemove() {
	s.log.Close()
	for _, p := range []string{s.path, s.idx.path, s.tidx.path} {
		os.Remove(p + deletedSuffix)
	}
}
