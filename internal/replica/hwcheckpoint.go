package replica

import (
	"context"
	"path/filepath"
	"sync"
	"time"

	qlog "github.com/quillstream/quill/internal/log"
)

// High-watermark checkpoints, Kafka's replication-offset-checkpoint: each
// log dir has a file of "topic partition hw" lines (the offset checkpoint
// format), written every replica.high.watermark.checkpoint.interval.ms and
// at clean shutdown. A partition opened in cluster mode starts with
// HW = min(checkpointed HW, LEO) (at least its log start), leader or
// follower, as Kafka's Partition does; a leader then moves it up as its
// ISR fetches, a follower from its leader's answers. Without a checkpoint
// it starts at the log start. A single node has no followers: its high
// watermark is its log end, as before.

// hwCheckpoints caches the checkpoint files read at startup, by data dir.
type hwCheckpoints struct {
	mu     sync.Mutex
	byDir  map[string]map[qlog.TopicPartition]int64 // guarded by mu
	writeM sync.Mutex                               // serializes writes
}

// initialHW is the high watermark a partition opened on log l starts with.
func (m *Manager) initialHW(l *qlog.Log, tp TP) int64 {
	leo, start := l.LogEndOffset(), l.LogStartOffset()
	if m.repl == nil {
		return leo
	}
	hw, ok := m.checkpointedHW(filepath.Dir(l.Dir()), tp)
	if !ok {
		hw = start
	}
	return min(max(hw, start), leo)
}

// checkpointedHW returns tp's high watermark from dir's checkpoint file.
func (m *Manager) checkpointedHW(dir string, tp TP) (int64, bool) {
	c := &m.hwc
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.byDir == nil {
		c.byDir = map[string]map[qlog.TopicPartition]int64{}
	}
	hws, ok := c.byDir[dir]
	if !ok {
		var err error
		hws, err = qlog.ReadOffsetCheckpoint(filepath.Join(dir, qlog.HighWatermarkCheckpoint))
		if err != nil {
			m.log.Warn("high watermark checkpoint unreadable; partitions start at their log start", "dir", dir, "err", err)
			hws = map[qlog.TopicPartition]int64{}
		}
		c.byDir[dir] = hws
	}
	hw, ok := hws[qlog.TopicPartition{Topic: tp.Topic, Partition: tp.Partition}]
	return hw, ok
}

// CheckpointHighWatermarks writes every log dir's
// replication-offset-checkpoint with the hosted partitions' high
// watermarks.
func (m *Manager) CheckpointHighWatermarks() error {
	c := &m.hwc
	c.writeM.Lock()
	defer c.writeM.Unlock()
	byDir := map[string]map[qlog.TopicPartition]int64{}
	c.mu.Lock()
	for dir := range c.byDir {
		byDir[dir] = map[qlog.TopicPartition]int64{}
	}
	c.mu.Unlock()
	for _, p := range m.All() {
		if p.dir == "" {
			continue
		}
		dir := filepath.Dir(p.dir)
		if byDir[dir] == nil {
			byDir[dir] = map[qlog.TopicPartition]int64{}
		}
		byDir[dir][qlog.TopicPartition{Topic: p.Topic, Partition: p.ID}] = p.HighWatermark()
	}
	var first error
	for dir, hws := range byDir {
		if err := qlog.WriteOffsetCheckpoint(filepath.Join(dir, qlog.HighWatermarkCheckpoint), hws); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// RunHighWatermarkCheckpoints writes the checkpoints every interval until
// ctx ends.
func (m *Manager) RunHighWatermarkCheckpoints(ctx context.Context, interval time.Duration) {
	if interval <= 0 {
		interval = 5 * time.Second
	}
	go func() {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			if err := m.CheckpointHighWatermarks(); err != nil {
				m.log.Warn("cannot write high watermark checkpoint", "err", err)
			}
		}
	}()
}
