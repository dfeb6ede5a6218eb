package log

import (
	"fmt"
	"os"
	"time"

	"github.com/quillstream/quill/internal/record"
)

// ApplyRetention deletes the oldest segments that are wholly below hw (the
// high watermark) and breach the log start offset, retention.ms (judged by
// the segment's largest timestamp, or its last modification if it has none)
// or retention.bytes, as Kafka's UnifiedLog.deleteOldSegments does. If that
// includes the active segment it rolls first, so the log stays appendable.
// The log start offset moves to the first remaining segment.
func (l *Log) ApplyRetention(hw int64) (int, error) {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	if err := l.writableLocked(); err != nil {
		return 0, err
	}
	cfg, segs, leo, lso := l.mu.cfg, l.mu.segs, l.mu.leo, l.mu.logStart
	nowMs := l.now().UnixMilli()
	var total int64
	for _, s := range segs {
		total += s.size
	}
	excess := int64(-1)
	if cfg.RetentionBytes >= 0 {
		excess = total - cfg.RetentionBytes
	}
	n := 0
	for i, s := range segs {
		last := i == len(segs)-1
		upper := leo
		if !last {
			upper = segs[i+1].base
		}
		if hw < upper || (last && s.size == 0) {
			break
		}
		ts := s.maxTs
		if ts < 0 {
			ts = s.modified.UnixMilli()
		}
		breached := (!last && upper <= lso) ||
			(cfg.RetentionMs >= 0 && nowMs-ts > cfg.RetentionMs) ||
			(excess >= 0 && excess >= s.size)
		if !breached {
			break
		}
		if excess >= 0 {
			excess -= s.size
		}
		n++
	}
	if n == 0 {
		return 0, nil
	}
	if n == len(segs) {
		if err := l.rollLocked(leo); err != nil {
			return 0, err
		}
	}
	return n, l.deleteFrontLocked(n)
}

// deleteFrontLocked removes the n oldest segments and moves the log start
// offset to the first remaining one. REQUIRES: appendMu held.
func (l *Log) deleteFrontLocked(n int) error {
	l.flushMu.Lock()
	l.mu.Lock()
	gone := l.mu.segs[:n:n]
	l.mu.segs = append([]*segment(nil), l.mu.segs[n:]...)
	l.mu.logStart = max(l.mu.logStart, l.mu.segs[0].base)
	l.mu.recoveryPoint = max(l.mu.recoveryPoint, min(l.mu.segs[0].base, l.mu.leo))
	lso := l.mu.logStart
	l.mu.Unlock()
	l.flushMu.Unlock()
	for _, s := range gone {
		l.logger.Info("deleting segment", "segment", s.path)
	}
	l.removeSegments(gone, l.mu.cfg.FileDeleteDelayMs)
	return l.epochs.truncateFromStart(lso)
}

// removeSegments renames the segments' files to *.deleted and closes and
// removes them after delayMs, so reads in flight (sendfile) finish. The
// segments must already be out of the segment list.
func (l *Log) removeSegments(segs []*segment, delayMs int64) {
	for _, s := range segs {
		if !s.deleted {
			if err := s.renameDeleted(); err != nil {
				l.logger.Warn("rename deleted segment", "segment", s.path, "err", err)
			}
			s.deleted = true
		}
		if delayMs <= 0 {
			s.closeAndRemove()
			continue
		}
		l.delMu.Lock()
		l.delPending[s] = time.AfterFunc(time.Duration(delayMs)*time.Millisecond, func() {
			l.delMu.Lock()
			_, ok := l.delPending[s]
			delete(l.delPending, s)
			l.delMu.Unlock()
			if ok {
				s.closeAndRemove()
			}
		})
		l.delMu.Unlock()
	}
}

// SetLogStartOffset moves the log start offset forward (DeleteRecords; never
// back) and deletes the segments wholly below it. Beyond the LEO it is
// ErrOffsetOutOfRange (the caller checks the high watermark).
func (l *Log) SetLogStartOffset(off int64) error {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	if err := l.writableLocked(); err != nil {
		return err
	}
	if off <= l.mu.logStart {
		return nil
	}
	if off > l.mu.leo {
		return fmt.Errorf("%w: log start %d beyond log end %d", ErrOffsetOutOfRange, off, l.mu.leo)
	}
	l.mu.Lock()
	l.mu.logStart = off
	l.mu.Unlock()
	segs := l.mu.segs
	n := 0
	for n+1 < len(segs) && segs[n+1].base <= off {
		n++
	}
	if n > 0 {
		return l.deleteFrontLocked(n)
	}
	return l.epochs.truncateFromStart(off)
}

