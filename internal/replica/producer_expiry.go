package replica

// Producer-id expiry (producer.id.expiration.ms): a producer id that has
// written nothing to a partition for that long and has no transaction open
// there is forgotten, as Kafka's ProducerStateManager.removeExpiredProducers
// does. A fresh producer-state snapshot is written right away, so the
// expired ids do not come back from an older snapshot after a restart. A
// later batch of an expired producer is accepted with any sequence
// (KIP-360), as after any loss of its state.

import "time"

// ExpireProducers forgets the producers whose last batch (its max
// timestamp, or the time of their last marker) is older than now - maxIdle
// and that have no open transaction. It returns how many were dropped.
func (p *Partition) ExpireProducers(now time.Time, maxIdle time.Duration) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	cutoff := now.Add(-maxIdle).UnixMilli()
	n := 0
	for pid, e := range p.producers {
		if e.TxnFirstOffset >= 0 || e.LastTimestamp > cutoff {
			continue
		}
		delete(p.producers, pid)
		delete(p.txn.verify, pid)
		n++
	}
	if n > 0 {
		p.snapshotAt = -1 // state changed: write a snapshot even at the same offset
		p.writeSnapshotLocked()
	}
	return n
}

// ExpireProducers runs Partition.ExpireProducers on every partition and
// returns how many producer ids were dropped in all.
func (m *Manager) ExpireProducers(maxIdle time.Duration) int {
	n := 0
	for _, p := range m.All() {
		n += p.ExpireProducers(p.now(), maxIdle)
	}
	return n
}
