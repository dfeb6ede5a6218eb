package log

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"
)

// CleanerOffsetCheckpoint is the per data dir file of cleaner checkpoints
// ("topic partition offset": everything below offset has been compacted),
// in Kafka's format and under Kafka's name.
const CleanerOffsetCheckpoint = "cleaner-offset-checkpoint"

// CleanerConfig configures Manager.RunCleaner, with Kafka's broker keys.
type CleanerConfig struct {
	// Backoff is log.cleaner.backoff.ms: the pause when no log needs
	// cleaning (15 s).
	Backoff time.Duration
	// DedupeBufferBytes bounds the key map of one pass, like Kafka's
	// log.cleaner.dedupe.buffer.size (128 MiB); Kafka counts 24 bytes per
	// key (16-byte hash + offset), and so does Quill, although a Go map
	// takes more. A dirty range with more keys is cleaned a prefix at a
	// time.
	DedupeBufferBytes int64
	// MaxKeys, if > 0, overrides DedupeBufferBytes (tests).
	MaxKeys int
	// AbortedFor, if set, lists a partition's aborted transactions
	// overlapping [from, to) (see CleanOptions.Aborted).
	AbortedFor func(topic string, partition int32, from, to int64) []AbortedTxn
	// Threads is log.cleaner.threads: logs cleaned at the same time (1);
	// they share the dedupe buffer.
	Threads int
}

func (c CleanerConfig) maxKeys() int {
	if c.MaxKeys > 0 {
		return c.MaxKeys
	}
	b := c.DedupeBufferBytes
	if b <= 0 {
		b = 128 << 20
	}
	return max(int(b/24)/max(c.Threads, 1), 1)
}

// cleanerManager keeps the cleaner checkpoints (Kafka's LogCleanerManager).
type cleanerManager struct {
	mu     sync.Mutex
	stop   context.CancelFunc
	loaded bool
	// points[dataDir][tp] is the cleaner checkpoint; owner[tp] the Log it
	// was last advanced for, so a partition deleted and re-created in the
	// same process starts from its log start again.
	points map[string]map[TopicPartition]int64
	owner  map[TopicPartition]*Log
}

func (c *cleanerManager) cancel() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stop != nil {
		c.stop()
	}
}

// loadLocked reads every data dir's cleaner checkpoint once.
// REQUIRES: c.mu held.
func (m *Manager) loadCleanerPointsLocked() {
	c := &m.cleaner
	if c.loaded {
		return
	}
	c.loaded = true
	c.points = map[string]map[TopicPartition]int64{}
	c.owner = map[TopicPartition]*Log{}
	for _, d := range m.dirs {
		pts, err := readOffsetCheckpoint(filepath.Join(d, CleanerOffsetCheckpoint))
		if err != nil {
			// Without checkpoints every compacted log is dirty from its
			// start: one extra pass, nothing lost.
			m.logger.Warn("cleaner checkpoint unreadable; logs will be cleaned from their start", "dir", d, "err", err)
			pts = map[TopicPartition]int64{}
		}
		c.points[d] = pts
	}
}

// CleanerCheckpoint returns the cleaner checkpoint of a partition (-1 if
// none).
func (m *Manager) CleanerCheckpoint(topic string, partition int32) int64 {
	m.cleaner.mu.Lock()
	defer m.cleaner.mu.Unlock()
	m.loadCleanerPointsLocked()
	tp := TopicPartition{topic, partition}
	for _, pts := range m.cleaner.points {
		if o, ok := pts[tp]; ok {
			return o
		}
	}
	return -1
}

// firstDirty is the checkpoint of ml's log, forgetting one that belonged to
// another Log object of the same partition (deleted and re-created).
func (m *Manager) firstDirty(tp TopicPartition, ml *managed) int64 {
	c := &m.cleaner
	c.mu.Lock()
	defer c.mu.Unlock()
	m.loadCleanerPointsLocked()
	if o, ok := c.owner[tp]; ok && o != ml.log {
		delete(c.points[ml.dataDir], tp)
	}
	c.owner[tp] = ml.log
	if o, ok := c.points[ml.dataDir][tp]; ok {
		return o
	}
	return 0
}

// setFirstDirty records and persists a new checkpoint.
func (m *Manager) setFirstDirty(tp TopicPartition, ml *managed, off int64) error {
	c := &m.cleaner
	c.mu.Lock()
	defer c.mu.Unlock()
	m.loadCleanerPointsLocked()
	if c.points[ml.dataDir] == nil {
		c.points[ml.dataDir] = map[TopicPartition]int64{}
	}
	c.points[ml.dataDir][tp] = off
	c.owner[tp] = ml.log
	// Entries of partitions no longer on disk are dropped.
	pts := map[TopicPartition]int64{}
	for p, o := range c.points[ml.dataDir] {
		if _, err := os.Stat(filepath.Join(ml.dataDir, partitionDirName(p.Topic, p.Partition))); err == nil {
			pts[p] = o
		}
	}
	c.points[ml.dataDir] = pts
	return writeOffsetCheckpoint(filepath.Join(ml.dataDir, CleanerOffsetCheckpoint), pts)
}