// TruncateTo drops everything at or above offset (follower truncation). The
// new LEO is offset, or the start of the batch containing offset if offset
// falls inside a batch (a batch is never cut). Below the log start it
// empties the log and starts it at offset.
func (l *Log) TruncateTo(offset int64) error {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	if err := l.writableLocked(); err != nil {
		return err
	}
	if offset >= l.mu.leo {
		return nil
	}
	if offset < l.mu.logStart {
		return l.resetToLocked(offset)
	}
	l.flushMu.Lock()
	defer l.flushMu.Unlock()
	segs := l.mu.segs
	i := max(l.segmentIndexLocked(offset), 0)
	seg := segs[i]
	size := seg.size
	newSize, newNext := size, offset
	pos, h, found, err := seg.translate(offset, 0, size)
	if err != nil {
		return err
	}
	if found {
		newSize, newNext = pos, min(h.BaseOffset, offset)
		if newSize == 0 {
			newNext = seg.base
		}
	}
	l.noteTruncation(newNext)
	if err := seg.log.Truncate(newSize); err != nil {
		l.mu.Lock()
		l.mu.failed = fmt.Errorf("log: truncate %s: %w", seg.path, err)
		l.mu.Unlock()
		return l.mu.failed
	}
	st := seg.retrack(newSize, newNext, l.now())
	l.mu.Lock()
	l.mu.segs = segs[: i+1 : i+1]
	seg.size, seg.next = newSize, newNext
	seg.maxTs, seg.maxTsOff, seg.sinceIndex, seg.firstTs = st.maxTs, st.maxTsOff, st.since, st.firstTs
	if newSize == 0 {
		seg.created = l.now()
	}
	l.mu.leo = newNext
	l.mu.recoveryPoint = min(l.mu.recoveryPoint, newNext)
	l.mu.segGen++
	l.mu.Unlock()
	l.removeSegments(segs[i+1:], l.mu.cfg.FileDeleteDelayMs)
	return l.epochs.truncateFromEnd(newNext)
}

type trackState struct {
	maxTs, maxTsOff, firstTs int64
	since                    int
}

// retrack cuts the indexes of a segment truncated to size bytes (offsets
// below next) and recomputes its largest timestamp from the last time index
// entry and the batches after the last offset index entry.
// REQUIRES: appendMu and flushMu held.
func (s *segment) retrack(size, next int64, now time.Time) trackState {
	st := trackState{maxTs: -1, maxTsOff: -1, firstTs: -1}
	start := int64(0)
	s.idx.mu.Lock()
	if s.ensureLoadedLocked(s.idx, s.size) != nil {
		s.idx.resetLocked()
	}
	s.idx.truncateOffsetLocked(s.base, next)
	if n := s.idx.n(); n > 0 {
		start = s.idx.posAt(n - 1)
	}
	s.idx.mu.Unlock()
	s.tidx.mu.Lock()
	if s.ensureLoadedLocked(s.tidx, s.size) != nil {
		s.tidx.resetLocked()
	}
	s.tidx.truncateOffsetLocked(s.base, next)
	if n := s.tidx.n(); n > 0 {
		st.maxTs, st.maxTsOff = s.tidx.tsAt(n-1), s.tidx.offsetAt(s.base, n-1)
	}
	s.tidx.mu.Unlock()
	_ = s.scanHeaders(start, size, func(pos int64, h record.Header) bool {
		if h.MaxTimestamp > st.maxTs {
			st.maxTs, st.maxTsOff = h.MaxTimestamp, h.LastOffset()
		}
		return true
	})
	st.since = int(size - start)
	if size > 0 {
		st.firstTs = s.readFirstTs(size)
	}
	return st
}

// Delete closes the log and removes its directory.
func (l *Log) Delete() error {
	if err := l.Close(); err != nil {
		l.logger.Warn("close before delete", "dir", l.dir, "err", err)
	}
	return os.RemoveAll(l.dir)
}
