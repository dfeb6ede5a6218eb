package group

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

type groupState int8

const (
	stateEmpty groupState = iota
	statePreparingRebalance
	stateCompletingRebalance
	stateStable
	stateDead
)

func (s groupState) String() string {
	switch s {
	case stateEmpty:
		return "Empty"
	case statePreparingRebalance:
		return "PreparingRebalance"
	case stateCompletingRebalance:
		return "CompletingRebalance"
	case stateStable:
		return "Stable"
	default:
		return "Dead"
	}
}

type offsetEntry struct {
	offset      int64
	leaderEpoch int32
	metadata    string
	commitTime  time.Time
}

// joinResult is what a JoinGroup waiter receives; the handler turns it into
// a response of the request's version.
type joinResult struct {
	err            int16
	memberID       string
	generation     int32
	protocolType   string
	protocol       string
	leader         string
	members        []kmsg.JoinGroupResponseMember
	skipAssignment bool
}

type syncResult struct {
	err        int16
	assignment []byte
	// bridged: a classic member of a consumer group, answered with these
	// rather than the group's protocol type and name (bridge.go).
	bridged      bool
	protocolType string
	protocol     string
}

// member is one classic-protocol group member. All fields are guarded by the
// owning group's mu.
type member struct {
	id               string
	instanceID       *string
	clientID         string
	clientHost       string
	sessionTimeout   time.Duration
	rebalanceTimeout time.Duration
	protocolType     string
	protocols        []kmsg.JoinGroupRequestProtocol
	assignment       []byte
	seq              uint64 // join order; the lowest joined member leads

	joinCh      chan joinResult // non-nil while a JoinGroup awaits the rebalance
	syncCh      chan syncResult // non-nil while a follower's SyncGroup awaits the leader
	pendingSync bool            // joined this generation but has not sent SyncGroup yet

	hbTimer stopper
	hbSeq   uint64 // invalidates stale session-timer callbacks
}

func (m *member) metadataFor(protocol string) []byte {
	for _, p := range m.protocols {
		if p.Name == protocol {
			return p.Metadata
		}
	}
	return nil
}

func (m *member) supports(protocol string) bool {
	return slices.ContainsFunc(m.protocols, func(p kmsg.JoinGroupRequestProtocol) bool { return p.Name == protocol })
}

func (m *member) isStatic() bool { return m.instanceID != nil }

func sameProtocols(a, b []kmsg.JoinGroupRequestProtocol) bool {
	return slices.EqualFunc(a, b, func(x, y kmsg.JoinGroupRequestProtocol) bool {
		return x.Name == y.Name && bytes.Equal(x.Metadata, y.Metadata)
	})
}

func cloneProtocols(ps []kmsg.JoinGroupRequestProtocol) []kmsg.JoinGroupRequestProtocol {
	out := make([]kmsg.JoinGroupRequestProtocol, len(ps))
	for i, p := range ps {
		out[i] = kmsg.JoinGroupRequestProtocol{Name: p.Name, Metadata: bytes.Clone(p.Metadata)}
	}
	return out
}

// group is one classic group and its committed offsets.
//
// Lock rules: every field below mu is guarded by mu. Handlers and timer
// callbacks take mu for the whole operation, including the store Append that
// persists its outcome, so a group's writes reach the log in the order they
// were decided. Coordinator.mu may be taken while holding a group's mu, never
// the other way round.
type group struct {
	c         *Coordinator
	id        string
	partition int32

	mu           sync.Mutex
	dead         bool // removed from the coordinator; lookups retry
	state        groupState
	stateTime    time.Time // last state change; zero if unknown (KIP-211 base)
	protocolType string
	protocol     string
	generation   int32
	leader       string
	members      map[string]*member
	static       map[string]string  // group.instance.id -> member id
	pending      map[string]stopper // KIP-394 ids handed out, not yet joined
	nextSeq      uint64

	timer          stopper // rebalance, initial-delay or pending-sync timer
	timerSeq       uint64  // invalidates stale timer callbacks
	initialDelay   bool    // in the initial rebalance delay: joins never complete early
	newMemberAdded bool    // a member joined during the current initial delay

	offsets map[string]map[int32]offsetEntry
	// txnPending are transactional offsets staged per producer id until
	// their transaction's marker (txn.go); nil when none.
	txnPending map[int64]map[topicPartition]offsetEntry

	cg *consumerGroup // non-nil for a KIP-848 consumer group (state stays Empty)
	// cgPersisted is what the log holds of the consumer group records:
	// encoded key → value (cgpersist.go).
	cgPersisted map[string][]byte
}

