package log

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sort"
	"sync"
)

// Entry sizes of the two sparse indexes.
const (
	offsetEntrySize = 8  // relative offset int32, position int32
	timeEntrySize   = 12 // timestamp int64, relative offset int32
)

var errBadIndex = errors.New("log: corrupt index file")

// index is one sparse index file (.index or .timeindex) of a segment.
//
// The entries live in memory while the index is in use: the active segment's
// index is always loaded; an inactive segment's is loaded on first lookup and
// may be released again once it is wholly on disk (release). New entries are
// appended to memory only and written to the file by writeTail (on flush, roll
// and close), so the append path costs no index syscalls. This is crash safe
// because recovery rebuilds the indexes of every segment at or above the
// recovery point, and flush writes (and fsyncs) index tails before the
// recovery point moves past them.
type index struct {
	path string
	esz  int  // entry size
	time bool // .timeindex layout

	mu sync.Mutex
	// Guarded by mu.
	buf     []byte // the entries, valid iff loaded
	loaded  bool
	written int // bytes of buf known to be in the file
}

func newIndex(path string, time bool) *index {
	x := &index{path: path, time: time, esz: offsetEntrySize}
	if time {
		x.esz = timeEntrySize
	}
	return x
}

// entries returns the loaded entries. REQUIRES: x.mu held and x.loaded.
func (x *index) n() int { return len(x.buf) / x.esz }

func (x *index) offsetAt(base int64, i int) int64 {
	if x.time {
		return base + int64(int32(binary.BigEndian.Uint32(x.buf[i*x.esz+8:])))
	}
	return base + int64(int32(binary.BigEndian.Uint32(x.buf[i*x.esz:])))
}

func (x *index) posAt(i int) int64 { return int64(int32(binary.BigEndian.Uint32(x.buf[i*x.esz+4:]))) }

func (x *index) tsAt(i int) int64 { return int64(binary.BigEndian.Uint64(x.buf[i*x.esz:])) }

