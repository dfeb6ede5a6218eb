package group

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The classic-protocol bridge of KIP-848 (online upgrade and downgrade):
// classic JoinGroup / SyncGroup / Heartbeat / LeaveGroup members of
// protocol type "consumer" take part in a consumer group. Their
// subscription comes from the JoinGroup's ConsumerProtocolSubscription
// metadata; the server-side assignor assigns them like any member, and
// SyncGroup delivers their current assignment as a
// ConsumerProtocolAssignment. A classic member's member epoch is its
// generation; when its assignment must change it is told to rejoin
// (REBALANCE_IN_PROGRESS on Heartbeat), and the rejoin reports what it
// still owns, which is when revocations are acknowledged.
//
// group.consumer.migration.policy decides conversions: a Stable classic
// group of protocol type "consumer" becomes a consumer group when a
// ConsumerGroupHeartbeat member joins (upgrade, bidirectional), and a
// consumer group whose last consumer-protocol member left becomes a classic
// group again (downgrade, bidirectional), rebalancing so that a classic
// leader assigns.

// Migration policies (group.consumer.migration.policy).
const (
	MigrationBidirectional = "bidirectional"
	MigrationUpgrade       = "upgrade"
	MigrationDowngrade     = "downgrade"
	MigrationDisabled      = "disabled"
)

// cgClassic is what a consumer group keeps of a classic member.
type cgClassic struct {
	sessionTimeout time.Duration
	protocols      []kmsg.JoinGroupRequestProtocol
}

func (c *Coordinator) upgradeAllowed() bool {
	return c.cfg.MigrationPolicy == MigrationBidirectional || c.cfg.MigrationPolicy == MigrationUpgrade
}

func (c *Coordinator) downgradeAllowed() bool {
	return c.cfg.MigrationPolicy == MigrationBidirectional || c.cfg.MigrationPolicy == MigrationDowngrade
}

// subscriptionOf decodes a classic member's ConsumerProtocolSubscription
// (the first protocol's; a consumer sends the same topics in each).
func subscriptionOf(ps []kmsg.JoinGroupRequestProtocol) (*kmsg.ConsumerMemberMetadata, error) {
	if len(ps) == 0 {
		return nil, fmt.Errorf("no protocols")
	}
	var md kmsg.ConsumerMemberMetadata
	if err := md.ReadFrom(ps[0].Metadata); err != nil {
		return nil, err
	}
	return &md, nil
}

// ownedOf resolves a subscription's owned partitions to topic ids.
func ownedOf(md *kmsg.ConsumerMemberMetadata, meta TopicMetadata) []kmsg.ConsumerGroupHeartbeatRequestTopic {
	out := []kmsg.ConsumerGroupHeartbeatRequestTopic{}
	for _, o := range md.OwnedPartitions {
		if id, _, ok := meta.TopicByName(o.Topic); ok {
			out = append(out, kmsg.ConsumerGroupHeartbeatRequestTopic{TopicID: id, Partitions: o.Partitions})
		}
	}
	return out
}

// assignmentBytes encodes partitions as a ConsumerProtocolAssignment.
func assignmentBytes(s tps, meta TopicMetadata) []byte {
	a := kmsg.NewConsumerMemberAssignment()
	a.Version = 3
	for _, id := range s.sortedTopics() {
		name, ok := meta.TopicByID(id)
		if !ok {
			continue
		}
		a.Topics = append(a.Topics, kmsg.ConsumerMemberAssignmentTopic{Topic: name, Partitions: s.sortedPartitions(id)})
	}
	return a.AppendTo(nil)
}

// refreshTarget starts a new group epoch when bump is set or the subscribed
// topics changed, and computes the target assignment if it is behind.
// REQUIRES: g.mu held.
func (g *group) refreshTarget(meta TopicMetadata, bump bool) {
	cg := g.cg
	if a := cg.preferredAssignor(defaultAssignor(g.c.cfg.ConsumerAssignors)); a != cg.assignor {
		cg.assignor = a
		bump = true // a new assignor computes a new target
	}
	sig := metadataSignature(cg, meta)
	if sig != cg.metaSig && cg.targetEpoch == cg.epoch {
		bump = true // topics created, deleted or grown since the last target
	}
	if bump {
		cg.epoch++
	}
	if cg.targetEpoch < cg.epoch {
		cg.computeTarget(meta)
		cg.metaSig = sig
	}
}

