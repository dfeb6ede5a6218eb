package log

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"

	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
)

// Per data dir files.
const (
	CleanShutdownFile         = ".kafka_cleanshutdown"
	RecoveryPointCheckpoint   = "recovery-point-offset-checkpoint"
	LogStartOffsetCheckpoint  = "log-start-offset-checkpoint"
	lockFile                  = ".lock"
	deleteDirSuffix           = "-delete"
	defaultCheckpointInterval = 60 * time.Second
	defaultFlushCheckInterval = time.Second
)

// Manager owns the data dirs: it opens logs, keeps the recovery point and
// log start offset checkpoints, and the clean-shutdown marker.
type Manager struct {
	dirs   []string
	logger *slog.Logger
	clean  map[string]bool // the data dir had the clean-shutdown marker at open
	locks  []*os.File      // flocked <dir>/.lock files

	ckptMu sync.Mutex // serializes Checkpoint

	mu struct {
		sync.Mutex
		logs map[TopicPartition]*managed
		// Checkpointed offsets of partitions on disk but not (yet) opened,
		// kept so that Checkpoint does not forget them.
		recovery map[string]map[TopicPartition]int64
		starts   map[string]map[TopicPartition]int64
		plocks   map[TopicPartition]*sync.Mutex // per-partition open/delete locks
		opening  map[string]int                 // logs being opened, per data dir
		closed   bool
		stop     context.CancelFunc
	}
	bg sync.WaitGroup

	cleaner cleanerManager // the log cleaner's state (cleaner_manager.go)
}

type managed struct {
	log     *Log
	dataDir string
}

// PartitionDir is a partition directory found on disk.
type PartitionDir struct {
	Topic      string
	Partition  int32
	TopicID    [16]byte
	HasTopicID bool
	Dir        string // the partition directory
}

// OpenManager opens the data dirs. It removes the clean-shutdown marker
// (remembering whether it was there), so a crash from now on is detected as
// unclean, and removes leftover "-delete" directories in the background.
func OpenManager(dirs []string, logger *slog.Logger) (*Manager, error) {
	if len(dirs) == 0 {
		return nil, errors.New("log: no data dirs")
	}
	if logger == nil {
		logger = slog.Default()
	}
	m := &Manager{dirs: dirs, logger: logger, clean: map[string]bool{}}
	m.mu.logs = map[TopicPartition]*managed{}
	m.mu.recovery = map[string]map[TopicPartition]int64{}
	m.mu.starts = map[string]map[TopicPartition]int64{}
	m.mu.plocks = map[TopicPartition]*sync.Mutex{}
	m.mu.opening = map[string]int{}
	opened := false
	defer func() {
		if !opened {
			m.unlock()
		}
	}()
	for _, d := range dirs {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
		lf, err := lockDir(filepath.Join(d, lockFile))
		if err != nil {
			return nil, err
		}
		m.locks = append(m.locks, lf)
		marker := filepath.Join(d, CleanShutdownFile)
		if _, err := os.Stat(marker); err == nil {
			m.clean[d] = true
			if err := os.Remove(marker); err != nil {
				return nil, err
			}
			if err := syncDir(d); err != nil {
				return nil, err
			}
		}
		rp, err := readOffsetCheckpoint(filepath.Join(d, RecoveryPointCheckpoint))
		if err != nil {
			// Without recovery points every log is recovered from its start.
			logger.Warn("recovery point checkpoint unreadable; full recovery", "dir", d, "err", err)
			rp, m.clean[d] = map[TopicPartition]int64{}, false
		}
		ls, err := readOffsetCheckpoint(filepath.Join(d, LogStartOffsetCheckpoint))
		if err != nil {
			logger.Warn("log start offset checkpoint unreadable", "dir", d, "err", err)
			ls = map[TopicPartition]int64{}
		}
		m.mu.recovery[d], m.mu.starts[d] = rp, ls
		ents, err := os.ReadDir(d)
		if err != nil {
			return nil, err
		}
		for _, e := range ents {
			if e.IsDir() && strings.HasSuffix(e.Name(), deleteDirSuffix) {
				p := filepath.Join(d, e.Name())
				m.bg.Add(1)
				go func() { defer m.bg.Done(); os.RemoveAll(p) }()
			}
		}
	}
	opened = true
	return m, nil
}

func (m *Manager) unlock() {
	for _, f := range m.locks {
		f.Close()
	}
	m.locks = nil
}

// HadCleanShutdown reports whether dir had the clean-shutdown marker.
func (m *Manager) HadCleanShutdown(dir string) bool { return m.clean[dir] }

