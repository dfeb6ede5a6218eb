package replica

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/quillstream/quill/internal/metadata"
)

// Replication, Kafka's ISR model (docs/cluster.md). The leader learns each
// follower's log end offset from the FetchOffset of its fetches; the high
// watermark is the minimum log end offset over the ISR; acks=all producers
// wait for it (WaitHighWatermark). A follower that has not caught up with
// the leader's log end for replica.lag.time.max.ms leaves the ISR, and
// joins again once it reaches the high watermark within the current leader
// epoch, both through the controller (ReplicationConfig.AlterPartition).

// replState is a partition's replication state from the metadata image
// and, on the leader, its followers' progress.
type replState struct {
	mu             sync.Mutex
	node           int32 // this broker
	leader         int32
	leaderEpoch    int32
	partitionEpoch int32
	replicas       []int32
	isr            []int32
	followers      map[int32]*followerState // leader only
	altering       bool                     // an AlterPartition is in flight
	hwc            chan struct{}            // closed when the high watermark moves
}

type followerState struct {
	leo             int64 // -1: unknown
	lastCaughtUp    time.Time
	lastFetch       time.Time
	leaderLEOAtLast int64 // leader's LEO at the previous fetch
}

// IsLeader says whether this broker leads the partition (always, outside
// cluster mode).
func (p *Partition) IsLeader() bool {
	p.repl.mu.Lock()
	defer p.repl.mu.Unlock()
	return p.repl.replicas == nil || p.repl.leader == p.repl.node
}

// ISR returns the in-sync replicas from the metadata image.
func (p *Partition) ISR() []int32 {
	p.repl.mu.Lock()
	defer p.repl.mu.Unlock()
	return slices.Clone(p.repl.isr)
}

// applyMetadata takes the partition's state from a new image.
func (p *Partition) applyMetadata(node int32, pm metadata.Partition) {
	rs := &p.repl
	rs.mu.Lock()
	becameLeader := pm.Leader == node && (rs.leader != node || rs.leaderEpoch != pm.LeaderEpoch || rs.replicas == nil)
	rs.node = node
	rs.leader, rs.leaderEpoch, rs.partitionEpoch = pm.Leader, pm.LeaderEpoch, pm.PartitionEpoch
	rs.replicas, rs.isr = slices.Clone(pm.Replicas), slices.Clone(pm.ISR)
	if rs.hwc == nil {
		rs.hwc = make(chan struct{})
	}
	if pm.Leader != node {
		rs.followers = nil
	} else if becameLeader || rs.followers == nil {
		now := time.Now()
		rs.followers = map[int32]*followerState{}
		for _, r := range pm.Replicas {
			if r != node {
				// A new leader gives every follower a full lag window.
				rs.followers[r] = &followerState{leo: -1, lastCaughtUp: now, leaderLEOAtLast: -1}
			}
		}
	} else {
		rs.syncFollowers(pm.Replicas) // reassign.go
	}
	rs.mu.Unlock()
	// The ISR may have shrunk: the high watermark may move.
	p.advanceHW()
	p.signalHW() // waiters re-check leadership
}

// advanceHW recomputes the high watermark on the leader.
func (p *Partition) advanceHW() {
	rs := &p.repl
	rs.mu.Lock()
	if rs.replicas != nil && rs.leader != rs.node {
		rs.mu.Unlock()
		return
	}
	hw := p.durableEnd() // the LEO, or what a group fsync covered (groupsync.go)
	for _, r := range rs.isr {
		if r == rs.node {
			continue
		}
		f := rs.followers[r]
		if f == nil || f.leo < 0 {
			rs.mu.Unlock()
			return // not heard from yet: the high watermark waits
		}
		hw = min(hw, f.leo)
	}
	rs.mu.Unlock()
	p.raiseHW(hw)
}

