package group

import (
	"context"
	"fmt"
	"hash/fnv"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// KIP-848 consumer groups (ConsumerGroupHeartbeat, ConsumerGroupDescribe):
// the coordinator computes a target assignment with a server assignor
// (assign.go) whenever membership, subscriptions or partition counts change
// (a new group epoch), and moves each member to its target incrementally:
// partitions it must give up are revoked first (its epoch stays until it
// reports them gone), then it takes the new epoch and every target partition
// no other member still owns. The group is persisted in __consumer_offsets
// (cgpersist.go, cgrecords.go) and classic members can take part
// (bridge.go). Not yet: regex subscriptions and rack-aware assignment.

// TopicMetadata resolves topics for consumer groups; the server implements
// it over its metadata image.
type TopicMetadata interface {
	// TopicByName returns a topic's id and partition count.
	TopicByName(name string) (id [16]byte, partitions int32, ok bool)
	// TopicByID returns a topic's name.
	TopicByID(id [16]byte) (name string, ok bool)
}

// SetTopicMetadata enables KIP-848 consumer groups. Until it is called,
// ConsumerGroupHeartbeat answers UNSUPPORTED_VERSION.
func (c *Coordinator) SetTopicMetadata(m TopicMetadata) {
	c.mu.Lock()
	c.topics = m
	c.mu.Unlock()
}

func (c *Coordinator) topicMetadata() TopicMetadata {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.topics
}

// tps is a set of partitions by topic id.
type tps map[[16]byte]map[int32]struct{}

func (s tps) add(id [16]byte, p int32) {
	if s[id] == nil {
		s[id] = make(map[int32]struct{})
	}
	s[id][p] = struct{}{}
}

func (s tps) has(id [16]byte, p int32) bool { _, ok := s[id][p]; return ok }

func (s tps) each(f func(id [16]byte, p int32)) {
	for id, ps := range s {
		for p := range ps {
			f(id, p)
		}
	}
}

// filter returns the partitions of s for which keep is true.
func (s tps) filter(keep func(id [16]byte, p int32) bool) tps {
	out := tps{}
	s.each(func(id [16]byte, p int32) {
		if keep(id, p) {
			out.add(id, p)
		}
	})
	return out
}

func (s tps) size() int {
	n := 0
	for _, ps := range s {
		n += len(ps)
	}
	return n
}

func (s tps) sortedTopics() [][16]byte {
	ids := make([][16]byte, 0, len(s))
	for id, ps := range s {
		if len(ps) > 0 {
			ids = append(ids, id)
		}
	}
	slices.SortFunc(ids, func(a, b [16]byte) int { return slices.Compare(a[:], b[:]) })
	return ids
}

func (s tps) sortedPartitions(id [16]byte) []int32 {
	ps := make([]int32, 0, len(s[id]))
	for p := range s[id] {
		ps = append(ps, p)
	}
	slices.Sort(ps)
	return ps
}

// cgMember is a KIP-848 member. Guarded by the group's mu.
type cgMember struct {
	id               string
	instanceID       *string
	rackID           *string
	clientID         string
	clientHost       string
	epoch            int32
	prevEpoch        int32
	rebalanceTimeout time.Duration
	assignor         *string    // ServerAssignor the member asked for
	classic          *cgClassic // non-nil for a classic-protocol member (bridge.go)
	topics           []string   // subscribed topic names, sorted
	assigned         tps        // partitions the member may own now
	revoking         tps        // partitions it must release before moving on
	left             bool       // static member that left with epoch -2
	hbTimer          stopper
	hbSeq            uint64
	revokeTimer      stopper // fences the member if it does not revoke in time
	revokeSeq        uint64
}

type consumerGroup struct {
	epoch       int32 // group epoch: bumped by every membership or subscription change
	targetEpoch int32 // epoch of target
	assignor    string
	metaSig     uint64            // subscribed topics' ids and partition counts at the last epoch
	topicMeta   []cgTopicMetadata // the subscribed topics at the last epoch, by name
	// classicTombstone: the group was converted from classic; its classic
	// group metadata record is tombstoned with the next write.
	classicTombstone bool
	members          map[string]*cgMember
	target           map[string]tps
}

// state is KIP-848's group state.
func (cg *consumerGroup) state() string {
	switch {
	case len(cg.members) == 0:
		return "Empty"
	case cg.targetEpoch < cg.epoch:
		return "Assigning"
	}
	for _, m := range cg.members {
		if m.epoch != cg.targetEpoch || len(m.revoking) > 0 || m.assigned.size() != cg.target[m.id].size() {
			return "Reconciling"
		}
	}
	return "Stable"
}

func (cg *consumerGroup) subscribed() map[string]bool {
	out := make(map[string]bool)
	for _, m := range cg.members {
		for _, t := range m.topics {
			out[t] = true
		}
	}
	return out
}

// ConsumerGroupHeartbeat v0-v1 (KIP-848). Member epoch 0 joins, -1 leaves,
// -2 leaves temporarily (treated as a leave); v1 members bring their own id.
func (c *Coordinator) handleConsumerGroupHeartbeat(ctx context.Context, req *kmsg.ConsumerGroupHeartbeatRequest) kmsg.Response {
	resp := kmsg.NewPtrConsumerGroupHeartbeatResponse()
	resp.SetVersion(req.Version)
	fail := func(code int16, msg string) kmsg.Response {
		resp.ErrorCode = code
		if msg != "" {
			resp.ErrorMessage = &msg
		}
		return resp
	}
	meta := c.topicMetadata()
	switch {
	case meta == nil:
		return fail(kerr.UnsupportedVersion.Code, "consumer groups are not enabled")
	case req.Group == "":
		return fail(kerr.InvalidRequest.Code, "GroupId can't be empty.")
	case req.MemberEpoch != 0 && req.MemberID == "":
		return fail(kerr.InvalidRequest.Code, "MemberId can't be empty.")
	case req.MemberEpoch < -2:
		return fail(kerr.InvalidRequest.Code, "MemberEpoch is invalid.")
	case req.SubscribedTopicRegex != nil && *req.SubscribedTopicRegex != "":
		return fail(kerr.InvalidRequest.Code, "SubscribedTopicRegex is not supported by this broker yet.")
	case req.MemberEpoch == 0 && (req.RebalanceTimeoutMillis < 0 || req.SubscribedTopicNames == nil || req.Topics == nil || len(req.Topics) > 0):
		return fail(kerr.InvalidRequest.Code, "a joining member must send its rebalance timeout, subscriptions and an empty assignment.")
	case req.ServerAssignor != nil && !slices.Contains(c.cfg.ConsumerAssignors, *req.ServerAssignor):
		return fail(kerr.UnsupportedAssignor.Code, fmt.Sprintf("ServerAssignor %s is not supported. Supported assignors: %s.", *req.ServerAssignor, strings.Join(c.cfg.ConsumerAssignors, ", ")))
	}
	g, code := c.lookup(req.Group, req.MemberEpoch == 0)
	if code != 0 {
		return fail(code, "")
	}
	if g == nil {
		return fail(kerr.UnknownMemberID.Code, "")
	}
	defer g.mu.Unlock()
	if g.cg == nil && req.MemberEpoch == 0 && (g.state != stateEmpty || len(g.members) > 0) {
		g.maybeUpgrade(meta)
	}
	if g.cg == nil {
		if g.state != stateEmpty || len(g.members) > 0 {
			return fail(kerr.GroupIDNotFound.Code, fmt.Sprintf("Group %s is not a consumer group.", g.id))
		}
		if req.MemberEpoch != 0 {
			return fail(kerr.UnknownMemberID.Code, "")
		}
		g.cg = &consumerGroup{assignor: defaultAssignor(c.cfg.ConsumerAssignors), members: map[string]*cgMember{}, target: map[string]tps{}}
		g.cg.classicTombstone = g.protocolType != "" // an Empty classic group may have a metadata record
		g.protocolType = "consumer"
	}
	cg := g.cg
	m := cg.members[req.MemberID]
	bump := false // a new group epoch: membership, subscription or metadata changed
	switch {
	case req.MemberEpoch < 0:
		if m == nil {
			return fail(kerr.UnknownMemberID.Code, "")
		}
		if req.MemberEpoch == -2 && m.instanceID != nil {
			// A static member leaving temporarily keeps its partitions
			// for the same instance to take over until its session ends.
			m.left = true
			g.resetCGSession(m)
			if err := g.persistCG(ctx, false); err != nil {
				return fail(storeErrorCode(err), "")
			}
			resp.MemberID = &m.id
			resp.MemberEpoch = req.MemberEpoch
			return resp
		}
		g.removeCGMember(m)
		if !g.maybeDowngrade() {
			if err := g.persistCG(ctx, false); err != nil {
				return fail(storeErrorCode(err), "")
			}
		}
		resp.MemberID = &m.id
		resp.MemberEpoch = req.MemberEpoch
		return resp
	case req.MemberEpoch == 0:
		var prev *cgMember // the static member this one replaces
		if req.InstanceID != nil {
			for _, o := range cg.members {
				if o.instanceID != nil && *o.instanceID == *req.InstanceID && o.id != req.MemberID {
					if !o.left {
						return fail(kerr.UnreleasedInstanceID.Code, fmt.Sprintf("Static member %s is still in use by member %s.", *req.InstanceID, o.id))
					}
					prev = o
				}
			}
		}
		if m != nil {
			g.removeCGMember(m) // a member rejoining from scratch
		}
		id := req.MemberID
		if id == "" { // v0: the coordinator names the member
			id = newUUID()
		}
		ci := clientFrom(ctx)
		m = &cgMember{id: id, assigned: tps{}, instanceID: cloneStr(req.InstanceID), clientID: ci.id, clientHost: ci.host}
		if prev != nil {
			// Take over the assignment and epoch: no new group epoch
			// unless the subscription differs.
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
	default:
		if m == nil || m.classic != nil {
			return fail(kerr.UnknownMemberID.Code, "")
		}
		if req.MemberEpoch != m.epoch && !(req.MemberEpoch == m.prevEpoch && req.Topics != nil && ownedWithin(req.Topics, m.assigned)) {
			return fail(kerr.FencedMemberEpoch.Code, "")
		}
	}
	if req.RebalanceTimeoutMillis >= 0 {
		m.rebalanceTimeout = time.Duration(req.RebalanceTimeoutMillis) * time.Millisecond
	}
	if req.RackID != nil {
		m.rackID = cloneStr(req.RackID)
	}
	if req.SubscribedTopicNames != nil {
		topics := slices.Clone(req.SubscribedTopicNames)
		slices.Sort(topics)
		topics = slices.Compact(topics)
		if !slices.Equal(topics, m.topics) {
			m.topics = topics
			bump = true
		}
	}
	if req.ServerAssignor != nil {
		m.assignor = cloneStr(req.ServerAssignor)
	}
	g.resetCGSession(m)
	g.refreshTarget(meta, bump)
	g.reconcile(m, req.Topics)
	if err := g.persistCG(ctx, false); err != nil {
		return fail(storeErrorCode(err), "")
	}

	resp.MemberID = &m.id
	resp.MemberEpoch = m.epoch
	resp.HeartbeatIntervalMillis = int32(c.cfg.ConsumerHeartbeatInterval.Milliseconds())
	a := kmsg.NewConsumerGroupHeartbeatResponseAssignment()
	for _, id := range m.assigned.sortedTopics() {
		a.Topics = append(a.Topics, kmsg.ConsumerGroupHeartbeatResponseAssignmentTopic{TopicID: id, Partitions: m.assigned.sortedPartitions(id)})
	}
	resp.Assignment = &a
	return resp
}

func ownsAny(owned []kmsg.ConsumerGroupHeartbeatRequestTopic, s tps) bool {
	for _, t := range owned {
		for _, p := range t.Partitions {
			if s.has(t.TopicID, p) {
				return true
			}
		}
	}
	return false
}

func ownedWithin(owned []kmsg.ConsumerGroupHeartbeatRequestTopic, s tps) bool {
	for _, t := range owned {
		for _, p := range t.Partitions {
			if !s.has(t.TopicID, p) {
				return false
			}
		}
	}
	return true
}

// metadataSignature hashes the subscribed topics' ids and partition counts,
// so that a created, deleted or grown topic starts a new group epoch.
func metadataSignature(cg *consumerGroup, meta TopicMetadata) uint64 {
	subs := cg.subscribed()
	names := make([]string, 0, len(subs))
	for t := range subs {
		names = append(names, t)
	}
	slices.Sort(names)
	h := fnv.New64a()
	for _, t := range names {
		id, n, ok := meta.TopicByName(t)
		if ok {
			fmt.Fprintf(h, "%s/%x/%d;", t, id, n)
		}
	}
	return h.Sum64()
}

// computeTarget runs the group's assignor (assign.go) over the members and
// the subscribed topics that exist, starting from the previous target.
func (cg *consumerGroup) computeTarget(meta TopicMetadata) {
	topics := map[string]assignTopic{}
	cg.topicMeta = cg.topicMeta[:0]
	for _, t := range slices.Sorted(maps.Keys(cg.subscribed())) {
		if id, n, ok := meta.TopicByName(t); ok && n > 0 {
			topics[t] = assignTopic{id: id, partitions: n}
			cg.topicMeta = append(cg.topicMeta, cgTopicMetadata{TopicID: id, TopicName: t, NumPartitions: n, Partitions: []cgPartitionRacks{}})
		}
	}
	members := make([]assignMember, 0, len(cg.members))
	for id, m := range cg.members {
		members = append(members, assignMember{id: id, topics: m.topics, prev: cg.target[id]})
	}
	assign := assignorFor(cg.assignor)
	if assign == nil {
		assign = assignUniform
	}
	cg.target = assign(members, topics)
	cg.targetEpoch = cg.epoch
}

// reconcile moves m toward its target: first it must revoke what the target
// takes away (keeping its epoch); once it reports those gone it takes the
// target epoch and every target partition no other member still holds.
// owned is what the member reported (nil: unchanged since last time).
func (g *group) reconcile(m *cgMember, owned []kmsg.ConsumerGroupHeartbeatRequestTopic) {
	cg := g.cg
	if len(m.revoking) > 0 {
		if owned == nil {
			return
		}
		for _, t := range owned {
			for _, p := range t.Partitions {
				if m.revoking.has(t.TopicID, p) {
					return
				}
			}
		}
		m.revoking = nil
		m.revokeSeq++
	}
	target := cg.target[m.id]
	if m.epoch < cg.targetEpoch {
		revoke := m.assigned.filter(func(id [16]byte, p int32) bool { return !target.has(id, p) })
		if revoke.size() > 0 && owned != nil && !ownsAny(owned, revoke) {
			// The member reports it no longer owns them (a classic
			// member rejoining after revoking): nothing to wait for.
			m.assigned = m.assigned.filter(func(id [16]byte, p int32) bool { return target.has(id, p) })
			revoke = tps{}
		}
		if revoke.size() > 0 {
			m.assigned = m.assigned.filter(func(id [16]byte, p int32) bool { return target.has(id, p) })
			m.revoking = revoke
			g.scheduleRevocationTimeout(m)
			return
		}
		m.prevEpoch, m.epoch = m.epoch, cg.targetEpoch
	}
	target.each(func(id [16]byte, p int32) {
		if m.assigned.has(id, p) {
			return
		}
		for _, o := range cg.members {
			if o != m && (o.assigned.has(id, p) || o.revoking.has(id, p)) {
				return
			}
		}
		m.assigned.add(id, p)
	})
}

// scheduleRevocationTimeout removes m if it has not revoked its partitions
// within its rebalance timeout, so that they can move on.
func (g *group) scheduleRevocationTimeout(m *cgMember) {
	if m.revokeTimer != nil {
		m.revokeTimer.Stop()
	}
	m.revokeSeq++
	seq := m.revokeSeq
	m.revokeTimer = g.c.clk.AfterFunc(m.rebalanceTimeout, func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		if g.dead || g.cg == nil || g.cg.members[m.id] != m || m.revokeSeq != seq || len(m.revoking) == 0 {
			return
		}
		g.c.log.Info("group: consumer group member did not revoke in time", "group", g.id, "member", m.id)
		g.removeCGMember(m)
		g.afterCGRemoval()
	})
}

func (g *group) stopCGTimers(m *cgMember) {
	for _, t := range []stopper{m.hbTimer, m.revokeTimer} {
		if t != nil {
			t.Stop()
		}
	}
	m.hbSeq++
	m.revokeSeq++
}

func (g *group) removeCGMember(m *cgMember) {
	g.stopCGTimers(m)
	delete(g.cg.members, m.id)
	delete(g.cg.target, m.id)
	g.cg.epoch++
	if len(g.cg.members) == 0 {
		g.stateTime = g.c.clk.Now()
	}
}

func (g *group) resetCGSession(m *cgMember) {
	if m.hbTimer != nil {
		m.hbTimer.Stop()
	}
	m.hbSeq++
	seq := m.hbSeq
	session := g.c.cfg.ConsumerSessionTimeout
	if m.classic != nil {
		session = m.classic.sessionTimeout
	}
	m.hbTimer = g.c.clk.AfterFunc(session, func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		if g.dead || g.cg == nil || g.cg.members[m.id] != m || m.hbSeq != seq {
			return
		}
		g.c.log.Info("group: consumer group member session expired", "group", g.id, "member", m.id)
		g.removeCGMember(m)
		g.afterCGRemoval()
	})
}

