package log

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sort"
	"sync"
	"time"

	"github.com/quillstream/quill/internal/record"
)

// Log is one partition's log: a list of segments, the last of which (the
// active segment) takes appends. It is safe for one appender and many
// concurrent readers.
//
// Locking (order: appendMu -> flushMu -> mu -> index.mu; epochCache.mu and
// delMu are leaves):
//   - appendMu serializes every mutation (appends, roll, truncation,
//     retention, log start moves, config changes, close) and is held across
//     their I/O. Readers never take it.
//   - flushMu serializes fsyncs with the removal and truncation of segments,
//     so a flush never touches a closed file and the recovery point only moves
//     over bytes that were really fsynced.
//   - mu guards the segment list and the offsets below. Mutators take it for
//     writing only to publish (after the write syscall); readers take it for
//     reading only to snapshot a segment and its committed size, then do
//     their I/O unlocked (positional reads on a shared fd never move a file
//     offset). So a reader delays the appender by a few hundred nanoseconds
//     at most.
//   - each index has its own mutex for its in-memory entries.
type Log struct {
	dir    string
	tp     TopicPartition // from the directory name; empty if it does not parse
	logger *slog.Logger
	now    func() time.Time
	epochs *epochCache

	appendMu sync.Mutex
	flushMu  sync.Mutex

	mu struct {
		sync.RWMutex
		// Guarded by mu. All but recoveryPoint, lastFlush and syncedGen
		// (written by flushTo under flushMu) are written only with appendMu
		// held too, so the appender reads them without mu.
		segs          []*segment // by base offset; the last is active
		leo           int64
		logStart      int64
		recoveryPoint int64 // everything below was fsynced (data and indexes)
		cfg           Config
		lastFlush     time.Time
		segGen        uint64 // bumped when a segment file is created
		syncedGen     uint64 // segGen at the last directory fsync
		closed        bool
		failed        error // a write that could not be undone: the log refuses appends
	}

	bg sync.WaitGroup // flushes started by rolls

	delMu      sync.Mutex
	delPending map[*segment]*time.Timer // segments whose files wait file.delete.delay.ms

	cleaner cleanerState // compaction (cleaner.go)
}

// AppendInfo describes an append.
type AppendInfo struct {
	BaseOffset, LastOffset int64
	MaxTimestamp           int64
	Size                   int
}

// Dir is the partition directory.
func (l *Log) Dir() string { return l.dir }

// AppendLeader stamps baseOffset = LEO and partitionLeaderEpoch = epoch into
// b (in place; the CRC does not cover them) and appends it with one write
// syscall, rolling first if needed. A new epoch is recorded in the leader
// epoch cache (and its checkpoint) before the batch is written. b is one
// batch that passed record.ValidateProduced; the log does not keep b.
func (l *Log) AppendLeader(b []byte, epoch int32) (AppendInfo, error) {
	h, err := record.ParseHeader(b)
	if err != nil {
		return AppendInfo{}, err
	}
	if h.Size() != len(b) || h.LastOffsetDelta < 0 {
		return AppendInfo{}, fmt.Errorf("%w: batch length %d for %d bytes", record.ErrCorrupt, h.Size(), len(b))
	}
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	if err := l.writableLocked(); err != nil {
		return AppendInfo{}, err
	}
	base := l.mu.leo
	record.SetBaseOffset(b, base)
	record.SetPartitionLeaderEpoch(b, epoch)
	h.BaseOffset, h.PartitionLeaderEpoch = base, epoch
	if l.epochs.needsAssign(epoch) {
		if latest := l.epochs.latest(); epoch < latest {
			return AppendInfo{}, fmt.Errorf("%w: epoch %d, log has %d", ErrStaleEpoch, epoch, latest)
		}
		if err := l.epochs.assign(epoch, base); err != nil {
			return AppendInfo{}, err
		}
	}
	hs := [1]record.Header{h}
	if err := l.appendLocked(b, hs[:]); err != nil {
		return AppendInfo{}, err
	}
	return AppendInfo{BaseOffset: base, LastOffset: h.LastOffset(), MaxTimestamp: h.MaxTimestamp, Size: len(b)}, nil
}

