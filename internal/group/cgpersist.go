package group

import (
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Persistence of KIP-848 consumer groups in __consumer_offsets
// (cgrecords.go has the formats). After every change of a consumer group the
// coordinator derives the records that describe it and appends those whose
// value differs from what the log holds (g.cgPersisted), tombstoning the
// keys that disappeared (members that left, a deleted or converted group) so
// compaction drops them. Replay rebuilds the group from the same records, so
// after a restart or a coordinator move members keep their ids, epochs and
// assignments.

// cgRecord is one desired consumer group record.
type cgRecord struct {
	key   cgKey
	value []byte
}

// cgSnapshot returns the records describing g.cg, in the order Kafka writes
// them for a new member (member metadata, group epoch, subscription
// metadata, target assignment, then the current assignment). REQUIRES:
// g.mu held.
func (g *group) cgSnapshot() []cgRecord {
	cg := g.cg
	if cg == nil {
		return nil
	}
	ids := make([]string, 0, len(cg.members))
	for id := range cg.members {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	key := func(v int16, member string) cgKey { return cgKey{version: v, group: g.id, member: member} }
	var out []cgRecord
	for _, id := range ids {
		m := cg.members[id]
		v := cgMemberMetadataValue{
			InstanceID:           m.instanceID,
			RackID:               m.rackID,
			ClientID:             m.clientID,
			ClientHost:           m.clientHost,
			SubscribedTopicNames: m.topics,
			RebalanceTimeoutMs:   int32(m.rebalanceTimeout.Milliseconds()),
			ServerAssignor:       m.assignor,
		}
		if v.SubscribedTopicNames == nil {
			v.SubscribedTopicNames = []string{}
		}
		if m.classic != nil {
			c := &cgClassicMemberMetadata{SessionTimeoutMs: int32(m.classic.sessionTimeout.Milliseconds())}
			for _, p := range m.classic.protocols {
				c.SupportedProtocols = append(c.SupportedProtocols, cgClassicProtocol{Name: p.Name, Metadata: p.Metadata})
			}
			v.Classic = c
		}
		out = append(out, cgRecord{key(cgMemberMetadataKey, id), v.encode()})
	}
	gm := cgMetadataValue{Epoch: cg.epoch, MetadataHash: int64(cg.metaSig), CreationTimeMs: -1}
	out = append(out, cgRecord{key(cgMetadataKey, ""), gm.encode()})
	pm := cgPartitionMetadataValue{Topics: slices.Clone(cg.topicMeta)}
	out = append(out, cgRecord{key(cgPartitionMetadataKey, ""), pm.encode()})
	tids := make([]string, 0, len(cg.target))
	for id := range cg.target {
		tids = append(tids, id)
	}
	slices.Sort(tids)
	for _, id := range tids {
		v := cgTargetMemberValue{Topics: cgPartitionsOf(cg.target[id])}
		out = append(out, cgRecord{key(cgTargetMemberKey, id), v.encode()})
	}
	tm := cgTargetMetadataValue{AssignmentEpoch: cg.targetEpoch}
	out = append(out, cgRecord{key(cgTargetMetadataKey, ""), tm.encode()})
	for _, id := range ids {
		m := cg.members[id]
		v := cgCurrentAssignmentValue{
			MemberEpoch:         m.epoch,
			PreviousMemberEpoch: m.prevEpoch,
			State:               cg.memberState(m),
			Assigned:            cgPartitionsOf(m.assigned),
			PendingRevocation:   cgPartitionsOf(m.revoking),
		}
		if m.left {
			// Kafka marks a static member that left temporarily with
			// epoch -2; the epoch it had stays in PreviousMemberEpoch.
			v.MemberEpoch, v.PreviousMemberEpoch = -2, m.epoch
		}
		out = append(out, cgRecord{key(cgCurrentAssignmentKey, id), v.encode()})
	}
	return out
}

// memberState is Kafka's MemberState of m for the current assignment record.
func (cg *consumerGroup) memberState(m *cgMember) int8 {
	switch {
	case len(m.revoking) > 0:
		return memberStateUnrevokedPartitions
	case m.epoch == cg.targetEpoch && m.assigned.size() < cg.target[m.id].size():
		return memberStateUnreleasedPartitions
	}
	return memberStateStable
}

func cgPartitionsOf(s tps) []cgTopicPartitions {
	out := make([]cgTopicPartitions, 0, len(s))
	for _, id := range s.sortedTopics() {
		out = append(out, cgTopicPartitions{TopicID: id, Partitions: s.sortedPartitions(id)})
	}
	return out
}

func tpsOf(ts []cgTopicPartitions) tps {
	s := tps{}
	for _, t := range ts {
		for _, p := range t.Partitions {
			s.add(t.TopicID, p)
		}
	}
	return s
}

// cgChanges returns the records that bring the log from g.cgPersisted to
// the current state of g.cg (deleted: to no consumer group records at all),
// and the persisted state after them. Tombstones of members come first
// (current assignment, target, metadata: Kafka's order), group-level
// tombstones last. REQUIRES: g.mu held.
func (g *group) cgChanges(deleted bool) ([]Record, map[string][]byte) {
	var want []cgRecord
	if !deleted {
		want = g.cgSnapshot()
	}
	next := make(map[string][]byte, len(want))
	var writes []Record
	for _, r := range want {
		k := r.key.encode()
		next[string(k)] = r.value
		if old, ok := g.cgPersisted[string(k)]; !ok || string(old) != string(r.value) {
			writes = append(writes, Record{Key: k, Value: r.value})
		}
	}
	var gone []cgKey
	for k := range g.cgPersisted {
		if _, ok := next[k]; ok {
			continue
		}
		if ck, err := decodeCGKey([]byte(k)); err == nil {
			gone = append(gone, ck)
		}
	}
	// Kafka's tombstone order: 8, 7, 5 per member, then 6, 4, 3.
	rank := map[int16]int{cgCurrentAssignmentKey: 0, cgTargetMemberKey: 1, cgMemberMetadataKey: 2, cgTargetMetadataKey: 3, cgPartitionMetadataKey: 4, cgMetadataKey: 5}
	slices.SortFunc(gone, func(a, b cgKey) int {
		ga, gb := !cgKeyHasMember(a.version), !cgKeyHasMember(b.version)
		if ga != gb {
			if ga {
				return 1
			}
			return -1
		}
		if c := cmp.Compare(a.member, b.member); c != 0 {
			return c
		}
		return cmp.Compare(rank[a.version], rank[b.version])
	})
	var recs []Record
	split := len(gone)
	for i, k := range gone {
		if !cgKeyHasMember(k.version) {
			split = i
			break
		}
	}
	for _, k := range gone[:split] {
		recs = append(recs, Record{Key: k.encode()})
	}
	if g.cg != nil && g.cg.classicTombstone && !deleted {
		recs = append(recs, groupTombstone(g.id))
	}
	recs = append(recs, writes...)
	for _, k := range gone[split:] {
		recs = append(recs, Record{Key: k.encode()})
	}
	return recs, next
}

// persistCG writes what changed in g.cg since the last write (deleted: the
// tombstones of every consumer group record). On failure nothing is marked
// written, so the next change writes it again. REQUIRES: g.mu held.
func (g *group) persistCG(ctx context.Context, deleted bool) error {
	recs, next := g.cgChanges(deleted)
	if len(recs) == 0 {
		return nil
	}
	if err := g.persist(ctx, recs...); err != nil {
		return err
	}
	g.cgPersisted = next
	if g.cg != nil {
		g.cg.classicTombstone = false
	}
	return nil
}

// persistCGBackground is persistCG for changes decided by a timer.
func (g *group) persistCGBackground() {
	ctx, cancel := context.WithTimeout(g.c.ctx, 30*time.Second)
	defer cancel()
	if err := g.persistCG(ctx, false); err != nil {
		g.c.log.Warn("group: persisting consumer group failed", "group", g.id, "err", err)
	}
}

// cgReplay accumulates one group's consumer group records during replay.
type cgReplay struct {
	seq         int // position of the last ConsumerGroupMetadata record
	meta        *cgMetadataValue
	targetEpoch int32
	topicMeta   []cgTopicMetadata
	members     map[string]*cgMemberMetadataValue
	targets     map[string]*cgTargetMemberValue
	current     map[string]*cgCurrentAssignmentValue
	raw         map[string][]byte // live key → value, as the log holds them
}

// apply replays one consumer group record (value nil: tombstone).
func (a *cgReplay) apply(seq int, k cgKey, rawKey []byte, v any) {
	if v == nil {
		delete(a.raw, string(rawKey))
	}
	switch k.version {
	case cgMetadataKey:
		a.meta, _ = v.(*cgMetadataValue)
		a.seq = seq
	case cgMemberMetadataKey:
		if mv, ok := v.(*cgMemberMetadataValue); ok {
			a.members[k.member] = mv
		} else {
			delete(a.members, k.member)
		}
	case cgTargetMemberKey:
		if tv, ok := v.(*cgTargetMemberValue); ok {
			a.targets[k.member] = tv
		} else {
			delete(a.targets, k.member)
		}
	case cgCurrentAssignmentKey:
		if cv, ok := v.(*cgCurrentAssignmentValue); ok {
			a.current[k.member] = cv
		} else {
			delete(a.current, k.member)
		}
	case cgTargetMetadataKey:
		if tv, ok := v.(*cgTargetMetadataValue); ok {
			a.targetEpoch = tv.AssignmentEpoch
		}
	case cgPartitionMetadataKey:
		a.topicMeta = nil
		if pv, ok := v.(*cgPartitionMetadataValue); ok {
			a.topicMeta = pv.Topics
		}
	}
}

func newCGReplay() *cgReplay {
	return &cgReplay{
		members: map[string]*cgMemberMetadataValue{},
		targets: map[string]*cgTargetMemberValue{},
		current: map[string]*cgCurrentAssignmentValue{},
		raw:     map[string][]byte{},
	}
}

// restoreCG makes g a consumer group from replayed records. Members need
// their metadata record; one without a current assignment record restarts
// from epoch 0 with nothing assigned.
func (g *group) restoreCG(a *cgReplay) {
	cg := &consumerGroup{
		epoch:       a.meta.Epoch,
		targetEpoch: a.targetEpoch,
		assignor:    defaultAssignor(g.c.cfg.ConsumerAssignors),
		metaSig:     uint64(a.meta.MetadataHash),
		topicMeta:   a.topicMeta,
		members:     map[string]*cgMember{},
		target:      map[string]tps{},
	}
	ids := make([]string, 0, len(a.members))
	for id := range a.members {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		mv := a.members[id]
		m := &cgMember{
			id:               id,
			instanceID:       mv.InstanceID,
			rackID:           mv.RackID,
			clientID:         mv.ClientID,
			clientHost:       mv.ClientHost,
			topics:           mv.SubscribedTopicNames,
			rebalanceTimeout: time.Duration(max(mv.RebalanceTimeoutMs, 0)) * time.Millisecond,
			assignor:         mv.ServerAssignor,
			assigned:         tps{},
		}
		if c := mv.Classic; c != nil {
			m.classic = &cgClassic{sessionTimeout: time.Duration(max(c.SessionTimeoutMs, 0)) * time.Millisecond}
			for _, p := range c.SupportedProtocols {
				m.classic.protocols = append(m.classic.protocols, kmsg.JoinGroupRequestProtocol{Name: p.Name, Metadata: p.Metadata})
			}
			if len(m.classic.protocols) == 0 {
				// A bridged member needs a protocol to answer SyncGroup
				// with; without one it must rejoin.
				m.classic.protocols = []kmsg.JoinGroupRequestProtocol{{Name: ""}}
			}
		}
		if cv := a.current[id]; cv != nil {
			m.epoch, m.prevEpoch = cv.MemberEpoch, cv.PreviousMemberEpoch
			if cv.MemberEpoch == -2 {
				m.left = true
				m.epoch = cv.PreviousMemberEpoch
			}
			m.assigned = tpsOf(cv.Assigned)
			if len(cv.PendingRevocation) > 0 {
				m.revoking = tpsOf(cv.PendingRevocation)
			}
		}
		cg.members[id] = m
	}
	for id, tv := range a.targets {
		if cg.members[id] != nil {
			cg.target[id] = tpsOf(tv.Topics)
		}
	}
	for id := range cg.members {
		if cg.target[id] == nil {
			cg.target[id] = tps{}
		}
	}
	cg.assignor = cg.preferredAssignor(cg.assignor)
	g.cg = cg
	g.protocolType = "consumer"
	g.cgPersisted = a.raw
}

// restartCGTimers gives restored members a fresh session and, when they
// still owe a revocation, a fresh revocation deadline. REQUIRES: g.mu held.
func (g *group) restartCGTimers() {
	if g.cg == nil {
		return
	}
	for _, m := range g.cg.members {
		g.resetCGSession(m)
		if len(m.revoking) > 0 {
			g.scheduleRevocationTimeout(m)
		}
	}
}
