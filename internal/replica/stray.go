package replica

import (
	"slices"

	qlog "github.com/quillstream/quill/internal/log"
	"github.com/quillstream/quill/internal/metadata"
)

// Stray logs. A broker that was down while a partition moved away from it
// (reassignment) or while its topic was deleted still has the partition's
// directory when it comes back: nothing in the metadata it replays asks it
// to delete it. Kafka removes such stray logs once the broker has caught
// up with the metadata; RemoveStray does the same.

// isStray reports whether the directory pd is no longer wanted under img.
// A directory without a recorded topic id is kept when its topic exists
// and lists this node (it predates topic ids).
func (m *Manager) isStray(img *metadata.Image, pd qlog.PartitionDir) bool {
	t := img.Topics[pd.Topic]
	switch {
	case t == nil:
		return true
	case pd.HasTopicID && metadata.UUID(pd.TopicID) != t.ID:
		return true
	case int(pd.Partition) >= len(t.Partitions):
		return true
	}
	p := t.Partitions[pd.Partition]
	return !slices.Contains(p.Replicas, m.nodeID)
}

// RemoveStray deletes the partition directories this broker holds but
// img no longer assigns to it, and returns their paths. Call it once the
// broker's metadata has caught up (its own registration is in img), never
// with an image older than the logs on disk.
//
// When img knows none of the topics on disk it removes nothing and
// reports refused: that is a lost or foreign metadata log rather than a
// few stray partitions, and deleting every log would turn an operator's
// mistake into data loss.
func (m *Manager) RemoveStray(img *metadata.Image) (removed []string, refused bool) {
	var stray []qlog.PartitionDir
	all := m.logs.ExistingPartitions()
	known := false
	for _, pd := range all {
		known = known || img.Topics[pd.Topic] != nil
		if m.isStray(img, pd) {
			stray = append(stray, pd)
		}
	}
	if len(stray) == 0 {
		return nil, false
	}
	if !known {
		return nil, true
	}
	for _, pd := range stray {
		ok, err := m.logs.DeleteStray(pd)
		if err != nil {
			m.log.Warn("cannot remove stray partition directory", "dir", pd.Dir, "err", err)
			continue
		}
		if ok {
			removed = append(removed, pd.Dir)
		}
	}
	return removed, false
}