// validTopic guards the file system: Kafka topic names are [a-zA-Z0-9._-].
func validTopic(t string) bool {
	if t == "" || t == "." || t == ".." || len(t) > 249 {
		return false
	}
	for _, c := range t {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

func partitionDirName(topic string, partition int32) string {
	return fmt.Sprintf("%s-%d", topic, partition)
}

// GetOrCreate returns the open log of the partition, opening or creating it.
// It writes partition.metadata; a directory holding another topic ID is a
// stale leftover of a deleted topic: it is removed and the log starts empty.
// A zero topicID matches anything. cfg only applies when the log is opened
// here; use Log.UpdateConfig for an open one. Logs of different partitions
// open concurrently (a slow recovery does not hold up the others).
func (m *Manager) GetOrCreate(topic string, partition int32, topicID [16]byte, cfg Config) (*Log, error) {
	if !validTopic(topic) || partition < 0 {
		return nil, fmt.Errorf("log: invalid partition %q/%d", topic, partition)
	}
	tp := TopicPartition{topic, partition}
	pl, err := m.partitionLock(tp)
	if err != nil {
		return nil, err
	}
	pl.Lock()
	defer pl.Unlock()
	m.mu.Lock()
	ml := m.mu.logs[tp]
	m.mu.Unlock()
	zero := topicID == [16]byte{}
	if ml != nil {
		id, has, _ := readPartitionMetadata(ml.log.dir)
		if zero || !has || id == topicID {
			if !zero && !has {
				if err := writePartitionMetadata(ml.log.dir, topicID); err != nil {
					return nil, err
				}
			}
			return ml.log, nil
		}
		m.logger.Info("replacing log of an older topic with the same name", "dir", ml.log.dir)
		if err := m.deleteOpen(tp, ml); err != nil {
			return nil, err
		}
	}
	dataDir, dir := "", ""
	for _, d := range m.dirs {
		p := filepath.Join(d, partitionDirName(topic, partition))
		if st, err := os.Stat(p); err == nil && st.IsDir() {
			dataDir, dir = d, p
			break
		}
	}
	if dir != "" && !zero {
		id, has, err := readPartitionMetadata(dir)
		if err != nil || (has && id != topicID) {
			m.logger.Info("removing stale partition directory", "dir", dir, "err", err)
			if err := m.removeDir(dataDir, tp, dir); err != nil {
				return nil, err
			}
			dir = ""
		}
	}
	opts := Options{Logger: m.logger}
	m.mu.Lock()
	if dir == "" {
		dataDir = m.pickDirLocked()
		dir = filepath.Join(dataDir, partitionDirName(topic, partition))
		opts.Clean = true
	} else {
		rp, ok := m.mu.recovery[dataDir][tp]
		opts.RecoveryPoint = rp
		opts.Clean = m.clean[dataDir] && ok
		opts.LogStartOffset = m.mu.starts[dataDir][tp]
	}
	m.mu.opening[dataDir]++
	m.mu.Unlock()
	l, err := Open(dir, cfg, opts)
	if err == nil && !zero {
		if id, has, _ := readPartitionMetadata(dir); !has || id != topicID {
			if err = writePartitionMetadata(dir, topicID); err != nil {
				l.Close()
			}
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.mu.opening[dataDir]--
	if err != nil {
		return nil, err
	}
	if m.mu.closed {
		l.Close()
		return nil, ErrClosed
	}
	m.mu.logs[tp] = &managed{log: l, dataDir: dataDir}
	return l, nil
}

// partitionLock returns the mutex serializing opens and deletes of tp.
func (m *Manager) partitionLock(tp TopicPartition) (*sync.Mutex, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.mu.closed {
		return nil, ErrClosed
	}
	pl := m.mu.plocks[tp]
	if pl == nil {
		pl = new(sync.Mutex)
		m.mu.plocks[tp] = pl
	}
	return pl, nil
}

// pickDirLocked chooses the data dir with the fewest logs (open or being
// opened). REQUIRES: m.mu held.
func (m *Manager) pickDirLocked() string {
	count := map[string]int{}
	for _, ml := range m.mu.logs {
		count[ml.dataDir]++
	}
	best := m.dirs[0]
	for _, d := range m.dirs[1:] {
		if count[d]+m.mu.opening[d] < count[best]+m.mu.opening[best] {
			best = d
		}
	}
	return best
}

// Get returns the open log of the partition, or nil.
func (m *Manager) Get(topic string, partition int32) *Log {
	m.mu.Lock()
	defer m.mu.Unlock()
	if ml, ok := m.mu.logs[TopicPartition{topic, partition}]; ok {
		return ml.log
	}
	return nil
}

// Delete closes the partition's log and deletes its directory the way
// Kafka does: rename to <topic>-<partition>.<id>-delete (atomic, so a crash
// never leaves a half-deleted log under the live name), then remove it in
// the background.
func (m *Manager) Delete(topic string, partition int32) error {
	tp := TopicPartition{topic, partition}
	pl, err := m.partitionLock(tp)
	if err != nil {
		return err
	}
	pl.Lock()
	defer pl.Unlock()
	m.mu.Lock()
	ml := m.mu.logs[tp]
	m.mu.Unlock()
	if ml != nil {
		return m.deleteOpen(tp, ml)
	}
	for _, d := range m.dirs {
		p := filepath.Join(d, partitionDirName(topic, partition))
		if _, err := os.Stat(p); err == nil {
			return m.removeDir(d, tp, p)
		}
	}
	return nil
}

// deleteOpen closes and removes an open log. REQUIRES: tp's partition lock.
func (m *Manager) deleteOpen(tp TopicPartition, ml *managed) error {
	m.mu.Lock()
	delete(m.mu.logs, tp)
	m.mu.Unlock()
	if err := ml.log.Close(); err != nil {
		m.logger.Warn("close before delete", "dir", ml.log.dir, "err", err)
	}
	return m.removeDir(ml.dataDir, tp, ml.log.dir)
}

// removeDir renames dir to a -delete name and removes it asynchronously.
func (m *Manager) removeDir(dataDir string, tp TopicPartition, dir string) error {
	var id [16]byte
	rand.Read(id[:])
	gone := filepath.Join(dataDir, fmt.Sprintf("%s.%s%s", partitionDirName(tp.Topic, tp.Partition), hex.EncodeToString(id[:]), deleteDirSuffix))
	if err := os.Rename(dir, gone); err != nil {
		return err
	}
	m.forgetCleanerPoint(dataDir, tp)
	m.mu.Lock()
	delete(m.mu.recovery[dataDir], tp)
	delete(m.mu.starts[dataDir], tp)
	closed := m.mu.closed
	if !closed {
		m.bg.Add(1) // under m.mu: Close waits for bg only after setting closed
	}
	m.mu.Unlock()
	if closed {
		return os.RemoveAll(gone)
	}
	go func() { defer m.bg.Done(); os.RemoveAll(gone) }()
	return syncDir(dataDir)
}

// ExistingPartitions lists the partition directories on disk.
func (m *Manager) ExistingPartitions() []PartitionDir {
	var out []PartitionDir
	for _, d := range m.dirs {
		ents, err := os.ReadDir(d)
		if err != nil {
			continue
		}
		for _, e := range ents {
			if !e.IsDir() {
				continue
			}
			t, p, ok := parsePartitionDir(e.Name())
			if !ok || !validTopic(t) {
				continue
			}
			dir := filepath.Join(d, e.Name())
			id, has, _ := readPartitionMetadata(dir)
			out = append(out, PartitionDir{Topic: t, Partition: p, TopicID: id, HasTopicID: has, Dir: dir})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Topic != out[j].Topic {
			return out[i].Topic < out[j].Topic
		}
		return out[i].Partition < out[j].Partition
	})
	return out
}

// Checkpoint writes every data dir's recovery points and log start offsets
// atomically (tmp + fsync + rename + dir fsync).
func (m *Manager) Checkpoint() error {
	m.ckptMu.Lock()
	defer m.ckptMu.Unlock()
	m.mu.Lock()
	rps := map[string]map[TopicPartition]int64{}
	lss := map[string]map[TopicPartition]int64{}
	for _, d := range m.dirs {
		rps[d], lss[d] = map[TopicPartition]int64{}, map[TopicPartition]int64{}
		for tp, o := range m.mu.recovery[d] {
			rps[d][tp] = o
		}
		for tp, o := range m.mu.starts[d] {
			lss[d][tp] = o
		}
	}
	for tp, ml := range m.mu.logs {
		rps[ml.dataDir][tp] = ml.log.RecoveryPoint()
		lss[ml.dataDir][tp] = ml.log.LogStartOffset()
	}
	m.mu.Unlock()
	var first error
	for _, d := range m.dirs {
		if err := writeOffsetCheckpoint(filepath.Join(d, RecoveryPointCheckpoint), rps[d]); err != nil && first == nil {
			first = err
		}
		if err := writeOffsetCheckpoint(filepath.Join(d, LogStartOffsetCheckpoint), lss[d]); err != nil && first == nil {
			first = err
		}
	}
	return first
}

func (m *Manager) snapshot() []*managed {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]*managed, 0, len(m.mu.logs))
	for _, ml := range m.mu.logs {
		out = append(out, ml)
	}
	return out
}

// RunBackground starts the periodic work in a goroutine and returns: every
// retentionCheckInterval, retention (with hwFor's high watermark) and the
// release of idle indexes; every second, flush.ms; every minute, the
// checkpoints. It stops when ctx is done or the Manager is closed.
func (m *Manager) RunBackground(ctx context.Context, retentionCheckInterval time.Duration, hwFor func(topic string, partition int32) int64) {
	if retentionCheckInterval <= 0 {
		retentionCheckInterval = 5 * time.Minute
	}
	ctx, cancel := context.WithCancel(ctx)
	m.mu.Lock()
	if m.mu.closed {
		m.mu.Unlock()
		cancel()
		return
	}
	if m.mu.stop != nil {
		m.mu.stop()
	}
	m.mu.stop = cancel
	m.mu.Unlock()
	m.bg.Add(1)
	go func() {
		defer m.bg.Done()
		ret := time.NewTicker(retentionCheckInterval)
		flush := time.NewTicker(defaultFlushCheckInterval)
		ckpt := time.NewTicker(defaultCheckpointInterval)
		defer ret.Stop()
		defer flush.Stop()
		defer ckpt.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-ret.C:
				for _, ml := range m.snapshot() {
					l := ml.log
					if n, err := l.ApplyRetention(hwFor(l.tp.Topic, l.tp.Partition)); err != nil && !errors.Is(err, ErrClosed) {
						m.logger.Warn("retention failed", "dir", l.dir, "err", err)
					} else if n > 0 {
						m.logger.Info("retention deleted segments", "dir", l.dir, "segments", n)
					}
					l.ReleaseIndexes()
				}
			case now := <-flush.C:
				for _, ml := range m.snapshot() {
					if ml.log.flushDue(now) {
						if err := ml.log.Flush(); err != nil && !errors.Is(err, ErrClosed) {
							m.logger.Warn("flush failed", "dir", ml.log.dir, "err", err)
						}
					}
				}
			case <-ckpt.C:
				if err := m.Checkpoint(); err != nil {
					m.logger.Warn("checkpoint failed", "err", err)
				}
			}
		}
	}()
}