// raiseHW moves the high watermark up (never down) and wakes waiters.
func (p *Partition) raiseHW(hw int64) {
	for {
		cur := p.hw.Load()
		if hw <= cur {
			return
		}
		if p.hw.CompareAndSwap(cur, hw) {
			break
		}
	}
	p.signalHW()
	if p.nWait.Load() > 0 {
		p.wake()
	}
}

func (p *Partition) signalHW() {
	rs := &p.repl
	rs.mu.Lock()
	if rs.hwc != nil { // nil outside cluster mode: nobody waits
		close(rs.hwc)
		rs.hwc = make(chan struct{})
	}
	rs.mu.Unlock()
}

// WaitHighWatermark waits until the high watermark reaches offset (an
// acks=all produce), this broker stops leading, or ctx ends. It answers
// NOT_ENOUGH_REPLICAS_AFTER_APPEND if the ISR is then smaller than
// minISR, REQUEST_TIMED_OUT when ctx ends first.
func (p *Partition) WaitHighWatermark(ctx context.Context, offset int64, minISR int) error {
	for {
		rs := &p.repl
		rs.mu.Lock()
		ch := rs.hwc
		leader := rs.replicas == nil || rs.leader == rs.node
		isr := len(rs.isr)
		rs.mu.Unlock()
		if !leader {
			return kerr.NotLeaderForPartition
		}
		if p.hw.Load() >= offset {
			if rs.replicas != nil && isr < minISR {
				return kerr.NotEnoughReplicasAfterAppend
			}
			return nil
		}
		if ch == nil {
			return nil // single-node mode: the append moved the high watermark
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return kerr.RequestTimedOut
		}
	}
}

// FollowerFetched records a follower's fetch at fetchOffset (its log end
// offset) and returns whether it must be added to the ISR.
func (p *Partition) FollowerFetched(id int32, fetchOffset int64) (expand bool) {
	rs := &p.repl
	now := time.Now()
	leo := p.log.LogEndOffset()
	rs.mu.Lock()
	f := rs.followers[id]
	if f == nil {
		rs.mu.Unlock()
		return false
	}
	switch {
	case fetchOffset >= leo:
		f.lastCaughtUp = now
	case f.leaderLEOAtLast >= 0 && fetchOffset >= f.leaderLEOAtLast:
		f.lastCaughtUp = f.lastFetch
	}
	f.leo = fetchOffset
	f.lastFetch, f.leaderLEOAtLast = now, leo
	inISR := slices.Contains(rs.isr, id)
	epochStart := int64(-1)
	rs.mu.Unlock()
	p.advanceHW()
	if inISR {
		return false
	}
	// Kafka's Replica.isCaughtUp / Partition.isFollowerInSync: at the high
	// watermark and within the current leader epoch.
	if _, end := p.log.EndOffsetForEpoch(p.epoch.Load() - 1); end >= 0 {
		epochStart = end
	}
	return fetchOffset >= p.hw.Load() && fetchOffset >= epochStart && now.Sub(f.lastCaughtUp) < time.Minute
}

// isrChange proposes an ISR for the leader: followers lagging for longer
// than lagMax leave; add joins.
func (p *Partition) isrChange(lagMax time.Duration, add int32) (isr []int32, leaderEpoch, partitionEpoch int32, ok bool) {
	rs := &p.repl
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.replicas == nil || rs.leader != rs.node || rs.altering {
		return nil, 0, 0, false
	}
	now := time.Now()
	changed := false
	for _, r := range rs.isr {
		if r == rs.node {
			isr = append(isr, r)
			continue
		}
		if f := rs.followers[r]; f != nil && now.Sub(f.lastCaughtUp) > lagMax {
			changed = true
			continue
		}
		isr = append(isr, r)
	}
	if add >= 0 && !slices.Contains(isr, add) {
		isr = append(isr, add)
		changed = true
	}
	if !changed {
		return nil, 0, 0, false
	}
	rs.altering = true
	return isr, rs.leaderEpoch, rs.partitionEpoch, true
}

func (p *Partition) isrChangeDone() {
	p.repl.mu.Lock()
	p.repl.altering = false
	p.repl.mu.Unlock()
}
