package group

import (
	"bytes"
	"context"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// JoinGroup v0-v9. v1 adds the rebalance timeout (v0 uses the session
// timeout), v4 the KIP-394 MEMBER_ID_REQUIRED round trip, v5 static
// membership, v7 the protocol type in the response, v9 SkipAssignment for a
// static leader rejoining a stable group (KIP-814).
func (c *Coordinator) handleJoinGroup(ctx context.Context, req *kmsg.JoinGroupRequest) (kmsg.Response, error) {
	resp := kmsg.NewPtrJoinGroupResponse()
	resp.SetVersion(req.Version)
	fill := func(r joinResult) *kmsg.JoinGroupResponse {
		resp.ErrorCode = r.err
		resp.MemberID = r.memberID
		resp.Generation = r.generation
		if r.err != 0 {
			if r.err != kerr.MemberIDRequired.Code && r.memberID == "" {
				resp.MemberID = req.MemberID
			}
			resp.Generation = -1
			return resp
		}
		if r.protocolType != "" {
			pt := r.protocolType
			resp.ProtocolType = &pt
		}
		p := r.protocol
		resp.Protocol = &p
		resp.LeaderID = r.leader
		resp.Members = r.members
		resp.SkipAssignment = r.skipAssignment && req.Version >= 9
		return resp
	}
	fail := func(code int16) (kmsg.Response, error) {
		return fill(joinResult{err: code, memberID: req.MemberID}), nil
	}
	session := time.Duration(req.SessionTimeoutMillis) * time.Millisecond
	rebalance := session
	if req.Version >= 1 {
		rebalance = time.Duration(req.RebalanceTimeoutMillis) * time.Millisecond
	}
	switch {
	case req.Group == "":
		return fail(kerr.InvalidGroupID.Code)
	case req.InstanceID != nil && *req.InstanceID == "":
		return fail(kerr.InvalidGroupID.Code)
	case session < c.cfg.MinSessionTimeout || session > c.cfg.MaxSessionTimeout:
		return fail(kerr.InvalidSessionTimeout.Code)
	case req.ProtocolType == "" || len(req.Protocols) == 0:
		return fail(kerr.InconsistentGroupProtocol.Code)
	}
	g, code := c.lookup(req.Group, req.MemberID == "")
	if code != 0 {
		return fail(code)
	}
	if g == nil {
		return fail(kerr.UnknownMemberID.Code)
	}
	ch, res := g.join(ctx, req, clientFrom(ctx), session, rebalance)
	g.mu.Unlock()
	if ch != nil {
		select {
		case res = <-ch:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-c.ctx.Done():
			res = joinResult{err: kerr.CoordinatorNotAvailable.Code}
		}
	}
	return fill(res), nil
}

// join applies a JoinGroup. It returns either a channel to wait on for the
// end of the join phase or an immediate result. REQUIRES: g.mu held.
func (g *group) join(ctx context.Context, req *kmsg.JoinGroupRequest, ci clientInfo, session, rebalance time.Duration) (chan joinResult, joinResult) {
	fail := func(code int16) (chan joinResult, joinResult) {
		return nil, joinResult{err: code, memberID: req.MemberID}
	}
	if g.state == stateDead {
		return fail(kerr.CoordinatorNotAvailable.Code)
	}
	newMember := func(id string) *member {
		return &member{
			id:               id,
			instanceID:       cloneStr(req.InstanceID),
			clientID:         ci.id,
			clientHost:       ci.host,
			sessionTimeout:   session,
			rebalanceTimeout: rebalance,
			protocolType:     req.ProtocolType,
			protocols:        cloneProtocols(req.Protocols),
		}
	}

	if g.cg != nil && len(g.cg.members) == 0 {
		// An empty consumer group turns classic, keeping its offsets; its
		// consumer group records are tombstoned.
		if err := g.persistCG(ctx, true); err != nil {
			return fail(storeErrorCode(err))
		}
		g.cg = nil
	}
	if g.cg != nil {
		return nil, g.joinConsumerGroup(ctx, req, ci, session, rebalance)
	}
	if req.MemberID == "" {
		if !g.supportsProtocols(req.ProtocolType, req.Protocols, "") {
			return fail(kerr.InconsistentGroupProtocol.Code)
		}
		if req.InstanceID != nil {
			if oldID, ok := g.static[*req.InstanceID]; ok {
				return g.replaceStatic(ctx, g.members[oldID], req, ci, session, rebalance)
			}
		}
		if g.full() {
			return fail(kerr.GroupMaxSizeReached.Code)
		}
		id := newMemberID(memberIDPrefix(ci, req.InstanceID))
		if req.InstanceID == nil && req.Version >= 4 {
			g.addPending(id, session)
			return nil, joinResult{err: kerr.MemberIDRequired.Code, memberID: id}
		}
		return g.addMemberAndRebalance(newMember(id)), joinResult{}
	}

	if req.InstanceID != nil {
		if id, ok := g.static[*req.InstanceID]; ok && id != req.MemberID {
			return fail(kerr.FencedInstanceID.Code)
		}
	}
	if _, ok := g.pending[req.MemberID]; ok {
		if !g.supportsProtocols(req.ProtocolType, req.Protocols, "") {
			return fail(kerr.InconsistentGroupProtocol.Code)
		}
		if g.full() {
			g.removePending(req.MemberID)
			return fail(kerr.GroupMaxSizeReached.Code)
		}
		g.removePending(req.MemberID)
		return g.addMemberAndRebalance(newMember(req.MemberID)), joinResult{}
	}
	m := g.members[req.MemberID]
	if m == nil {
		return fail(kerr.UnknownMemberID.Code)
	}
	if req.InstanceID != nil && (m.instanceID == nil || *m.instanceID != *req.InstanceID) {
		return fail(kerr.FencedInstanceID.Code)
	}
	if !g.supportsProtocols(req.ProtocolType, req.Protocols, m.id) {
		return fail(kerr.InconsistentGroupProtocol.Code)
	}
	switch g.state {
	case statePreparingRebalance:
		return g.updateMember(m, req, session, rebalance), joinResult{}
	case stateCompletingRebalance:
		if sameProtocols(m.protocols, req.Protocols) {
			// A retried join of this generation: answer it again.
			g.resetHeartbeat(m)
			return nil, g.joinResultFor(m, false)
		}
		return g.updateMember(m, req, session, rebalance), joinResult{}
	case stateStable:
		if m.id != g.leader && sameProtocols(m.protocols, req.Protocols) {
			g.resetHeartbeat(m)
			return nil, g.joinResultFor(m, false)
		}
		return g.updateMember(m, req, session, rebalance), joinResult{}
	default:
		return fail(kerr.UnknownMemberID.Code)
	}
}

// memberIDPrefix is what Kafka puts before the UUID of a new member id: the
// group.instance.id for static members, else the client id.
func memberIDPrefix(ci clientInfo, instanceID *string) string {
	if instanceID != nil {
		return *instanceID
	}
	return ci.id
}

func protocolMetadata(ps []kmsg.JoinGroupRequestProtocol, name string) []byte {
	for _, p := range ps {
		if p.Name == name {
			return p.Metadata
		}
	}
	return nil
}

func cloneStr(s *string) *string {
	if s == nil {
		return nil
	}
	v := *s
	return &v
}

func (g *group) awaitJoin(m *member) chan joinResult {
	if m.joinCh != nil {
		// A newer JoinGroup from the same member supersedes the old one.
		m.joinCh <- joinResult{err: kerr.RebalanceInProgress.Code, memberID: m.id}
	}
	m.joinCh = make(chan joinResult, 1)
	return m.joinCh
}

func (g *group) addMemberAndRebalance(m *member) chan joinResult {
	ch := g.awaitJoin(m)
	g.addMember(m)
	if g.state == statePreparingRebalance {
		g.tryCompleteJoin()
	} else {
		g.prepareRebalance()
	}
	return ch
}

func (g *group) updateMember(m *member, req *kmsg.JoinGroupRequest, session, rebalance time.Duration) chan joinResult {
	m.protocolType = req.ProtocolType
	m.protocols = cloneProtocols(req.Protocols)
	m.sessionTimeout = session
	m.rebalanceTimeout = rebalance
	ch := g.awaitJoin(m)
	if g.state == statePreparingRebalance {
		g.tryCompleteJoin()
	} else {
		g.prepareRebalance()
	}
	return ch
}

// replaceStatic handles a known group.instance.id joining with an empty
// member id (a restarted static member): it gets a new member id and the
// old one is fenced. In Stable with unchanged protocols there is no
// rebalance: the new id is persisted and the member gets the current
// generation (the leader with SkipAssignment, KIP-814).
func (g *group) replaceStatic(ctx context.Context, old *member, req *kmsg.JoinGroupRequest, ci clientInfo, session, rebalance time.Duration) (chan joinResult, joinResult) {
	oldID := old.id
	if old.joinCh != nil {
		old.joinCh <- joinResult{err: kerr.FencedInstanceID.Code, memberID: oldID}
		old.joinCh = nil
	}
	if old.syncCh != nil {
		old.syncCh <- syncResult{err: kerr.FencedInstanceID.Code}
		old.syncCh = nil
	}
	// Unchanged means the same metadata for the group's protocol; the
	// other protocols offered do not matter (a restored member only knows
	// the selected one, as in Kafka's log).
	unchanged := g.protocol != "" && bytes.Equal(old.metadataFor(g.protocol), protocolMetadata(req.Protocols, g.protocol)) &&
		old.supports(g.protocol) && slices.ContainsFunc(req.Protocols, func(p kmsg.JoinGroupRequestProtocol) bool { return p.Name == g.protocol })
	prev := *old
	rename := func(m *member, from, to string) {
		delete(g.members, from)
		m.id = to
		g.members[to] = m
		g.static[*m.instanceID] = to
		if g.leader == from {
			g.leader = to
		}
	}
	m := old
	rename(m, oldID, newMemberID(memberIDPrefix(ci, req.InstanceID)))
	m.clientID, m.clientHost = ci.id, ci.host
	m.sessionTimeout, m.rebalanceTimeout = session, rebalance
	m.protocolType = req.ProtocolType
	m.protocols = cloneProtocols(req.Protocols)
	g.resetHeartbeat(m)

	switch g.state {
	case stateStable:
		if unchanged && g.selectProtocol() == g.protocol {
			if err := g.persist(ctx, groupMetadataRecord(g)); err != nil {
				newID := m.id
				rename(m, newID, oldID)
				m.clientID, m.clientHost = prev.clientID, prev.clientHost
				m.sessionTimeout, m.rebalanceTimeout = prev.sessionTimeout, prev.rebalanceTimeout
				m.protocols = prev.protocols
				return nil, joinResult{err: storeErrorCode(err), memberID: req.MemberID}
			}
			return nil, g.joinResultFor(m, m.id == g.leader)
		}
		ch := g.awaitJoin(m)
		g.prepareRebalance()
		return ch, joinResult{}
	case stateCompletingRebalance:
		ch := g.awaitJoin(m)
		g.prepareRebalance()
		return ch, joinResult{}
	default: // PreparingRebalance
		ch := g.awaitJoin(m)
		g.tryCompleteJoin()
		return ch, joinResult{}
	}
}

// SyncGroup v0-v5. v3 adds the instance id, v5 the protocol type and name,
// which must match the group's.
func (c *Coordinator) handleSyncGroup(ctx context.Context, req *kmsg.SyncGroupRequest) (kmsg.Response, error) {
	resp := kmsg.NewPtrSyncGroupResponse()
	resp.SetVersion(req.Version)
	if req.Group == "" {
		resp.ErrorCode = kerr.InvalidGroupID.Code
		return resp, nil
	}
	g, code := c.lookup(req.Group, false)
	if code != 0 {
		resp.ErrorCode = code
		return resp, nil
	}
	if g == nil {
		resp.ErrorCode = kerr.UnknownMemberID.Code
		return resp, nil
	}
	ch, res := g.sync(ctx, req)
	protocolType, protocol := g.protocolType, g.protocol
	g.mu.Unlock()
	if ch != nil {
		select {
		case res = <-ch:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-c.ctx.Done():
			res = syncResult{err: kerr.CoordinatorNotAvailable.Code}
		}
	}
	resp.ErrorCode = res.err
	if res.bridged {
		protocolType, protocol = res.protocolType, res.protocol
	}
	if res.err == 0 {
		resp.ProtocolType = &protocolType
		resp.Protocol = &protocol
		resp.MemberAssignment = res.assignment
	}
	return resp, nil
}

// REQUIRES: g.mu held.
func (g *group) sync(ctx context.Context, req *kmsg.SyncGroupRequest) (chan syncResult, syncResult) {
	fail := func(code int16) (chan syncResult, syncResult) { return nil, syncResult{err: code} }
	if g.cg != nil {
		return nil, g.syncConsumerGroup(req)
	}
	switch g.state {
	case stateDead:
		return fail(kerr.CoordinatorNotAvailable.Code)
	case stateEmpty:
		return fail(kerr.UnknownMemberID.Code)
	}
	m, code := g.validateMember(req.MemberID, req.InstanceID)
	if code != 0 {
		return fail(code)
	}
	if req.Generation != g.generation {
		return fail(kerr.IllegalGeneration.Code)
	}
	if (req.ProtocolType != nil && *req.ProtocolType != g.protocolType) || (req.Protocol != nil && *req.Protocol != g.protocol) {
		return fail(kerr.InconsistentGroupProtocol.Code)
	}
	switch g.state {
	case statePreparingRebalance:
		return fail(kerr.RebalanceInProgress.Code)
	case stateStable:
		m.pendingSync = false
		g.resetHeartbeat(m)
		return nil, syncResult{assignment: m.assignment}
	}
	// CompletingRebalance.
	m.pendingSync = false
	g.resetHeartbeat(m)
	if m.syncCh != nil {
		m.syncCh <- syncResult{err: kerr.RebalanceInProgress.Code}
	}
	m.syncCh = make(chan syncResult, 1)
	ch := m.syncCh
	if m.id != g.leader {
		return ch, syncResult{}
	}
	for _, o := range g.members {
		o.assignment = []byte{}
	}
	for _, a := range req.GroupAssignment {
		if o := g.members[a.MemberID]; o != nil {
			o.assignment = a.MemberAssignment
		}
	}
	// The assignment is durable before anyone learns it.
	if err := g.persist(ctx, groupMetadataRecord(g)); err != nil {
		g.c.log.Warn("group: persisting assignment failed", "group", g.id, "err", err)
		g.failSyncs(storeErrorCode(err))
		g.prepareRebalance()
		return ch, syncResult{}
	}
	g.setState(stateStable)
	for _, o := range g.members {
		if o.syncCh != nil {
			o.syncCh <- syncResult{assignment: o.assignment}
			o.syncCh = nil
		}
	}
	return ch, syncResult{}
}

// validateMember finds an existing member, fencing a stale id of a static
// member. REQUIRES: g.mu held.
func (g *group) validateMember(memberID string, instanceID *string) (*member, int16) {
	if instanceID != nil {
		if id, ok := g.static[*instanceID]; ok && id != memberID {
			return nil, kerr.FencedInstanceID.Code
		}
	}
	m := g.members[memberID]
	if m == nil {
		return nil, kerr.UnknownMemberID.Code
	}
	if instanceID != nil && (m.instanceID == nil || *m.instanceID != *instanceID) {
		return nil, kerr.FencedInstanceID.Code
	}
	return m, 0
}

// Heartbeat v0-v4.
func (c *Coordinator) handleHeartbeat(ctx context.Context, req *kmsg.HeartbeatRequest) kmsg.Response {
	resp := kmsg.NewPtrHeartbeatResponse()
	resp.SetVersion(req.Version)
	resp.ErrorCode = c.heartbeat(ctx, req)
	return resp
}

func (c *Coordinator) heartbeat(ctx context.Context, req *kmsg.HeartbeatRequest) int16 {
	if req.Group == "" {
		return kerr.InvalidGroupID.Code
	}
	g, code := c.lookup(req.Group, false)
	if code != 0 {
		return code
	}
	if g == nil {
		return kerr.UnknownMemberID.Code
	}
	defer g.mu.Unlock()
	if g.cg != nil {
		return g.heartbeatConsumerGroup(ctx, req)
	}
	switch g.state {
	case stateDead:
		return kerr.CoordinatorNotAvailable.Code
	case stateEmpty:
		return kerr.UnknownMemberID.Code
	}
	m, code := g.validateMember(req.MemberID, req.InstanceID)
	if code != 0 {
		return code
	}
	if req.Generation != g.generation {
		return kerr.IllegalGeneration.Code
	}
	g.resetHeartbeat(m)
	if g.state == statePreparingRebalance {
		return kerr.RebalanceInProgress.Code
	}
	return 0
}

// LeaveGroup v0-v5. v0-v2 name one member and answer with one error; v3+
// (KIP-345) take a batch of {member id, instance id} with an error each.
func (c *Coordinator) handleLeaveGroup(req *kmsg.LeaveGroupRequest) kmsg.Response {
	resp := kmsg.NewPtrLeaveGroupResponse()
	resp.SetVersion(req.Version)
	leaving := req.Members
	if req.Version < 3 {
		leaving = []kmsg.LeaveGroupRequestMember{{MemberID: req.MemberID}}
	}
	codes := make([]int16, len(leaving))
	var top int16
	if req.Group == "" {
		top = kerr.InvalidGroupID.Code
	} else if g, code := c.lookup(req.Group, false); code != 0 {
		top = code
	} else if g == nil {
		for i := range codes {
			codes[i] = kerr.UnknownMemberID.Code
		}
	} else {
		removed := false
		for i, l := range leaving {
			var r bool
			codes[i], r = g.leave(l)
			removed = removed || r
		}
		if removed {
			g.afterRemoval()
		}
		g.mu.Unlock()
	}
	if req.Version < 3 {
		resp.ErrorCode = top
		if top == 0 {
			resp.ErrorCode = codes[0]
		}
		return resp
	}
	resp.ErrorCode = top
	if top != 0 {
		return resp
	}
	for i, l := range leaving {
		rm := kmsg.NewLeaveGroupResponseMember()
		rm.MemberID = l.MemberID
		rm.InstanceID = l.InstanceID
		rm.ErrorCode = codes[i]
		resp.Members = append(resp.Members, rm)
	}
	return resp
}

// leave removes one member without rebalancing and reports whether a
// member (not just a pending id) went. REQUIRES: g.mu held.
func (g *group) leave(l kmsg.LeaveGroupRequestMember) (int16, bool) {
	if g.state == stateDead || g.dead {
		return kerr.CoordinatorNotAvailable.Code, false
	}
	if g.cg != nil {
		return g.leaveConsumerGroup(l), false
	}
	if l.InstanceID != nil {
		id, ok := g.static[*l.InstanceID]
		if !ok {
			return kerr.UnknownMemberID.Code, false
		}
		if l.MemberID != "" && l.MemberID != id {
			return kerr.FencedInstanceID.Code, false
		}
		g.c.log.Info("group: static member left", "group", g.id, "member", id, "instance", *l.InstanceID)
		g.removeMember(g.members[id], kerr.UnknownMemberID.Code)
		return 0, true
	}
	if g.removePending(l.MemberID) {
		if g.state == statePreparingRebalance {
			g.tryCompleteJoin()
		}
		return 0, false
	}
	m := g.members[l.MemberID]
	if m == nil {
		return kerr.UnknownMemberID.Code, false
	}
	g.c.log.Info("group: member left", "group", g.id, "member", m.id)
	g.removeMember(m, kerr.UnknownMemberID.Code)
	return 0, true
}