// joinConsumerGroup is a classic JoinGroup to a consumer group with
// members. It answers at once: the generation is the member's epoch, no
// leader, and SyncGroup returns the assignment. REQUIRES: g.mu held.
func (g *group) joinConsumerGroup(ctx context.Context, req *kmsg.JoinGroupRequest, ci clientInfo, session, rebalance time.Duration) joinResult {
	fail := func(code int16) joinResult { return joinResult{err: code, memberID: req.MemberID} }
	meta := g.c.topicMetadata()
	if req.ProtocolType != "consumer" || meta == nil {
		return fail(kerr.InconsistentGroupProtocol.Code)
	}
	sub, err := subscriptionOf(req.Protocols)
	if err != nil {
		return fail(kerr.InconsistentGroupProtocol.Code)
	}
	cg := g.cg
	id := req.MemberID
	if id == "" {
		id = newUUID()
		if req.Version >= 4 && req.InstanceID == nil {
			// KIP-394, as for classic groups; any id is admitted later.
			return joinResult{err: kerr.MemberIDRequired.Code, memberID: id}
		}
	}
	m := cg.members[id]
	if m != nil && m.classic == nil {
		return fail(kerr.UnknownMemberID.Code) // a consumer-protocol member's id
	}
	bump := false
	if m == nil {
		var prev *cgMember // the static member this one replaces
		if req.InstanceID != nil {
			for _, o := range cg.members {
				if o.instanceID != nil && *o.instanceID == *req.InstanceID {
					prev = o
				}
			}
		}
		m = &cgMember{id: id, assigned: tps{}, instanceID: cloneStr(req.InstanceID)}
		if prev != nil {
			m.epoch, m.prevEpoch, m.topics = prev.epoch, prev.prevEpoch, prev.topics
			m.assigned, m.revoking = prev.assigned, prev.revoking
			target := cg.target[prev.id]
			g.stopCGTimers(prev)
			delete(cg.members, prev.id)
			delete(cg.target, prev.id)
			cg.target[id] = target
		} else {
			bump = true
		}
		cg.members[id] = m
	}
	m.clientID, m.clientHost = ci.id, ci.host
	m.rebalanceTimeout = rebalance
	m.classic = &cgClassic{sessionTimeout: session, protocols: cloneProtocols(req.Protocols)}
	if sub.Rack != nil {
		m.rackID = cloneStr(sub.Rack)
	}
	topics := slices.Clone(sub.Topics)
	slices.Sort(topics)
	topics = slices.Compact(topics)
	if !slices.Equal(topics, m.topics) {
		m.topics = topics
		bump = true
	}
	g.refreshTarget(meta, bump)
	g.reconcile(m, ownedOf(sub, meta))
	g.resetCGSession(m)
	if err := g.persistCG(ctx, false); err != nil {
		return fail(storeErrorCode(err))
	}
	return joinResult{memberID: id, generation: m.epoch, protocolType: "consumer", protocol: req.Protocols[0].Name}
}

// classicMember finds a classic member of the consumer group for SyncGroup,
// Heartbeat and OffsetCommit. REQUIRES: g.mu held.
func (g *group) classicMember(memberID string, instanceID *string) (*cgMember, int16) {
	m := g.cg.members[memberID]
	if m == nil || m.classic == nil {
		if instanceID != nil {
			for _, o := range g.cg.members {
				if o.instanceID != nil && *o.instanceID == *instanceID {
					return nil, kerr.FencedInstanceID.Code
				}
			}
		}
		return nil, kerr.UnknownMemberID.Code
	}
	if instanceID != nil && (m.instanceID == nil || *m.instanceID != *instanceID) {
		return nil, kerr.FencedInstanceID.Code
	}
	return m, 0
}