// Close stops the background work, closes (and so flushes) every log,
// writes the checkpoints and, last, the clean-shutdown marker of each data
// dir, unless something failed: then the next start recovers.
func (m *Manager) Close() error {
	m.mu.Lock()
	if m.mu.closed {
		m.mu.Unlock()
		return nil
	}
	m.mu.closed = true
	if m.mu.stop != nil {
		m.mu.stop()
	}
	m.cleaner.cancel()
	logs := make([]*managed, 0, len(m.mu.logs))
	for _, ml := range m.mu.logs {
		logs = append(logs, ml)
	}
	m.mu.Unlock()
	m.bg.Wait()
	var first error
	for _, ml := range logs {
		if err := ml.log.Close(); err != nil && first == nil {
			first = err
		}
	}
	if err := m.Checkpoint(); err != nil && first == nil {
		first = err
	}
	defer m.unlock()
	if first != nil {
		return first
	}
	for _, d := range m.dirs {
		if err := writeFileAtomic(filepath.Join(d, CleanShutdownFile), nil); err != nil {
			return err
		}
	}
	return nil
}

// DeleteStray removes the partition directory pd, listed by
// ExistingPartitions, unless the partition has been opened since: a stray
// log is one whose broker is no longer among the partition's replicas (or
// whose topic is gone). It reports whether it removed the directory.
func (m *Manager) DeleteStray(pd PartitionDir) (bool, error) {
	tp := TopicPartition{pd.Topic, pd.Partition}
	pl, err := m.partitionLock(tp)
	if err != nil {
		return false, err
	}
	pl.Lock()
	defer pl.Unlock()
	m.mu.Lock()
	open := m.mu.logs[tp] != nil
	m.mu.Unlock()
	if open {
		return false, nil
	}
	if _, err := os.Stat(pd.Dir); err != nil {
		return false, nil
	}
	return true, m.removeDir(filepath.Dir(pd.Dir), tp, pd.Dir)
}