// AppendFollower appends batches that already carry offsets and epochs (one
// or more concatenated, as fetched from the leader). Each batch is checked
// (record.Check); the first must start at or after the LEO and each later
// one after its predecessor (gaps are allowed: a compacted leader has them).
func (l *Log) AppendFollower(batches []byte) (AppendInfo, error) {
	var hs []record.Header
	var info AppendInfo
	info.MaxTimestamp = -1
	for rest := batches; len(rest) > 0; {
		n := record.BatchSize(rest)
		if n < record.HeaderSize || n > len(rest) {
			return AppendInfo{}, fmt.Errorf("%w: torn batch in follower append", record.ErrCorrupt)
		}
		h, err := record.Check(rest[:n])
		if err != nil {
			return AppendInfo{}, err
		}
		if len(hs) > 0 && h.BaseOffset < hs[len(hs)-1].NextOffset() {
			return AppendInfo{}, ErrNotContiguous
		}
		hs = append(hs, h)
		info.MaxTimestamp = max(info.MaxTimestamp, h.MaxTimestamp)
		rest = rest[n:]
	}
	if len(hs) == 0 {
		return AppendInfo{BaseOffset: -1, LastOffset: -1, MaxTimestamp: -1}, nil
	}
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	if err := l.writableLocked(); err != nil {
		return AppendInfo{}, err
	}
	if hs[0].BaseOffset < l.mu.leo {
		return AppendInfo{}, fmt.Errorf("%w: first offset %d, log end offset %d", ErrNotContiguous, hs[0].BaseOffset, l.mu.leo)
	}
	// A batch may not go below the epoch of records already in the log.
	// Epochs that start at the log end hold none: this node was leader in
	// them but wrote nothing (or it was truncated), and the leader's older
	// batches replace them (assign drops them), as Kafka's cache does.
	// Rejecting those batches instead left such a follower out of the ISR
	// for good (TestClusterChaos, TestAppendFollowerReplacesEmptyEpoch).
	latest := l.epochs.latestBelow(hs[0].BaseOffset)
	for _, h := range hs {
		if e := h.PartitionLeaderEpoch; e >= 0 && e < latest {
			return AppendInfo{}, fmt.Errorf("%w: batch at %d has epoch %d, log has %d", ErrStaleEpoch, h.BaseOffset, e, latest)
		}
		latest = max(latest, h.PartitionLeaderEpoch)
	}
	for _, h := range hs {
		if l.epochs.needsAssign(h.PartitionLeaderEpoch) {
			if err := l.epochs.assign(h.PartitionLeaderEpoch, h.BaseOffset); err != nil {
				return AppendInfo{}, err
			}
		}
	}
	if err := l.appendLocked(batches, hs); err != nil {
		return AppendInfo{}, err
	}
	info.BaseOffset, info.LastOffset, info.Size = hs[0].BaseOffset, hs[len(hs)-1].LastOffset(), len(batches)
	return info, nil
}

func (l *Log) writableLocked() error {
	if l.mu.closed {
		return ErrClosed
	}
	return l.mu.failed
}

// appendLocked writes whole batches (data = their concatenation, hs = their
// headers) to the active segment, rolling where needed: one write syscall
// per run of batches that fits one segment. REQUIRES: appendMu held.
func (l *Log) appendLocked(data []byte, hs []record.Header) error {
	cfg := l.mu.cfg
	for len(hs) > 0 {
		// The run of batches that go into the current (possibly new) segment.
		if err := l.maybeRollLocked(hs[0], cfg); err != nil {
			return err
		}
		seg := l.mu.segs[len(l.mu.segs)-1]
		// Later batches join the run while they fit the segment's size and
		// relative offsets (time and index-full rolls wait for the next call).
		n, size := 1, int64(hs[0].Size())
		for n < len(hs) && seg.size+size+int64(hs[n].Size()) <= cfg.SegmentBytes &&
			hs[n].LastOffset()-seg.base <= math.MaxInt32 {
			size += int64(hs[n].Size())
			n++
		}
		if _, err := seg.log.WriteAt(data[:size], seg.size); err != nil {
			// Undo a partial write so no torn batch sits below later appends.
			if terr := seg.log.Truncate(seg.size); terr != nil {
				l.mu.Lock()
				l.mu.failed = fmt.Errorf("log: %s: write failed (%v) and could not be undone: %w", seg.path, err, terr)
				l.mu.Unlock()
			}
			return fmt.Errorf("log: write %s: %w", seg.path, err)
		}
		now := l.now()
		l.mu.Lock()
		pos := seg.size
		for _, h := range hs[:n] {
			seg.track(pos, h)
			pos += int64(h.Size())
		}
		seg.modified = now
		l.mu.leo = seg.next
		l.mu.Unlock()
		data, hs = data[size:], hs[n:]
	}
	if fm := cfg.FlushMessages; fm > 0 && fm != math.MaxInt64 {
		l.mu.RLock()
		due := l.mu.leo-l.mu.recoveryPoint >= fm
		l.mu.RUnlock()
		if due {
			return l.flushTo(l.mu.leo)
		}
	}
	return nil
}

