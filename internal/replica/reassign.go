package replica

import (
	"slices"
	"time"

	"github.com/quillstream/quill/internal/metadata"
)

// Partition reassignments (KIP-455) on the broker side: a broker newly in a
// partition's replicas opens the log and follows the leader (Apply's
// ensure); a broker that has left them stops serving and following it and
// deletes its directory (renamed to a -delete name, then removed, as Kafka
// does). The leader tracks the progress of followers that joined while it
// kept leading, so they can enter the ISR.

// removeUnassigned drops the hosted partitions of t of which this broker is
// no longer a replica.
func (m *Manager) removeUnassigned(t *metadata.Topic) {
	for _, pm := range t.Partitions {
		if slices.Contains(pm.Replicas, m.nodeID) {
			continue
		}
		p := m.Get(t.Name, pm.ID)
		if p == nil || p.TopicID != t.ID {
			continue
		}
		// Waiters (acks=all produces, long polls) learn that this broker
		// no longer leads before the log goes away.
		m.applyReplication(p, pm)
		m.log.Info("partition reassigned away: deleting the replica", "topic", t.Name, "partition", pm.ID, "replicas", pm.Replicas)
		m.remove(TP{t.Name, pm.ID})
	}
}

// syncFollowers makes the leader's follower table match the replicas when
// they change under the same leader (a reassignment adds or removes
// replicas): new followers get a full lag window, departed ones go.
// REQUIRES: rs.mu held.
func (rs *replState) syncFollowers(replicas []int32) {
	now := time.Now()
	for _, r := range replicas {
		if r != rs.node && rs.followers[r] == nil {
			rs.followers[r] = &followerState{leo: -1, lastCaughtUp: now, leaderLEOAtLast: -1}
		}
	}
	for r := range rs.followers {
		if !slices.Contains(replicas, r) {
			delete(rs.followers, r)
		}
	}
}