func newGroup(c *Coordinator, id string, partition int32) *group {
	return &group{
		c:         c,
		id:        id,
		partition: partition,
		state:     stateEmpty,
		stateTime: c.clk.Now(),
		members:   make(map[string]*member),
		static:    make(map[string]string),
		pending:   make(map[string]stopper),
		offsets:   make(map[string]map[int32]offsetEntry),
	}
}

func newMemberID(prefix string) string { return prefix + "-" + newUUID() }

// newUUID returns a random (version 4) UUID in its text form.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// REQUIRES: g.mu held (for all methods below).

func (g *group) setState(s groupState) {
	g.state = s
	g.stateTime = g.c.clk.Now()
}

func (g *group) orderedMembers() []*member {
	ms := make([]*member, 0, len(g.members))
	for _, m := range g.members {
		ms = append(ms, m)
	}
	slices.SortFunc(ms, func(a, b *member) int { return cmp.Compare(a.seq, b.seq) })
	return ms
}

func (g *group) full() bool {
	return g.c.cfg.MaxGroupSize > 0 && len(g.members) >= g.c.cfg.MaxGroupSize
}

func (g *group) persist(ctx context.Context, recs ...Record) error {
	return g.c.store.Append(ctx, g.partition, recs)
}

// persistBackground writes a record decided by a timer rather than a request.
func (g *group) persistBackground(recs ...Record) {
	ctx, cancel := context.WithTimeout(g.c.ctx, 30*time.Second)
	defer cancel()
	if err := g.persist(ctx, recs...); err != nil {
		g.c.log.Warn("group: persisting group metadata failed", "group", g.id, "err", err)
	}
}

// supportsProtocols reports whether a member offering protocols may join:
// the type must match and one protocol must be supported by every other
// member. An empty group accepts anything well-formed.
func (g *group) supportsProtocols(protocolType string, protocols []kmsg.JoinGroupRequestProtocol, self string) bool {
	others := 0
	for id := range g.members {
		if id != self {
			others++
		}
	}
	if others == 0 {
		return protocolType != "" && len(protocols) > 0
	}
	if protocolType != g.protocolType {
		return false
	}
	for _, p := range protocols {
		all := true
		for id, m := range g.members {
			if id != self && !m.supports(p.Name) {
				all = false
				break
			}
		}
		if all {
			return true
		}
	}
	return false
}

// selectProtocol picks the protocol all members support that most members
// prefer; ties go to the protocol whose first vote came earliest in join order.
func (g *group) selectProtocol() string {
	ms := g.orderedMembers()
	if len(ms) == 0 {
		return ""
	}
	supported := func(name string) bool {
		for _, m := range ms {
			if !m.supports(name) {
				return false
			}
		}
		return true
	}
	votes := make(map[string]int)
	var order []string
	for _, m := range ms {
		for _, p := range m.protocols {
			if supported(p.Name) {
				if votes[p.Name] == 0 {
					order = append(order, p.Name)
				}
				votes[p.Name]++
				break
			}
		}
	}
	best := ""
	for _, name := range order {
		if best == "" || votes[name] > votes[best] {
			best = name
		}
	}
	return best
}

func (g *group) maxRebalanceTimeout() time.Duration {
	var d time.Duration
	for _, m := range g.members {
		d = max(d, m.rebalanceTimeout)
	}
	return d
}

func (g *group) stopTimer() {
	if g.timer != nil {
		g.timer.Stop()
		g.timer = nil
	}
	g.timerSeq++
}

// schedule runs f under g.mu after d unless another timer replaced this one.
func (g *group) schedule(d time.Duration, f func()) {
	g.stopTimer()
	seq := g.timerSeq
	g.timer = g.c.clk.AfterFunc(d, func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		if g.dead || seq != g.timerSeq {
			return
		}
		g.timer = nil
		f()
	})
}

