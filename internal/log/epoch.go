package log

import (
	"fmt"
	"sort"
	"sync"
)

// leaderEpochFile is the per-partition leader epoch checkpoint.
const leaderEpochFile = "leader-epoch-checkpoint"

type epochEntry struct {
	Epoch       int32
	StartOffset int64
}

// epochCache is the leader epoch -> start offset map of KIP-101, persisted
// in Kafka's text format (version 0, count, "epoch offset" lines) and
// rewritten atomically on every change (changes are rare: one per leader
// election, truncation or log start move).
type epochCache struct {
	path string

	mu      sync.RWMutex
	entries []epochEntry // guarded by mu; epochs and offsets strictly increasing
}

func loadEpochCache(path string) (*epochCache, error) {
	c := &epochCache{path: path}
	lines, err := readCheckpoint(path)
	if err != nil {
		return nil, err
	}
	for _, l := range lines {
		var e epochEntry
		if _, err := fmt.Sscanf(l, "%d %d", &e.Epoch, &e.StartOffset); err != nil {
			return nil, fmt.Errorf("log: %s: bad line %q", path, l)
		}
		// Keep the cache monotonic whatever the file says.
		c.assignLocked(e)
	}
	return c, nil
}

func (c *epochCache) persistLocked() error {
	lines := make([]string, len(c.entries))
	for i, e := range c.entries {
		lines[i] = fmt.Sprintf("%d %d", e.Epoch, e.StartOffset)
	}
	return writeCheckpoint(c.path, lines)
}

// assignLocked adds (epoch, start) like Kafka's LeaderEpochFileCache.assign:
// nothing if the latest entry has this epoch and a start offset <= start;
// otherwise entries with an epoch >= epoch or a start offset >= start go.
func (c *epochCache) assignLocked(e epochEntry) bool {
	if e.Epoch < 0 || e.StartOffset < 0 {
		return false
	}
	if n := len(c.entries); n > 0 {
		last := c.entries[n-1]
		if last.Epoch == e.Epoch && e.StartOffset >= last.StartOffset {
			return false
		}
	}
	kept := c.entries[:0]
	for _, x := range c.entries {
		if x.Epoch < e.Epoch && x.StartOffset < e.StartOffset {
			kept = append(kept, x)
		}
	}
	c.entries = append(kept, e)
	return true
}

// assign records an epoch start and persists the cache if it changed.
func (c *epochCache) assign(epoch int32, start int64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.assignLocked(epochEntry{epoch, start}) {
		return nil
	}
	return c.persistLocked()
}

// needsAssign is a cheap pre-check for the append path.
func (c *epochCache) needsAssign(epoch int32) bool {
	if epoch < 0 {
		return false
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	n := len(c.entries)
	return n == 0 || c.entries[n-1].Epoch != epoch
}

// latestBelow returns the latest epoch that starts below off, -1 if none.
// Entries starting at or after the log end hold no records: an epoch a
// leader was given before it wrote anything.
func (c *epochCache) latestBelow(off int64) int32 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	for i := len(c.entries) - 1; i >= 0; i-- {
		if c.entries[i].StartOffset < off {
			return c.entries[i].Epoch
		}
	}
	return -1
}

func (c *epochCache) latest() int32 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if len(c.entries) == 0 {
		return -1
	}
	return c.entries[len(c.entries)-1].Epoch
}

// truncateFromEnd drops entries starting at or after off (truncation).
func (c *epochCache) truncateFromEnd(off int64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	i := sort.Search(len(c.entries), func(i int) bool { return c.entries[i].StartOffset >= off })
	if i == len(c.entries) {
		return nil
	}
	c.entries = c.entries[:i]
	return c.persistLocked()
}

// truncateFromStart drops entries wholly below off; the entry covering off
// is kept with its start moved to off (log start moved).
func (c *epochCache) truncateFromStart(off int64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	i := sort.Search(len(c.entries), func(i int) bool { return c.entries[i].StartOffset > off })
	if i == 0 {
		return nil
	}
	// entries[i-1] covers off.
	if i-1 == 0 && c.entries[0].StartOffset == off {
		return nil
	}
	kept := append([]epochEntry(nil), c.entries[i-1:]...)
	kept[0].StartOffset = off
	c.entries = kept
	return c.persistLocked()
}

// clear removes every entry.
func (c *epochCache) clear() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.entries = nil
	return c.persistLocked()
}

// endOffsetFor is KIP-101's OffsetsForLeaderEpoch answer given the LEO.
func (c *epochCache) endOffsetFor(epoch int32, leo int64) (int32, int64) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	n := len(c.entries)
	if epoch < 0 || n == 0 {
		return -1, -1
	}
	if c.entries[n-1].Epoch == epoch {
		return epoch, leo
	}
	// First entry with a larger epoch.
	hi := sort.Search(n, func(i int) bool { return c.entries[i].Epoch > epoch })
	if hi == n {
		return -1, -1 // newer than anything we know
	}
	if hi == 0 {
		return epoch, c.entries[0].StartOffset
	}
	return c.entries[hi-1].Epoch, c.entries[hi].StartOffset
}

// snapshot returns a copy of the entries.
func (c *epochCache) snapshot() []epochEntry {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return append([]epochEntry(nil), c.entries...)
}