// track records a batch written at pos. REQUIRES: appendMu and mu held.
func (s *segment) track(pos int64, h record.Header) {
	size, last := h.Size(), h.LastOffset()
	if pos == 0 {
		s.firstTs = h.MaxTimestamp
	}
	if h.MaxTimestamp > s.maxTs {
		s.maxTs, s.maxTsOff = h.MaxTimestamp, last
	}
	if s.sinceIndex > s.interval {
		// The active segment's indexes are loaded, unless a concurrent
		// ReleaseIndexes raced with the truncation that made this segment
		// active again: then load them first so no entry is lost.
		s.idx.mu.Lock()
		if s.ensureLoadedLocked(s.idx, pos) == nil {
			s.idx.appendOffsetLocked(s.base, last, pos)
		}
		s.idx.mu.Unlock()
		s.tidx.mu.Lock()
		if s.ensureLoadedLocked(s.tidx, pos) == nil {
			s.tidx.maybeAppendTimeLocked(s.base, s.maxTs, s.maxTsOff)
		}
		s.tidx.mu.Unlock()
		s.sinceIndex = 0
	}
	s.sinceIndex += size
	s.size = pos + int64(size)
	s.next = last + 1
}

// shouldRoll is Kafka's LogSegment.shouldRoll for a batch h that would make
// the segment newSize bytes. REQUIRES: appendMu held.
func (l *Log) shouldRoll(seg *segment, newSize int64, h record.Header, cfg Config) bool {
	if seg.size == 0 {
		return false
	}
	if newSize > cfg.SegmentBytes || h.LastOffset()-seg.base > math.MaxInt32 || h.BaseOffset < seg.base {
		return true
	}
	if cfg.SegmentMs > 0 {
		var waited int64
		if seg.firstTs >= 0 {
			waited = h.MaxTimestamp - seg.firstTs
		} else {
			waited = l.now().Sub(seg.created).Milliseconds()
		}
		if waited > cfg.SegmentMs {
			return true
		}
	}
	seg.idx.mu.Lock()
	full := (seg.idx.n()+1)*offsetEntrySize > cfg.SegmentIndexBytes
	seg.idx.mu.Unlock()
	seg.tidx.mu.Lock()
	full = full || (seg.tidx.n()+1)*timeEntrySize > cfg.SegmentIndexBytes
	seg.tidx.mu.Unlock()
	return full
}

func (l *Log) maybeRollLocked(h record.Header, cfg Config) error {
	seg := l.mu.segs[len(l.mu.segs)-1]
	if int64(h.Size()) > cfg.SegmentBytes {
		return fmt.Errorf("%w: batch of %d bytes exceeds segment.bytes %d", ErrTooLarge, h.Size(), cfg.SegmentBytes)
	}
	if !l.shouldRoll(seg, seg.size+int64(h.Size()), h, cfg) {
		if seg.size == 0 && h.LastOffset()-seg.base > math.MaxInt32 {
			return l.replaceEmptyActiveLocked(h.BaseOffset)
		}
		return nil
	}
	return l.rollLocked(max(h.BaseOffset, l.mu.leo))
}

