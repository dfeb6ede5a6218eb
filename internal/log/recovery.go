package log

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/quillstream/quill/internal/record"
)

// Open opens (creating if needed) the partition log in dir, like Kafka's
// LogLoader:
//
//   - a segment swap the log cleaner committed (a <base>.log.swap file) is
//     completed (completeSwaps); then leftovers are cleaned up: *.deleted,
//     *.cleaned, other *.swap and *.tmp files and index files without a
//     .log are removed;
//   - without opts.Clean, every segment from the one holding the recovery
//     point on is re-checked batch by batch (record.Check, increasing
//     offsets); the first bad or torn batch and everything after it are cut
//     off (later segments deleted), indexes and leader epochs are rebuilt
//     from the good batches, and the result is fsynced;
//   - with opts.Clean the files are trusted: index files are sanity-checked
//     (a bad one is rebuilt from the log) and the LEO comes from scanning the
//     headers after the last index entry of the last segment (a torn tail
//     there still triggers a recovery of that segment).
//
// Afterwards every byte below the LEO is a valid batch.
func Open(dir string, cfg Config, opts Options) (*Log, error) {
	cfg = cfg.normalized()
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	l := &Log{dir: dir, logger: opts.Logger, now: opts.Now, delPending: map[*segment]*time.Timer{}}
	if t, p, ok := parsePartitionDir(filepath.Base(dir)); ok {
		l.tp = TopicPartition{t, p}
	}
	l.mu.cfg = cfg
	bases, err := l.cleanDir()
	if err != nil {
		return nil, err
	}
	epochs, err := loadEpochCache(filepath.Join(dir, leaderEpochFile))
	if err != nil {
		l.logger.Warn("leader epoch checkpoint unreadable; starting it empty", "dir", dir, "err", err)
		epochs = &epochCache{path: filepath.Join(dir, leaderEpochFile)}
	}
	l.epochs = epochs
	segs, err := l.loadSegments(bases, cfg, opts)
	if err != nil {
		for _, s := range segs {
			s.log.Close()
		}
		return nil, err
	}
	l.mu.segs = segs
	l.mu.leo = segs[len(segs)-1].next
	l.mu.logStart = max(opts.LogStartOffset, segs[0].base)
	if l.mu.logStart > l.mu.leo {
		// The log start checkpoint is ahead of what survived: start empty
		// there, as Kafka does.
		l.logger.Warn("log start offset beyond recovered log end; starting empty", "dir", dir,
			"log_start", l.mu.logStart, "log_end", l.mu.leo)
		if err := l.resetToLocked(l.mu.logStart); err != nil {
			return nil, err
		}
	}
	// An epoch that starts exactly at the log end began with no data yet
	// (a new leader of an empty or idle partition): it stays, so opening
	// such a log rewrites nothing. Only entries past the end go.
	if err := l.epochs.truncateFromEnd(l.mu.leo + 1); err != nil {
		return nil, err
	}
	if err := l.epochs.truncateFromStart(l.mu.logStart); err != nil {
		return nil, err
	}
	l.mu.recoveryPoint = l.mu.leo // clean: Close flushed; unclean: loadSegments fsynced
	l.mu.lastFlush = opts.Now()
	return l, nil
}

// cleanDir removes leftovers and returns the base offsets of the segments.
func (l *Log) cleanDir() ([]int64, error) {
	if err := l.completeSwaps(); err != nil {
		return nil, err
	}
	ents, err := os.ReadDir(l.dir)
	if err != nil {
		return nil, err
	}
	var bases []int64
	var indexes []string
	for _, e := range ents {
		name := e.Name()
		if e.IsDir() {
			continue
		}
		switch {
		case strings.HasSuffix(name, deletedSuffix), strings.HasSuffix(name, cleanedSuffix),
			strings.HasSuffix(name, ".tmp"):
			os.Remove(filepath.Join(l.dir, name))
		case strings.HasSuffix(name, swapSuffix):
			// completeSwaps handled the .log.swap files; anything else is
			// a leftover.
			os.Remove(filepath.Join(l.dir, name))
		case strings.HasSuffix(name, logSuffix):
			if b, ok := parseBase(name, logSuffix); ok {
				bases = append(bases, b)
			}
		case strings.HasSuffix(name, indexSuffix), strings.HasSuffix(name, timeIndexSuffix):
			indexes = append(indexes, name)
		}
	}
	slices.Sort(bases)
	for _, name := range indexes {
		suffix := indexSuffix
		if strings.HasSuffix(name, timeIndexSuffix) {
			suffix = timeIndexSuffix
		}
		if b, ok := parseBase(name, suffix); !ok || !slices.Contains(bases, b) {
			os.Remove(filepath.Join(l.dir, name))
		}
	}
	return bases, nil
}