// validateConsumerOffsetFetch checks the member id and epoch an
// OffsetFetch v9+ may carry. REQUIRES: g.mu held.
func (g *group) validateConsumerOffsetFetch(memberID *string, epoch int32) int16 {
	if g.cg == nil || memberID == nil || epoch < 0 {
		return 0
	}
	m := g.cg.members[*memberID]
	switch {
	case m == nil:
		return kerr.UnknownMemberID.Code
	case epoch != m.epoch:
		return kerr.StaleMemberEpoch.Code
	}
	return 0
}

// validateConsumerOffsetCommit is OffsetCommit's check for KIP-848 groups:
// the member epoch travels in the generation field. REQUIRES: g.mu held.
func (g *group) validateConsumerOffsetCommit(version int16, epoch int32, memberID string) int16 {
	cg := g.cg
	if epoch < 0 && memberID == "" && len(cg.members) == 0 {
		return 0
	}
	m := cg.members[memberID]
	switch {
	case m == nil:
		return kerr.UnknownMemberID.Code
	case m.classic != nil && epoch != m.epoch:
		return kerr.IllegalGeneration.Code // a classic member's generation
	case m.classic != nil:
		return 0
	case version < 9:
		return kerr.UnsupportedVersion.Code
	case epoch != m.epoch:
		return kerr.StaleMemberEpoch.Code
	}
	return 0
}