func (g *group) addMember(m *member) {
	if len(g.members) == 0 {
		g.protocolType = m.protocolType
	}
	g.nextSeq++
	m.seq = g.nextSeq
	g.members[m.id] = m
	if m.instanceID != nil {
		g.static[*m.instanceID] = m.id
	}
	if g.leader == "" {
		g.leader = m.id
	}
	g.newMemberAdded = true
	g.resetHeartbeat(m)
}

// removeMember drops m without starting a rebalance; callers follow up
// with afterRemoval once their batch is done.
func (g *group) removeMember(m *member, code int16) {
	if m.joinCh != nil {
		m.joinCh <- joinResult{err: code, memberID: m.id, generation: -1}
		m.joinCh = nil
	}
	if m.syncCh != nil {
		m.syncCh <- syncResult{err: code}
		m.syncCh = nil
	}
	if m.hbTimer != nil {
		m.hbTimer.Stop()
	}
	m.hbSeq++
	delete(g.members, m.id)
	if m.instanceID != nil && g.static[*m.instanceID] == m.id {
		delete(g.static, *m.instanceID)
	}
	if g.leader == m.id {
		g.leader = ""
		if ms := g.orderedMembers(); len(ms) > 0 {
			g.leader = ms[0].id
		}
	}
}

func (g *group) afterRemoval() {
	switch g.state {
	case stateStable, stateCompletingRebalance:
		g.prepareRebalance()
	case statePreparingRebalance:
		g.tryCompleteJoin()
	}
}

// resetHeartbeat restarts m's session deadline. A member waiting in
// JoinGroup or SyncGroup is kept alive, as in Kafka.
func (g *group) resetHeartbeat(m *member) {
	if m.hbTimer != nil {
		m.hbTimer.Stop()
	}
	m.hbSeq++
	seq := m.hbSeq
	m.hbTimer = g.c.clk.AfterFunc(m.sessionTimeout, func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		if g.dead || g.members[m.id] != m || m.hbSeq != seq {
			return
		}
		if m.joinCh != nil || m.syncCh != nil {
			g.resetHeartbeat(m)
			return
		}
		g.c.log.Info("group: member session expired", "group", g.id, "member", m.id)
		g.removeMember(m, kerr.UnknownMemberID.Code)
		g.afterRemoval()
	})
}

func (g *group) addPending(id string, session time.Duration) {
	g.pending[id] = g.c.clk.AfterFunc(session, func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		if g.dead {
			return
		}
		if _, ok := g.pending[id]; !ok {
			return
		}
		delete(g.pending, id)
		if g.state == statePreparingRebalance {
			g.tryCompleteJoin()
		}
	})
}

func (g *group) removePending(id string) bool {
	t, ok := g.pending[id]
	if ok {
		t.Stop()
		delete(g.pending, id)
	}
	return ok
}

// prepareRebalance moves the group to PreparingRebalance. Followers waiting
// in SyncGroup are told REBALANCE_IN_PROGRESS. Leaving Empty waits the
// initial rebalance delay, extended while members keep arriving, up to the
// largest rebalance timeout.
func (g *group) prepareRebalance() {
	if g.state == stateCompletingRebalance {
		g.failSyncs(kerr.RebalanceInProgress.Code)
	}
	wasEmpty := g.state == stateEmpty
	g.setState(statePreparingRebalance)
	delay := g.c.cfg.InitialRebalanceDelay
	if wasEmpty && delay > 0 {
		g.initialDelay = true
		g.newMemberAdded = false
		remaining := max(g.maxRebalanceTimeout()-delay, 0)
		g.scheduleInitialDelay(delay, remaining)
		return
	}
	g.initialDelay = false
	g.schedule(g.maxRebalanceTimeout(), g.completeJoin)
	g.tryCompleteJoin()
}

func (g *group) scheduleInitialDelay(delay, remaining time.Duration) {
	g.schedule(delay, func() {
		if g.newMemberAdded && remaining > 0 {
			g.newMemberAdded = false
			d := min(g.c.cfg.InitialRebalanceDelay, remaining)
			g.scheduleInitialDelay(d, remaining-d)
			return
		}
		g.initialDelay = false
		g.completeJoin()
	})
}

func (g *group) failSyncs(code int16) {
	for _, m := range g.members {
		m.assignment = nil
		if m.syncCh != nil {
			m.syncCh <- syncResult{err: code}
			m.syncCh = nil
		}
	}
}