// load reads the index file into memory and checks it: a size that is a
// multiple of the entry size, increasing offsets within the segment and, for
// the offset index, increasing positions inside the log file. A missing file
// is an empty index. REQUIRES: x.mu held.
func (x *index) loadLocked(base, logSize int64) error {
	if x.loaded {
		return nil
	}
	b, err := os.ReadFile(x.path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if len(b)%x.esz != 0 {
		return fmt.Errorf("%w: %s: size %d is not a multiple of %d", errBadIndex, x.path, len(b), x.esz)
	}
	x.buf, x.loaded, x.written = b, true, len(b)
	if err := x.checkLocked(base, logSize); err != nil {
		x.buf, x.loaded, x.written = nil, false, 0
		return err
	}
	return nil
}

func (x *index) checkLocked(base, logSize int64) error {
	prevOff, prevPos, prevTs := int64(-1), int64(-1), int64(-1<<63)
	for i := 0; i < x.n(); i++ {
		off := x.offsetAt(base, i)
		if off < base || off < prevOff || (!x.time && off == prevOff) {
			return fmt.Errorf("%w: %s: entry %d offset %d out of order", errBadIndex, x.path, i, off)
		}
		prevOff = off
		if x.time {
			ts := x.tsAt(i)
			if ts < prevTs {
				return fmt.Errorf("%w: %s: entry %d timestamp %d out of order", errBadIndex, x.path, i, ts)
			}
			prevTs = ts
			continue
		}
		pos := x.posAt(i)
		if pos <= prevPos || pos >= logSize {
			return fmt.Errorf("%w: %s: entry %d position %d out of order or past %d", errBadIndex, x.path, i, pos, logSize)
		}
		prevPos = pos
	}
	return nil
}

// reset replaces the index with an empty, loaded one whose file must be
// rewritten. REQUIRES: x.mu held.
func (x *index) resetLocked() {
	x.buf, x.loaded, x.written = x.buf[:0:0], true, -1
}

// appendOffset adds an offset index entry. REQUIRES: x.mu held, loaded.
func (x *index) appendOffsetLocked(base, off, pos int64) {
	x.buf = binary.BigEndian.AppendUint32(x.buf, uint32(int32(off-base)))
	x.buf = binary.BigEndian.AppendUint32(x.buf, uint32(int32(pos)))
}

// maybeAppendTime adds a time index entry if ts is larger than the last one.
// REQUIRES: x.mu held, loaded.
func (x *index) maybeAppendTimeLocked(base, ts, off int64) {
	if n := x.n(); n > 0 && (ts <= x.tsAt(n-1) || off < x.offsetAt(base, n-1)) {
		return
	}
	x.buf = binary.BigEndian.AppendUint64(x.buf, uint64(ts))
	x.buf = binary.BigEndian.AppendUint32(x.buf, uint32(int32(off-base)))
}

// lookupOffset returns the largest entry with offset <= target, as (offset,
// position); (-1, 0) if there is none. REQUIRES: x.mu held, loaded.
func (x *index) lookupOffsetLocked(base, target int64) (int64, int64) {
	n := x.n()
	i := sort.Search(n, func(i int) bool { return x.offsetAt(base, i) > target })
	if i == 0 {
		return -1, 0
	}
	return x.offsetAt(base, i-1), x.posAt(i - 1)
}

// floorPosition returns the largest indexed position <= pos, or 0.
// REQUIRES: x.mu held, loaded, offset index.
func (x *index) floorPositionLocked(pos int64) int64 {
	n := x.n()
	i := sort.Search(n, func(i int) bool { return x.posAt(i) > pos })
	if i == 0 {
		return 0
	}
	return x.posAt(i - 1)
}

// lookupTime returns the largest time entry with timestamp <= ts as
// (timestamp, offset); ok=false if there is none. REQUIRES: x.mu, loaded.
func (x *index) lookupTimeLocked(base, ts int64) (int64, int64, bool) {
	n := x.n()
	i := sort.Search(n, func(i int) bool { return x.tsAt(i) > ts })
	if i == 0 {
		return 0, 0, false
	}
	return x.tsAt(i - 1), x.offsetAt(base, i-1), true
}

// truncateOffset drops every entry whose offset is >= off. The slice is
// copied, never shortened in place, so that the file tail logic stays simple.
// REQUIRES: x.mu held, loaded.
func (x *index) truncateOffsetLocked(base, off int64) {
	n := x.n()
	i := sort.Search(n, func(i int) bool { return x.offsetAt(base, i) >= off })
	if i == n {
		return
	}
	x.buf = append([]byte(nil), x.buf[:i*x.esz]...)
	if x.written > len(x.buf) {
		x.written = -1 // the file holds dropped entries: rewrite it
	}
}

// writeTail writes the entries not yet in the file; with sync it also fsyncs.
// A written count of -1 means the file must be rewritten from scratch.
// REQUIRES: x.mu held.
func (x *index) writeTailLocked(sync bool) error {
	if !x.loaded {
		return nil // everything is in the file already
	}
	if x.written == len(x.buf) && !sync {
		return nil
	}
	flags := os.O_WRONLY | os.O_CREATE
	if x.written < 0 {
		flags |= os.O_TRUNC
	}
	f, err := os.OpenFile(x.path, flags, 0o644)
	if err != nil {
		return err
	}
	from := max(x.written, 0)
	if from < len(x.buf) {
		if _, err := f.WriteAt(x.buf[from:], int64(from)); err != nil {
			f.Close()
			return err
		}
	}
	if x.written < 0 || from == len(x.buf) {
		// The file may be longer (a rewrite that shrank it, or a stale file).
		if err := f.Truncate(int64(len(x.buf))); err != nil {
			f.Close()
			return err
		}
	}
	if sync {
		if err := f.Sync(); err != nil {
			f.Close()
			return err
		}
	}
	x.written = len(x.buf)
	return f.Close()
}

// release drops the in-memory entries if they are all in the file.
func (x *index) release() {
	x.mu.Lock()
	if x.loaded && x.written == len(x.buf) {
		x.buf, x.loaded, x.written = nil, false, 0
	}
	x.mu.Unlock()
}

// lastTimeEntryFromFile reads the last entry of a .timeindex file without
// loading it: (timestamp, offset, ok).
func lastTimeEntryFromFile(path string, base int64) (int64, int64, bool) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, false
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || st.Size() < timeEntrySize || st.Size()%timeEntrySize != 0 {
		return 0, 0, false
	}
	var b [timeEntrySize]byte
	if _, err := f.ReadAt(b[:], st.Size()-timeEntrySize); err != nil {
		return 0, 0, false
	}
	return int64(binary.BigEndian.Uint64(b[:])), base + int64(int32(binary.BigEndian.Uint32(b[8:]))), true
}