// syncConsumerGroup is a classic SyncGroup to a consumer group: the member
// gets its current assignment. REQUIRES: g.mu held.
func (g *group) syncConsumerGroup(req *kmsg.SyncGroupRequest) syncResult {
	m, code := g.classicMember(req.MemberID, req.InstanceID)
	switch {
	case code != 0:
		return syncResult{err: code}
	case req.Generation != m.epoch:
		return syncResult{err: kerr.IllegalGeneration.Code}
	case req.ProtocolType != nil && *req.ProtocolType != "consumer",
		req.Protocol != nil && !slices.ContainsFunc(m.classic.protocols, func(p kmsg.JoinGroupRequestProtocol) bool { return p.Name == *req.Protocol }):
		return syncResult{err: kerr.InconsistentGroupProtocol.Code}
	}
	meta := g.c.topicMetadata()
	if meta == nil {
		return syncResult{err: kerr.CoordinatorNotAvailable.Code}
	}
	g.resetCGSession(m)
	protocol := m.classic.protocols[0].Name
	if req.Protocol != nil {
		protocol = *req.Protocol
	}
	return syncResult{assignment: assignmentBytes(m.assigned, meta), protocolType: "consumer", protocol: protocol, bridged: true}
}

// needsRejoin reports whether a classic member's assignment would change if
// it rejoined: it owes a revocation, is behind the target epoch, or can
// take target partitions no one else holds any more. REQUIRES: g.mu held.
func (g *group) needsRejoin(m *cgMember) bool {
	cg := g.cg
	if len(m.revoking) > 0 || m.epoch < cg.targetEpoch {
		return true
	}
	gain := false
	cg.target[m.id].each(func(id [16]byte, p int32) {
		if gain || m.assigned.has(id, p) {
			return
		}
		for _, o := range cg.members {
			if o != m && (o.assigned.has(id, p) || o.revoking.has(id, p)) {
				return
			}
		}
		gain = true
	})
	return gain
}

// heartbeatConsumerGroup is a classic Heartbeat to a consumer group.
// REQUIRES: g.mu held.
func (g *group) heartbeatConsumerGroup(ctx context.Context, req *kmsg.HeartbeatRequest) int16 {
	m, code := g.classicMember(req.MemberID, req.InstanceID)
	if code != 0 {
		return code
	}
	if req.Generation != m.epoch {
		return kerr.IllegalGeneration.Code
	}
	g.resetCGSession(m)
	if meta := g.c.topicMetadata(); meta != nil && g.cg.targetEpoch < g.cg.epoch {
		g.refreshTarget(meta, false)
		if err := g.persistCG(ctx, false); err != nil {
			return storeErrorCode(err)
		}
	}
	if g.needsRejoin(m) {
		return kerr.RebalanceInProgress.Code
	}
	return 0
}

// leaveConsumerGroup is one member of a classic LeaveGroup to a consumer
// group. REQUIRES: g.mu held.
func (g *group) leaveConsumerGroup(l kmsg.LeaveGroupRequestMember) int16 {
	var m *cgMember
	if l.InstanceID != nil {
		for _, o := range g.cg.members {
			if o.instanceID != nil && *o.instanceID == *l.InstanceID {
				m = o
			}
		}
		if m == nil {
			return kerr.UnknownMemberID.Code
		}
		if l.MemberID != "" && l.MemberID != m.id {
			return kerr.FencedInstanceID.Code
		}
	} else if m = g.cg.members[l.MemberID]; m == nil {
		return kerr.UnknownMemberID.Code
	}
	g.c.log.Info("group: classic member left the consumer group", "group", g.id, "member", m.id)
	g.removeCGMember(m)
	g.afterCGRemoval()
	return 0
}

// afterCGRemoval persists a consumer group after members were removed
// outside a request that persists it, downgrading it first if only classic
// members are left. REQUIRES: g.mu held.
func (g *group) afterCGRemoval() {
	if g.maybeDowngrade() {
		return
	}
	g.persistCGBackground()
}