func parseBase(name, suffix string) (int64, bool) {
	s := strings.TrimSuffix(name, suffix)
	if len(s) != 20 {
		return 0, false
	}
	b, err := strconv.ParseInt(s, 10, 64)
	return b, err == nil && b >= 0
}

// loadSegments opens the segments and recovers or trusts them.
func (l *Log) loadSegments(bases []int64, cfg Config, opts Options) ([]*segment, error) {
	now := opts.Now()
	if len(bases) == 0 {
		s, err := createSegment(l.dir, max(opts.LogStartOffset, 0), cfg.IndexIntervalBytes, now)
		if err != nil {
			return nil, err
		}
		return []*segment{s}, nil
	}
	segs := make([]*segment, 0, len(bases))
	for _, b := range bases {
		s, err := openSegment(l.dir, b, cfg.IndexIntervalBytes)
		if err != nil {
			return segs, err
		}
		segs = append(segs, s)
	}
	// First segment to recover: the one holding the recovery point.
	from := len(segs)
	if !opts.Clean {
		from = max(sort_floor(segs, opts.RecoveryPoint), 0)
	}
	for i := range from {
		if i == len(segs)-1 {
			break // the last segment is loaded below
		}
		if err := l.loadTrusted(segs[i]); err != nil {
			return segs, err
		}
	}
	if opts.Clean {
		last := segs[len(segs)-1]
		ok, err := l.loadActiveTrusted(last)
		if err != nil {
			return segs, err
		}
		if ok {
			fixUpperBounds(segs)
			last.created = now
			return segs, nil
		}
		l.logger.Warn("last segment unreadable after a clean shutdown; recovering it", "segment", last.path)
		from = len(segs) - 1
	}
	from = min(from, len(segs)-1)
	var recovered []*segment
	var assigns []epochEntry
	prevNext := int64(0)
	if from > 0 {
		prevNext = segs[from].base // trust the boundary of trusted segments
	}
	keep := len(segs)
	for i := from; i < len(segs); i++ {
		s := segs[i]
		if s.base < prevNext {
			l.logger.Warn("segment overlaps its predecessor; deleting it and later ones", "segment", s.path)
			keep = i
			break
		}
		truncated, err := s.recover(prevNext, func(h record.Header) {
			assigns = append(assigns, epochEntry{h.PartitionLeaderEpoch, h.BaseOffset})
		})
		if err != nil {
			return segs, err
		}
		recovered = append(recovered, s)
		prevNext = s.next
		if truncated {
			l.logger.Warn("recovery truncated a segment at the first bad batch", "segment", s.path, "valid_bytes", s.size)
			keep = i + 1
			break
		}
	}
	if keep < len(segs) {
		for _, s := range segs[keep:] {
			s.log.Close()
			os.Remove(s.path)
			os.Remove(s.idx.path)
			os.Remove(s.tidx.path)
		}
		segs = segs[:keep]
		if len(segs) == 0 {
			s, err := createSegment(l.dir, max(opts.LogStartOffset, bases[0]), cfg.IndexIntervalBytes, now)
			if err != nil {
				return nil, err
			}
			segs = append(segs, s)
			recovered = append(recovered, s)
		}
	}
	// Leader epochs seen in the recovered batches (Kafka re-assigns them).
	if len(assigns) > 0 {
		l.epochs.mu.Lock()
		changed := false
		for _, e := range assigns {
			changed = l.epochs.assignLocked(e) || changed
		}
		var err error
		if changed {
			err = l.epochs.persistLocked()
		}
		l.epochs.mu.Unlock()
		if err != nil {
			return segs, err
		}
	}
	last := segs[len(segs)-1]
	if last.size > 0 {
		last.firstTs = last.readFirstTs(last.size)
	}
	last.created = now
	for _, s := range recovered {
		if err := s.log.Sync(); err != nil {
			return segs, err
		}
		if err := s.writeIndexes(true); err != nil {
			return segs, err
		}
	}
	fixUpperBounds(segs)
	return segs, syncDir(l.dir)
}

// sort_floor is the index of the segment with the largest base <= off.
func sort_floor(segs []*segment, off int64) int {
	i := 0
	for i < len(segs) && segs[i].base <= off {
		i++
	}
	return i - 1
}

// fixUpperBounds sets inactive segments' next to their successor's base.
func fixUpperBounds(segs []*segment) {
	for i := 0; i+1 < len(segs); i++ {
		segs[i].next = segs[i+1].base
	}
}

