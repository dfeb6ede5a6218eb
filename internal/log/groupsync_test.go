package log

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// fsyncRecorder replaces syncFile: it records, per file, the size at the
// start of each fsync (what that fsync is sure to cover) and counts them.
type fsyncRecorder struct {
	mu     sync.Mutex
	synced map[string]int64
	calls  map[string]int
	gate   chan struct{} // if set, each fsync first waits for a token
	// entered receives a token each time an fsync reaches the gate, so a
	// test knows a round is really blocked in it.
	entered chan struct{}
}

func recordFsyncs(t *testing.T) *fsyncRecorder {
	r := &fsyncRecorder{synced: map[string]int64{}, calls: map[string]int{}, entered: make(chan struct{}, 64)}
	old := syncFile
	syncFile = func(f *os.File) error {
		if r.gate != nil {
			select {
			case r.entered <- struct{}{}:
			default:
			}
			<-r.gate
		}
		st, err := f.Stat()
		if err != nil {
			return err
		}
		if err := f.Sync(); err != nil {
			return err
		}
		r.mu.Lock()
		r.synced[f.Name()] = max(r.synced[f.Name()], st.Size())
		r.calls[f.Name()]++
		r.mu.Unlock()
		return nil
	}
	t.Cleanup(func() { syncFile = old })
	return r
}

// Acknowledged means fsynced: appenders on several logs each wait for their
// round; then the machine "loses power": every segment file is cut back to
// what an fsync covered. Every acknowledged batch must survive recovery.
func TestGroupSyncAckedIsDurable(t *testing.T) {
	rec := recordFsyncs(t)
	g := NewGroupSyncer(4)
	defer g.Close()
	root := t.TempDir()
	var logs []*Log
	for i := range 3 {
		logs = append(logs, openT(t, filepath.Join(root, fmt.Sprintf("t-%d", i)), testConfig(), Options{}))
	}
	acked := make([]int64, len(logs)) // per log: every offset below is acknowledged
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 40 {
				l := logs[(w+i)%len(logs)]
				info, err := l.AppendLeader(mkBatch(t, 1+i%5, 50, int64(i)), 0)
				if err != nil {
					t.Error(err)
					return
				}
				durable, err := g.Join(l).Wait(l)
				if err != nil {
					t.Error(err)
					return
				}
				if durable <= info.LastOffset {
					t.Errorf("round reported durable %d below the append's last offset %d", durable, info.LastOffset)
					return
				}
				mu.Lock()
				for j, x := range logs {
					if x == l {
						acked[j] = max(acked[j], info.LastOffset+1)
					}
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	for i, l := range logs {
		dir := l.Dir()
		crash(l)
		files, _ := filepath.Glob(filepath.Join(dir, "*"+logSuffix))
		for _, f := range files {
			rec.mu.Lock()
			size := rec.synced[f]
			rec.mu.Unlock()
			if err := os.Truncate(f, size); err != nil {
				t.Fatal(err)
			}
		}
		l2 := openT(t, dir, testConfig(), Options{})
		readAll(t, l2, 0)
		if l2.LogEndOffset() < acked[i] {
			t.Fatalf("log %d: acknowledged up to %d, recovered only %d", i, acked[i], l2.LogEndOffset())
		}
		t.Logf("log %d: acknowledged %d, recovered %d, %d fsyncs", i, acked[i], l2.LogEndOffset(), rec.calls[files[0]])
		l2.Close()
	}
}

// One round fsyncs each log once, however many appends joined it.
func TestGroupSyncOneFsyncPerLogPerRound(t *testing.T) {
	rec := recordFsyncs(t)
	rec.gate = make(chan struct{})
	var open sync.Once
	release := func() { open.Do(func() { close(rec.gate) }) }
	g := NewGroupSyncer(4)
	root := t.TempDir()
	a := openT(t, filepath.Join(root, "t-0"), testConfig(), Options{})
	b := openT(t, filepath.Join(root, "t-1"), testConfig(), Options{})
	defer a.Close()
	defer b.Close()
	defer release() // runs first: a failed test must not leave a round stuck in fsync

	// The first round takes a and blocks in its fsync...
	mustAppend(t, a, mkBatch(t, 1, 10, 0), 0)
	first := g.Join(a)
	<-rec.entered // the round is in its fsync now (regression: the test raced it)
	// ...so these all join the second round.
	var second []*SyncRound
	for i := range 10 {
		l := []*Log{a, b}[i%2]
		mustAppend(t, l, mkBatch(t, 2, 10, 0), 0)
		second = append(second, g.Join(l))
	}
	for _, r := range second[1:] {
		if r != second[0] {
			t.Fatal("appends made while a round ran did not share the next round")
		}
	}
	release() // let every fsync through
	if _, err := first.Wait(a); err != nil {
		t.Fatal(err)
	}
	for i, r := range second {
		l := []*Log{a, b}[i%2]
		durable, err := r.Wait(l)
		if err != nil {
			t.Fatal(err)
		}
		if durable != l.LogEndOffset() {
			t.Fatalf("durable %d, LEO %d", durable, l.LogEndOffset())
		}
	}
	g.Close()
	pa := a.mu.segs[0].path
	pb := b.mu.segs[0].path
	if rec.calls[pa] != 2 || rec.calls[pb] != 1 {
		t.Fatalf("fsyncs: a %d (want 2: one per round), b %d (want 1)", rec.calls[pa], rec.calls[pb])
	}
	// A closed syncer refuses new waiters instead of hanging them.
	if _, err := g.Join(a).Wait(a); err != ErrSyncerClosed {
		t.Fatalf("join after close: %v", err)
	}
}

// A round for a closed log reports the error to its waiters.
func TestGroupSyncClosedLog(t *testing.T) {
	g := NewGroupSyncer(0)
	defer g.Close()
	l := openT(t, t.TempDir(), testConfig(), Options{})
	mustAppend(t, l, mkBatch(t, 1, 10, 0), 0)
	l.Close()
	if _, err := g.Join(l).Wait(l); err != ErrClosed {
		t.Fatalf("got %v, want ErrClosed", err)
	}
}
