package log

import (
	"errors"
	"fmt"
	"os"
	"sync"
)

// Group commit: flush.messages=1 ("fsync before every ack") made cheap.
//
// An fsync costs about half a millisecond here whatever it covers, so
// syncing each batch on its own (inline under appendMu, as flush.messages
// does for other values) caps a partition at ~2,000 appends/s and makes
// every producer wait for every other. Instead, appenders Join the next
// sync round after their write and Wait for it; one goroutine runs rounds
// back to back: it takes every log that joined, fsyncs each once (in
// parallel: concurrent fsyncs share the filesystem's journal commit), and
// releases all their waiters. While a round runs, the next one fills, so
// the batch grows with the load and the cost per append falls.
//
// What must stay true: a waiter is released only after an fsync that
// started after its append's write returned, and Wait reports an offset
// below which everything in that log was covered by such an fsync. The
// round fsyncs segment data (and the directory when segments were
// created), not the index files, and does not move the recovery point:
// recovery re-checks every segment from the recovery point on and keeps
// each whole batch found there, so fsynced batches survive a crash and the
// indexes are rebuilt.

// ErrSyncerClosed is returned to waiters of a syncer that was closed before
// their round ran.
var ErrSyncerClosed = errors.New("log: group syncer closed")

// GroupSyncer runs sync rounds for any number of logs. Its zero value is not
// usable; see NewGroupSyncer.
type GroupSyncer struct {
	parallel int
	kick     chan struct{} // one slot: a round is wanted
	quit     chan struct{}
	done     chan struct{}

	mu struct {
		sync.Mutex
		next   *SyncRound // the round Join adds to; nil when none is pending
		closed bool
	}
}

// SyncRound is one fsync of every log that joined it.
type SyncRound struct {
	logs map[*Log]syncResult // written by the syncer before done is closed
	done chan struct{}
}

type syncResult struct {
	durable int64
	err     error
}

// NewGroupSyncer starts a syncer that fsyncs up to parallel logs at once
// (<= 0: 16).
func NewGroupSyncer(parallel int) *GroupSyncer {
	if parallel <= 0 {
		parallel = 16
	}
	g := &GroupSyncer{
		parallel: parallel,
		kick:     make(chan struct{}, 1),
		quit:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	go g.run()
	return g
}

// Join adds l to the next sync round and returns the round. Call it after
// the append's write returned; Wait on the round before acknowledging.
func (g *GroupSyncer) Join(l *Log) *SyncRound {
	g.mu.Lock()
	if g.mu.closed {
		g.mu.Unlock()
		r := &SyncRound{logs: map[*Log]syncResult{l: {durable: -1, err: ErrSyncerClosed}}, done: make(chan struct{})}
		close(r.done)
		return r
	}
	r := g.mu.next
	if r == nil {
		r = &SyncRound{logs: map[*Log]syncResult{}, done: make(chan struct{})}
		g.mu.next = r
	}
	if _, ok := r.logs[l]; !ok {
		r.logs[l] = syncResult{}
	}
	g.mu.Unlock()
	select {
	case g.kick <- struct{}{}:
	default: // a round is wanted already
	}
	return r
}

// Wait blocks until the round has fsynced l and returns the offset below
// which l is durable. l must have joined the round.
func (r *SyncRound) Wait(l *Log) (int64, error) {
	<-r.done
	res, ok := r.logs[l]
	if !ok {
		return -1, fmt.Errorf("log: %s did not join this sync round", l.dir)
	}
	return res.durable, res.err
}

// Done is closed when the round has finished.
func (r *SyncRound) Done() <-chan struct{} { return r.done }

// Close runs the pending round, if any, and stops the syncer; later Joins
// fail with ErrSyncerClosed. The logs stay open.
func (g *GroupSyncer) Close() {
	g.mu.Lock()
	if g.mu.closed {
		g.mu.Unlock()
		<-g.done
		return
	}
	g.mu.closed = true
	g.mu.Unlock()
	close(g.quit)
	<-g.done
}

func (g *GroupSyncer) run() {
	defer close(g.done)
	for {
		select {
		case <-g.kick:
		case <-g.quit:
			g.runRound() // waiters that joined before Close are served
			return
		}
		g.runRound()
	}
}

func (g *GroupSyncer) runRound() {
	g.mu.Lock()
	r := g.mu.next
	g.mu.next = nil
	g.mu.Unlock()
	if r == nil {
		return
	}
	// The map is not written while the round runs (Join only adds to
	// g.mu.next), so results go to a slice first.
	type job struct {
		l   *Log
		res syncResult
	}
	jobs := make([]job, 0, len(r.logs))
	for l := range r.logs {
		jobs = append(jobs, job{l: l})
	}
	if len(jobs) == 1 {
		jobs[0].res.durable, jobs[0].res.err = jobs[0].l.syncData()
	} else {
		var wg sync.WaitGroup
		sem := make(chan struct{}, g.parallel)
		for i := range jobs {
			sem <- struct{}{}
			wg.Add(1)
			go func(j *job) {
				defer func() { <-sem; wg.Done() }()
				j.res.durable, j.res.err = j.l.syncData()
			}(&jobs[i])
		}
		wg.Wait()
	}
	for _, j := range jobs {
		r.logs[j.l] = j.res
	}
	close(r.done)
}

// syncFile fsyncs a segment file; tests replace it to see what was synced.
var syncFile = func(f *os.File) error { return f.Sync() }

// syncData fsyncs the segments that may hold data written since the last
// flush (those from the recovery point up) and the directory if segments
// were created since it was last synced. It returns the LEO read before the
// fsyncs: every batch below it was written before them, so is durable.
// Index files and the recovery point are left to Flush (see the comment at
// the top of this file).
func (l *Log) syncData() (int64, error) {
	l.flushMu.Lock() // no segment is closed or truncated meanwhile
	defer l.flushMu.Unlock()
	l.mu.RLock()
	if l.mu.closed {
		l.mu.RUnlock()
		return -1, ErrClosed
	}
	leo, rp := l.mu.leo, l.mu.recoveryPoint
	gen, synced := l.mu.segGen, l.mu.syncedGen
	var segs []*segment
	for i, s := range l.mu.segs {
		upper := leo
		if i+1 < len(l.mu.segs) {
			upper = l.mu.segs[i+1].base
		}
		if upper > rp || i == len(l.mu.segs)-1 {
			segs = append(segs, s)
		}
	}
	l.mu.RUnlock()
	for _, s := range segs {
		if err := syncFile(s.log); err != nil {
			return -1, fmt.Errorf("log: fsync %s: %w", s.path, err)
		}
	}
	if gen != synced {
		if err := syncDir(l.dir); err != nil {
			return -1, err
		}
		l.mu.Lock()
		l.mu.syncedGen = max(l.mu.syncedGen, gen)
		l.mu.Unlock()
	}
	return leo, nil
}