// maybeUpgrade converts a Stable classic group of consumer-protocol members
// into a consumer group for a joining ConsumerGroupHeartbeat member. The
// classic members keep their assignments at an epoch equal to their
// generation; the new member's join then starts a new group epoch and they
// are told to rejoin. REQUIRES: g.mu held.
func (g *group) maybeUpgrade(meta TopicMetadata) bool {
	if !g.c.upgradeAllowed() || g.state != stateStable || g.protocolType != "consumer" || len(g.members) == 0 {
		return false
	}
	cg := &consumerGroup{
		assignor:         defaultAssignor(g.c.cfg.ConsumerAssignors),
		epoch:            g.generation,
		targetEpoch:      g.generation,
		members:          map[string]*cgMember{},
		target:           map[string]tps{},
		classicTombstone: true,
	}
	for _, om := range g.members {
		md := om.metadataFor(g.protocol)
		var sub kmsg.ConsumerMemberMetadata
		if md == nil || sub.ReadFrom(md) != nil {
			return false
		}
		var asg kmsg.ConsumerMemberAssignment
		assigned := tps{}
		if len(om.assignment) > 0 {
			if asg.ReadFrom(om.assignment) != nil {
				return false
			}
			for _, t := range asg.Topics {
				if id, _, ok := meta.TopicByName(t.Topic); ok {
					for _, p := range t.Partitions {
						assigned.add(id, p)
					}
				}
			}
		}
		topics := slices.Clone(sub.Topics)
		slices.Sort(topics)
		m := &cgMember{
			id: om.id, instanceID: om.instanceID, clientID: om.clientID, clientHost: om.clientHost,
			epoch: g.generation, prevEpoch: g.generation, rebalanceTimeout: om.rebalanceTimeout,
			topics: slices.Compact(topics), assigned: assigned, rackID: cloneStr(sub.Rack),
			classic: &cgClassic{sessionTimeout: om.sessionTimeout, protocols: om.protocols},
		}
		cg.members[m.id] = m
		cg.target[m.id] = assigned.filter(func([16]byte, int32) bool { return true })
	}
	for _, om := range g.members {
		if om.hbTimer != nil {
			om.hbTimer.Stop()
		}
		om.hbSeq++
	}
	for id := range g.pending {
		g.removePending(id)
	}
	g.stopTimer()
	g.members = map[string]*member{}
	g.static = map[string]string{}
	g.leader, g.protocol = "", ""
	g.setState(stateEmpty) // consumer groups keep the classic state Empty
	g.cg = cg
	cg.metaSig = metadataSignature(cg, meta)
	for _, m := range cg.members {
		g.resetCGSession(m)
	}
	g.c.log.Info("group: classic group upgraded to a consumer group", "group", g.id, "members", len(cg.members))
	return true
}

// maybeDowngrade converts a consumer group whose members all use the classic
// protocol back into a classic group (policy permitting) and starts a
// rebalance, so that the classic members rejoin and their leader assigns.
// It persists the conversion. REQUIRES: g.mu held.
func (g *group) maybeDowngrade() bool {
	cg := g.cg
	if cg == nil || len(cg.members) == 0 || !g.c.downgradeAllowed() {
		return false
	}
	meta := g.c.topicMetadata()
	if meta == nil {
		return false
	}
	generation := int32(-1)
	for _, m := range cg.members {
		if m.classic == nil {
			return false
		}
		generation = max(generation, m.epoch)
	}
	ids := make([]string, 0, len(cg.members))
	for id := range cg.members {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	tombstones, _ := g.cgChanges(true)
	for _, id := range ids {
		cm := cg.members[id]
		g.stopCGTimers(cm)
		m := &member{
			id: cm.id, instanceID: cm.instanceID, clientID: cm.clientID, clientHost: cm.clientHost,
			sessionTimeout: cm.classic.sessionTimeout, rebalanceTimeout: cm.rebalanceTimeout,
			protocolType: "consumer", protocols: cm.classic.protocols,
			assignment: assignmentBytes(cm.assigned, meta),
		}
		g.addMember(m)
	}
	g.cg = nil
	g.protocolType = "consumer"
	// The members' epoch is the generation their heartbeats carry.
	g.generation = generation
	g.protocol = g.selectProtocol()
	g.setState(stateStable)
	recs := append(tombstones, groupMetadataRecord(g))
	g.prepareRebalance()
	ctx, cancel := context.WithTimeout(g.c.ctx, 30*time.Second)
	defer cancel()
	if err := g.persist(ctx, recs...); err != nil {
		// The consumer group records stay in cgPersisted: a later
		// upgrade overwrites or tombstones them.
		g.c.log.Warn("group: persisting the downgrade failed", "group", g.id, "err", err)
	} else {
		g.cgPersisted = nil
	}
	g.c.log.Info("group: consumer group downgraded to a classic group", "group", g.id, "members", len(ids))
	return true
}