// replaceEmptyActiveLocked moves an empty active segment to a new base
// (a follower jumping far ahead). REQUIRES: appendMu held.
func (l *Log) replaceEmptyActiveLocked(base int64) error {
	old := l.mu.segs[len(l.mu.segs)-1]
	seg, err := createSegment(l.dir, base, l.mu.cfg.IndexIntervalBytes, l.now())
	if err != nil {
		return err
	}
	l.flushMu.Lock()
	l.mu.Lock()
	l.mu.segs[len(l.mu.segs)-1] = seg
	l.mu.segGen++
	l.mu.Unlock()
	l.flushMu.Unlock()
	l.removeSegments([]*segment{old}, l.mu.cfg.FileDeleteDelayMs)
	return nil
}

// Roll closes the active segment (if it has data) and starts a new one at
// the LEO.
func (l *Log) Roll() error {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	if err := l.writableLocked(); err != nil {
		return err
	}
	if l.mu.segs[len(l.mu.segs)-1].size == 0 {
		return nil
	}
	return l.rollLocked(l.mu.leo)
}

// rollLocked starts a new active segment at base and flushes the old ones in
// the background (advancing the recovery point to base), as Kafka does.
// REQUIRES: appendMu held.
func (l *Log) rollLocked(base int64) error {
	old := l.mu.segs[len(l.mu.segs)-1]
	old.finishTimeIndex()
	if err := old.writeIndexes(false); err != nil {
		return err
	}
	seg, err := createSegment(l.dir, base, l.mu.cfg.IndexIntervalBytes, l.now())
	if err != nil {
		return err
	}
	l.mu.Lock()
	l.mu.segs = append(l.mu.segs, seg)
	l.mu.segGen++
	l.mu.Unlock()
	l.bg.Add(1)
	go func() {
		defer l.bg.Done()
		if err := l.flushTo(base); err != nil && !errors.Is(err, ErrClosed) {
			l.logger.Warn("flush after roll failed", "dir", l.dir, "err", err)
		}
	}()
	return nil
}

// finishTimeIndex appends the segment's largest timestamp as the last time
// index entry, so it can be read back without a scan (Kafka does this when a
// segment becomes inactive and on close).
func (s *segment) finishTimeIndex() {
	s.tidx.mu.Lock()
	if s.tidx.loaded && s.maxTs >= 0 {
		s.tidx.maybeAppendTimeLocked(s.base, s.maxTs, s.maxTsOff)
	}
	s.tidx.mu.Unlock()
}

// Flush fsyncs data and indexes up to the LEO and advances the recovery point.
func (l *Log) Flush() error {
	l.mu.RLock()
	leo := l.mu.leo
	l.mu.RUnlock()
	return l.flushTo(leo)
}

// flushTo fsyncs every segment holding offsets in [recoveryPoint, target)
// and their indexes (and the directory if segments were created), then
// moves the recovery point to target.
func (l *Log) flushTo(target int64) error {
	l.flushMu.Lock()
	defer l.flushMu.Unlock()
	l.mu.RLock()
	if l.mu.closed {
		l.mu.RUnlock()
		return ErrClosed
	}
	rp, gen, synced := l.mu.recoveryPoint, l.mu.segGen, l.mu.syncedGen
	var segs []*segment
	for i, s := range l.mu.segs {
		upper := l.mu.leo
		if i+1 < len(l.mu.segs) {
			upper = l.mu.segs[i+1].base
		}
		if s.base < target && upper > rp || (i == len(l.mu.segs)-1 && target > rp) {
			segs = append(segs, s)
		}
	}
	l.mu.RUnlock()
	if target <= rp && gen == synced {
		return nil
	}
	for _, s := range segs {
		if err := s.log.Sync(); err != nil {
			return fmt.Errorf("log: fsync %s: %w", s.path, err)
		}
		if err := s.writeIndexes(true); err != nil {
			return err
		}
	}
	if gen != synced {
		if err := syncDir(l.dir); err != nil {
			return err
		}
	}
	now := l.now()
	l.mu.Lock()
	if target > l.mu.recoveryPoint {
		l.mu.recoveryPoint = min(target, l.mu.leo)
	}
	l.mu.syncedGen = max(l.mu.syncedGen, gen)
	l.mu.lastFlush = now
	l.mu.Unlock()
	return nil
}

// RecoveryPoint is the offset below which everything was fsynced.
func (l *Log) RecoveryPoint() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.mu.recoveryPoint
}

