package log

import "fmt"

// TruncateFullyAndStartAt empties the log and restarts it at off, which may
// lie anywhere, above the log end included: Kafka's
// truncateFullyAndStartAt, for a follower whose fetch offset fell below the
// leader's log start (retention or DeleteRecords removed what it needs).
// The leader epoch cache is cleared; the caller resets producer state.
//
// Crash safety: every old segment is renamed to *.deleted and the
// directory fsynced before the new segment at off is created (and the
// directory fsynced again). A crash in between leaves either no segment
// (the log reopens empty at its checkpointed log start and the follower
// starts over) or only the new one; never old data next to the new start.
func (l *Log) TruncateFullyAndStartAt(off int64) error {
	if off < 0 {
		return fmt.Errorf("%w: log start %d", ErrOffsetOutOfRange, off)
	}
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	if err := l.writableLocked(); err != nil {
		return err
	}
	l.noteTruncation(off)
	l.flushMu.Lock()
	defer l.flushMu.Unlock()
	old := l.mu.segs
	for _, s := range old {
		if err := s.renameDeleted(); err != nil {
			return l.failLocked(fmt.Errorf("log: truncate fully %s: %w", l.dir, err))
		}
		s.deleted = true
	}
	if err := syncDir(l.dir); err != nil {
		return l.failLocked(fmt.Errorf("log: truncate fully %s: %w", l.dir, err))
	}
	seg, err := createSegment(l.dir, off, l.mu.cfg.IndexIntervalBytes, l.now())
	if err != nil {
		return l.failLocked(fmt.Errorf("log: truncate fully %s: %w", l.dir, err))
	}
	if err := syncDir(l.dir); err != nil {
		return l.failLocked(fmt.Errorf("log: truncate fully %s: %w", l.dir, err))
	}
	l.mu.Lock()
	l.mu.segs = []*segment{seg}
	l.mu.leo, l.mu.logStart, l.mu.recoveryPoint = off, off, off
	l.mu.segGen++
	l.mu.syncedGen = l.mu.segGen
	l.mu.Unlock()
	l.removeSegments(old, l.mu.cfg.FileDeleteDelayMs)
	return l.epochs.clear()
}

// failLocked marks the log failed (it refuses appends) after a step of a
// mutation that cannot be undone. REQUIRES: appendMu held.
func (l *Log) failLocked(err error) error {
	l.mu.Lock()
	l.mu.failed = err
	l.mu.Unlock()
	return err
}