func (g *group) tryCompleteJoin() {
	if g.state != statePreparingRebalance || g.initialDelay || len(g.pending) > 0 {
		return
	}
	for _, m := range g.members {
		if m.joinCh == nil {
			return
		}
	}
	g.completeJoin()
}

// completeJoin ends the join phase: dynamic members that did not rejoin are
// dropped, the generation is bumped, a protocol and leader chosen and every
// waiting member answered.
func (g *group) completeJoin() {
	if g.state != statePreparingRebalance {
		return
	}
	g.stopTimer()
	g.initialDelay = false
	for _, m := range g.orderedMembers() {
		if m.joinCh == nil && !m.isStatic() {
			g.removeMember(m, kerr.UnknownMemberID.Code)
		}
	}
	if len(g.members) > 0 && !g.electJoinedLeader() {
		// Only static members that have not rejoined remain: wait another
		// rebalance timeout for them to rejoin or expire.
		g.schedule(g.maxRebalanceTimeout(), g.completeJoin)
		return
	}
	g.generation++
	if len(g.members) == 0 {
		g.protocol = ""
		g.leader = ""
		g.setState(stateEmpty)
		g.persistBackground(groupMetadataRecord(g))
		return
	}
	g.protocol = g.selectProtocol()
	g.setState(stateCompletingRebalance)
	for _, m := range g.orderedMembers() {
		m.assignment = nil
		m.pendingSync = true
		if m.joinCh != nil {
			m.joinCh <- g.joinResultFor(m, false)
			m.joinCh = nil
		}
		g.resetHeartbeat(m)
	}
	gen := g.generation
	g.schedule(g.maxRebalanceTimeout(), func() { g.expirePendingSyncs(gen) })
}

// electJoinedLeader keeps the leader if it rejoined, else promotes the
// earliest member that did. It reports false if no member rejoined.
func (g *group) electJoinedLeader() bool {
	if m := g.members[g.leader]; m != nil && m.joinCh != nil {
		return true
	}
	for _, m := range g.orderedMembers() {
		if m.joinCh != nil {
			g.leader = m.id
			return true
		}
	}
	return false
}

// expirePendingSyncs removes members that got a JoinGroup answer for gen but
// never sent SyncGroup within the rebalance timeout.
func (g *group) expirePendingSyncs(gen int32) {
	if g.generation != gen || (g.state != stateCompletingRebalance && g.state != stateStable) {
		return
	}
	removed := false
	for _, m := range g.orderedMembers() {
		if m.pendingSync {
			g.c.log.Info("group: member did not sync in time", "group", g.id, "member", m.id)
			g.removeMember(m, kerr.UnknownMemberID.Code)
			removed = true
		}
	}
	if removed {
		g.afterRemoval()
	}
}

func (g *group) joinResultFor(m *member, skipAssignment bool) joinResult {
	r := joinResult{
		memberID:       m.id,
		generation:     g.generation,
		protocolType:   g.protocolType,
		protocol:       g.protocol,
		leader:         g.leader,
		skipAssignment: skipAssignment,
	}
	if m.id == g.leader {
		for _, o := range g.orderedMembers() {
			jm := kmsg.NewJoinGroupResponseMember()
			jm.MemberID = o.id
			jm.InstanceID = o.instanceID
			jm.ProtocolMetadata = o.metadataFor(g.protocol)
			r.members = append(r.members, jm)
		}
	}
	return r
}

// kill marks the group dead (deleted, unloaded or coordinator closed) and
// answers every waiter with code.
func (g *group) kill(code int16) {
	g.dead = true
	g.stopTimer()
	for _, m := range g.members {
		if m.hbTimer != nil {
			m.hbTimer.Stop()
		}
		m.hbSeq++
		if m.joinCh != nil {
			m.joinCh <- joinResult{err: code, memberID: m.id, generation: -1}
			m.joinCh = nil
		}
		if m.syncCh != nil {
			m.syncCh <- syncResult{err: code}
			m.syncCh = nil
		}
	}
	for id := range g.pending {
		g.removePending(id)
	}
	if g.cg != nil {
		for _, m := range g.cg.members {
			g.stopCGTimers(m)
		}
	}
	g.state = stateDead
}