// ConsumerGroupDescribe v0-v1.
func (c *Coordinator) handleConsumerGroupDescribe(req *kmsg.ConsumerGroupDescribeRequest) kmsg.Response {
	resp := kmsg.NewPtrConsumerGroupDescribeResponse()
	resp.SetVersion(req.Version)
	meta := c.topicMetadata()
	for _, id := range req.Groups {
		rg := kmsg.NewConsumerGroupDescribeResponseGroup()
		rg.Group = id
		g, code := c.lookup(id, false)
		switch {
		case code != 0:
			rg.ErrorCode = code
		case g == nil || g.cg == nil:
			if g != nil {
				g.mu.Unlock()
			}
			rg.ErrorCode = kerr.GroupIDNotFound.Code
			msg := fmt.Sprintf("Group %s not found.", id)
			if g != nil {
				msg = fmt.Sprintf("Group %s is not a consumer group.", id)
			}
			rg.ErrorMessage = &msg
			rg.State = "Dead"
		default:
			cg := g.cg
			rg.State = cg.state()
			rg.Epoch = cg.epoch
			rg.AssignmentEpoch = cg.targetEpoch
			rg.AssignorName = cg.assignor
			ids := make([]string, 0, len(cg.members))
			for mid := range cg.members {
				ids = append(ids, mid)
			}
			slices.Sort(ids)
			for _, mid := range ids {
				m := cg.members[mid]
				dm := kmsg.NewConsumerGroupDescribeResponseGroupMember()
				dm.MemberID, dm.InstanceID, dm.RackID = m.id, m.instanceID, m.rackID
				dm.MemberEpoch = m.epoch
				dm.ClientID, dm.ClientHost = m.clientID, m.clientHost
				dm.SubscribedTopics = m.topics
				dm.Assignment = describeAssignment(m.assigned, meta)
				dm.TargetAssignment = describeAssignment(cg.target[m.id], meta)
				dm.MemberType = 1 // consumer protocol
				if m.classic != nil {
					dm.MemberType = 0
				}
				rg.Members = append(rg.Members, dm)
			}
			g.mu.Unlock()
		}
		resp.Groups = append(resp.Groups, rg)
	}
	return resp
}

func describeAssignment(s tps, meta TopicMetadata) kmsg.Assignment {
	var a kmsg.Assignment
	for _, id := range s.sortedTopics() {
		tp := kmsg.AssignmentTopicPartition{TopicID: id, Partitions: s.sortedPartitions(id)}
		if meta != nil {
			tp.Topic, _ = meta.TopicByID(id)
		}
		a.TopicPartitions = append(a.TopicPartitions, tp)
	}
	return a
}