// forgetCleanerPoint drops a deleted partition's checkpoint, so a topic
// re-created under the same name starts dirty from its log start.
func (m *Manager) forgetCleanerPoint(dataDir string, tp TopicPartition) {
	c := &m.cleaner
	c.mu.Lock()
	defer c.mu.Unlock()
	m.loadCleanerPointsLocked()
	delete(c.owner, tp)
	if _, ok := c.points[dataDir][tp]; !ok {
		return
	}
	delete(c.points[dataDir], tp)
	if err := writeOffsetCheckpoint(filepath.Join(dataDir, CleanerOffsetCheckpoint), c.points[dataDir]); err != nil {
		m.logger.Warn("write cleaner checkpoint", "dir", dataDir, "err", err)
	}
}

// RunCleaner starts the log cleaner in a goroutine and returns. It
// compacts logs whose cleanup.policy includes compact when CleaningDue says
// so, the dirtiest first, below upperFor's offset (the last stable offset:
// the cleaner never touches what consumers cannot read yet; a negative
// value skips the partition), and keeps cleaner-offset-checkpoint. It stops
// when ctx is done or the Manager is closed; a pass in flight is abandoned
// between batches (its partial file is removed, nothing is swapped).
func (m *Manager) RunCleaner(ctx context.Context, cfg CleanerConfig, upperFor func(topic string, partition int32) int64) {
	if cfg.Backoff <= 0 {
		cfg.Backoff = 15 * time.Second
	}
	ctx, cancel := context.WithCancel(ctx)
	m.mu.Lock()
	if m.mu.closed {
		m.mu.Unlock()
		cancel()
		return
	}
	m.cleaner.mu.Lock()
	if m.cleaner.stop != nil {
		m.cleaner.stop()
	}
	m.cleaner.stop = cancel
	m.cleaner.mu.Unlock()
	m.bg.Add(1)
	m.mu.Unlock()
	go func() {
		defer m.bg.Done()
		t := time.NewTimer(0)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			busy := m.CleanOnce(ctx, cfg, upperFor)
			if busy {
				t.Reset(0)
			} else {
				t.Reset(cfg.Backoff)
			}
		}
	}()
}

// CleanOnce runs one round of the cleaner: a pass over every log that is
// due, the dirtiest first. It reports whether it cleaned anything.
func (m *Manager) CleanOnce(ctx context.Context, cfg CleanerConfig, upperFor func(topic string, partition int32) int64) bool {
	type cand struct {
		tp    TopicPartition
		ml    *managed
		first int64
		upper int64
		ratio float64
	}
	var cands []cand
	m.mu.Lock()
	for tp, ml := range m.mu.logs {
		cands = append(cands, cand{tp: tp, ml: ml})
	}
	m.mu.Unlock()
	due := cands[:0]
	for _, c := range cands {
		if !c.ml.log.Config().Compact {
			continue
		}
		c.upper = upperFor(c.tp.Topic, c.tp.Partition)
		if c.upper < 0 {
			continue
		}
		c.first = m.firstDirty(c.tp, c.ml)
		var ok bool
		if c.ratio, ok = c.ml.log.CleaningDue(c.first, c.upper); ok {
			due = append(due, c)
		}
	}
	sort.Slice(due, func(i, j int) bool { return due[i].ratio > due[j].ratio })
	var mu sync.Mutex
	cleaned := false
	work := make(chan cand)
	var wg sync.WaitGroup
	for range min(max(cfg.Threads, 1), len(due)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range work {
				if m.cleanLog(ctx, cfg, c.tp, c.ml, c.first, c.upper, c.ratio) {
					mu.Lock()
					cleaned = true
					mu.Unlock()
				}
			}
		}()
	}
	for _, c := range due {
		if ctx.Err() != nil {
			break
		}
		work <- c
	}
	close(work)
	wg.Wait()
	return cleaned
}

// cleanLog runs one pass over a log and records its new checkpoint.
func (m *Manager) cleanLog(ctx context.Context, cfg CleanerConfig, tp TopicPartition, ml *managed, first, upper int64, ratio float64) bool {
	start := time.Now()
	o := CleanOptions{FirstDirty: first, Upper: upper, MaxKeys: cfg.maxKeys()}
	if cfg.AbortedFor != nil {
		for _, a := range cfg.AbortedFor(tp.Topic, tp.Partition, 0, upper) {
			if a.LastOffset < upper {
				o.Aborted = append(o.Aborted, a)
			}
		}
	}
	res, err := ml.log.Clean(ctx, o)
	switch {
	case err == nil:
	case errors.Is(err, ErrClosed), errors.Is(err, errCleanAborted), errors.Is(err, context.Canceled):
		m.logger.Debug("cleaning abandoned", "dir", ml.log.dir, "err", err)
		return false
	default:
		m.logger.Warn("cleaning failed", "dir", ml.log.dir, "err", err)
		return false
	}
	if res.NextDirty != first {
		if err := m.setFirstDirty(tp, ml, res.NextDirty); err != nil {
			m.logger.Warn("write cleaner checkpoint", "dir", ml.dataDir, "err", err)
		}
	}
	m.logger.Info("cleaned log", "dir", ml.log.dir, "dirty_ratio", ratio,
		"segments", res.SegmentsBefore, "to_segments", res.SegmentsAfter,
		"bytes", res.BytesBefore, "to_bytes", res.BytesAfter, "records_removed", res.RecordsRemoved,
		"checkpoint", res.NextDirty, "took", time.Since(start))
	return true
}