// LogStartOffset is the first offset readable.
func (l *Log) LogStartOffset() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.mu.logStart
}

// LogEndOffset is the LEO: the next offset to assign.
func (l *Log) LogEndOffset() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.mu.leo
}

// Size is the bytes on disk across segments.
func (l *Log) Size() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	var n int64
	for _, s := range l.mu.segs {
		n += s.size
	}
	return n
}

// NumSegments is the number of segments, the active one included.
func (l *Log) NumSegments() int {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return len(l.mu.segs)
}

// Config returns the current configuration.
func (l *Log) Config() Config {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.mu.cfg
}

// UpdateConfig applies a live config change; it takes effect with the next
// append (index.interval.bytes with the next segment).
func (l *Log) UpdateConfig(cfg Config) {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	l.mu.Lock()
	l.mu.cfg = cfg.normalized()
	l.mu.Unlock()
}

// lastFlushTime is when the log was last flushed (for flush.ms).
func (l *Log) flushDue(now time.Time) bool {
	l.mu.RLock()
	defer l.mu.RUnlock()
	ms := l.mu.cfg.FlushMs
	return ms > 0 && ms != math.MaxInt64 && l.mu.leo > l.mu.recoveryPoint &&
		now.Sub(l.mu.lastFlush) >= time.Duration(ms)*time.Millisecond
}

// AssignEpoch records that epoch starts at startOffset (a new leader's epoch
// before its first append, or a follower's).
func (l *Log) AssignEpoch(epoch int32, startOffset int64) error {
	return l.epochs.assign(epoch, startOffset)
}

// EndOffsetForEpoch answers OffsetsForLeaderEpoch (KIP-101): the largest
// epoch <= epoch and the start offset of the epoch after it (the LEO if it
// is the latest); (-1, -1) if unknown.
func (l *Log) EndOffsetForEpoch(epoch int32) (int32, int64) {
	return l.epochs.endOffsetFor(epoch, l.LogEndOffset())
}

// LatestEpoch is the latest leader epoch in the cache, -1 if none.
func (l *Log) LatestEpoch() int32 { return l.epochs.latest() }

// EpochEntries returns the leader epoch cache (epoch, start offset) pairs.
func (l *Log) EpochEntries() [][2]int64 {
	es := l.epochs.snapshot()
	out := make([][2]int64, len(es))
	for i, e := range es {
		out[i] = [2]int64{int64(e.Epoch), e.StartOffset}
	}
	return out
}

// ReleaseIndexes drops the in-memory indexes of inactive segments (they are
// reloaded on the next lookup), to bound memory on brokers with many
// partitions.
func (l *Log) ReleaseIndexes() {
	l.mu.RLock()
	segs := l.mu.segs[:len(l.mu.segs)-1]
	l.mu.RUnlock()
	for _, s := range segs {
		s.idx.release()
		s.tidx.release()
	}
}

// Close flushes everything, closes the files and runs pending deletions.
func (l *Log) Close() error {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	if l.mu.closed {
		return nil
	}
	l.bg.Wait()
	active := l.mu.segs[len(l.mu.segs)-1]
	active.finishTimeIndex()
	err := l.Flush()
	if werr := active.writeIndexes(true); err == nil {
		err = werr // the final time index entry, even if no data was unflushed
	}
	l.flushMu.Lock()
	l.mu.Lock()
	l.mu.closed = true
	segs := l.mu.segs
	l.mu.Unlock()
	l.flushMu.Unlock()
	for _, s := range segs {
		if cerr := s.log.Close(); err == nil && cerr != nil {
			err = cerr
		}
	}
	l.delMu.Lock()
	for s, t := range l.delPending {
		// Whether or not the timer already fired, its callback finds the
		// entry gone and leaves the removal to us.
		t.Stop()
		s.closeAndRemove()
		delete(l.delPending, s)
	}
	l.delMu.Unlock()
	return err
}

// segmentIndexLocked returns the index of the segment with the largest base
// <= off, or -1. REQUIRES: mu held.
func (l *Log) segmentIndexLocked(off int64) int {
	segs := l.mu.segs
	return sort.Search(len(segs), func(i int) bool { return segs[i].base > off }) - 1
}