// loadTrusted opens an inactive segment below the recovery point: its
// largest timestamp comes from the last time index entry. Index files with
// an impossible size are rebuilt now; finer checks happen on lazy load.
func (l *Log) loadTrusted(s *segment) error {
	okSize := func(p string, esz int64) bool {
		st, err := os.Stat(p)
		return err == nil && st.Size()%esz == 0
	}
	if s.size > 0 && (!okSize(s.idx.path, offsetEntrySize) || !okSize(s.tidx.path, timeEntrySize)) {
		l.logger.Warn("rebuilding missing or corrupt index", "segment", s.path)
		off, tim, err := s.rebuildEntries(s.size)
		if err != nil {
			// The log itself is bad below the recovery point: re-check it.
			if _, err := s.recover(s.base, nil); err != nil {
				return err
			}
		} else {
			s.installIndexes(off, tim)
		}
		if err := s.writeIndexes(true); err != nil {
			return err
		}
		s.idx.release()
		s.tidx.release()
	}
	if ts, off, ok := lastTimeEntryFromFile(s.tidx.path, s.base); ok {
		s.maxTs, s.maxTsOff = ts, off
	}
	return nil
}

// loadActiveTrusted loads the last segment after a clean shutdown. It
// reports false if the segment needs a full recovery.
func (l *Log) loadActiveTrusted(s *segment) (bool, error) {
	for _, x := range []*index{s.idx, s.tidx} {
		x.mu.Lock()
		err := x.loadLocked(s.base, s.size)
		x.mu.Unlock()
		if err != nil {
			if errors.Is(err, errBadIndex) {
				return false, nil
			}
			return false, err
		}
	}
	s.idx.mu.Lock()
	start, lastIdxOff := int64(0), int64(-1)
	if n := s.idx.n(); n > 0 {
		lastIdxOff, start = s.idx.offsetAt(s.base, n-1), s.idx.posAt(n-1)
	}
	s.idx.mu.Unlock()
	s.tidx.mu.Lock()
	if n := s.tidx.n(); n > 0 {
		s.maxTs, s.maxTsOff = s.tidx.tsAt(n-1), s.tidx.offsetAt(s.base, n-1)
	}
	s.tidx.mu.Unlock()
	next := s.base
	bad := false
	err := s.scanHeaders(start, s.size, func(pos int64, h record.Header) bool {
		if h.BaseOffset < next || h.LastOffset()-s.base > 1<<31-1 || (pos == start && lastIdxOff >= 0 && h.LastOffset() != lastIdxOff) {
			bad = true
			return false
		}
		if h.MaxTimestamp > s.maxTs {
			s.maxTs, s.maxTsOff = h.MaxTimestamp, h.LastOffset()
		}
		next = h.NextOffset()
		return true
	})
	if err != nil || bad {
		if err != nil && !errors.Is(err, ErrCorrupt) {
			return false, fmt.Errorf("log: load %s: %w", s.path, err)
		}
		return false, nil
	}
	s.next = next
	s.sinceIndex = int(s.size - start)
	s.firstTs = s.readFirstTs(s.size)
	return true, nil
}

// resetToLocked deletes every segment and starts empty at off.
// REQUIRES: appendMu held (or the log not yet shared).
func (l *Log) resetToLocked(off int64) error {
	l.noteTruncation(off)
	seg, err := createSegmentReplacing(l.dir, off, l.mu.cfg.IndexIntervalBytes, l.now(), l.mu.segs)
	if err != nil {
		return err
	}
	l.flushMu.Lock()
	l.mu.Lock()
	old := l.mu.segs
	l.mu.segs = []*segment{seg}
	l.mu.leo, l.mu.logStart = off, off
	l.mu.recoveryPoint = min(l.mu.recoveryPoint, off)
	l.mu.segGen++
	l.mu.Unlock()
	l.flushMu.Unlock()
	old = slices.DeleteFunc(slices.Clone(old), func(s *segment) bool { return s == seg })
	l.removeSegments(old, l.mu.cfg.FileDeleteDelayMs)
	if err := l.epochs.clear(); err != nil {
		return err
	}
	return nil
}

// createSegmentReplacing creates a segment at base; if one of the existing
// segments has that base, its files are first moved aside (*.deleted) so the
// new one does not clobber what a reader may still be reading.
func createSegmentReplacing(dir string, base int64, interval int, now time.Time, existing []*segment) (*segment, error) {
	for _, s := range existing {
		if s.base == base {
			if err := s.renameDeleted(); err != nil {
				return nil, err
			}
			s.deleted = true
		}
	}
	return createSegment(dir, base, interval, now)
}
