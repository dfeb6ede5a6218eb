package group

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestPartitionFor(t *testing.T) {
	for _, tc := range []struct {
		id   string
		n    int32
		want int32
	}{
		{"", 50, 0},
		{"a", 50, 97 % 50},
		{"é", 50, 233 % 50},
		{"😀", 1 << 30, 1772899},       // surrogate pair hashed as two UTF-16 units
		{"polygenelubricants", 50, 0}, // hashCode == Integer.MIN_VALUE: Utils.abs gives 0
		{"my-group", 50, javaAbs(-1906497762) % 50},
		{"console-consumer-12345", 50, 158455506 % 50},
	} {
		if got := PartitionFor(tc.id, tc.n); got != tc.want {
			t.Errorf("PartitionFor(%q, %d) = %d, want %d", tc.id, tc.n, got, tc.want)
		}
	}
	if h := javaStringHash("polygenelubricants"); h != -1<<31 {
		t.Fatalf("hash = %d", h)
	}
}

func javaAbs(v int32) int32 {
	if v < 0 {
		return -v
	}
	return v
}

// KIP-394: a v4+ JoinGroup without a member id is answered with
// MEMBER_ID_REQUIRED and a generated id, which expires if unused.
func TestKIP394MemberIDRequired(t *testing.T) {
	h := newHarness(t, testConfig())
	id := h.memberID("g")
	h.inspect("g", func(g *group) {
		if len(g.pending) != 1 || len(g.members) != 0 {
			t.Fatalf("pending %d members %d", len(g.pending), len(g.members))
		}
	})
	h.clk.Advance(10 * time.Second) // the join's session timeout
	r := h.do(joinReq(9, "g", id, nil)).(*kmsg.JoinGroupResponse)
	if r.ErrorCode != kerr.UnknownMemberID.Code {
		t.Fatalf("expired pending id: error %d", r.ErrorCode)
	}

	// Before v4 the member is admitted directly.
	r = h.do(joinReq(3, "g3", "", nil)).(*kmsg.JoinGroupResponse)
	if r.ErrorCode != 0 || r.MemberID == "" || r.Generation != 1 || r.LeaderID != r.MemberID {
		t.Fatalf("v3 join: %+v", r)
	}
}

func TestJoinValidation(t *testing.T) {
	h := newHarness(t, testConfig())
	bad := joinReq(9, "g", "", nil)
	bad.SessionTimeoutMillis = 1000
	if r := h.do(bad).(*kmsg.JoinGroupResponse); r.ErrorCode != kerr.InvalidSessionTimeout.Code {
		t.Fatalf("short session: %d", r.ErrorCode)
	}
	if r := h.do(joinReq(9, "", "", nil)).(*kmsg.JoinGroupResponse); r.ErrorCode != kerr.InvalidGroupID.Code {
		t.Fatalf("empty group: %d", r.ErrorCode)
	}
	if r := h.do(joinReq(9, "nogroup", "someone", nil)).(*kmsg.JoinGroupResponse); r.ErrorCode != kerr.UnknownMemberID.Code {
		t.Fatalf("unknown member: %d", r.ErrorCode)
	}
	h.stableGroup("g", 1)
	other := joinReq(9, "g", "", nil, proto{"roundrobin", nil})
	if r := h.do(other).(*kmsg.JoinGroupResponse); r.ErrorCode != kerr.InconsistentGroupProtocol.Code {
		t.Fatalf("no common protocol: %d", r.ErrorCode)
	}
	conn := joinReq(9, "g", "", nil)
	conn.ProtocolType = "connect"
	if r := h.do(conn).(*kmsg.JoinGroupResponse); r.ErrorCode != kerr.InconsistentGroupProtocol.Code {
		t.Fatalf("other protocol type: %d", r.ErrorCode)
	}

	cfg := testConfig()
	cfg.MaxGroupSize = 1
	h = newHarness(t, cfg)
	h.stableGroup("g", 1)
	if r := h.do(joinReq(9, "g", "", nil)).(*kmsg.JoinGroupResponse); r.ErrorCode != kerr.GroupMaxSizeReached.Code {
		t.Fatalf("full group: %d", r.ErrorCode)
	}
}

// Three members join during the initial rebalance delay, which is extended
// while members keep arriving; the first joiner leads and alone gets the
// members' metadata; followers wait in SyncGroup for the leader.
func TestJoinSyncThreeMembersInitialDelay(t *testing.T) {
	cfg := testConfig()
	cfg.InitialRebalanceDelay = 3 * time.Second
	h := newHarness(t, cfg)
	var ids []string
	var chans []<-chan kmsg.Response
	for i := range 3 {
		ids = append(ids, h.memberID("g"))
		chans = append(chans, h.async(joinReq(9, "g", ids[i], nil, proto{"range", consumerMeta("t1", "t2")})))
		h.waitAwaiting("g", i+1, false)
	}
	if s := h.state("g"); s != "PreparingRebalance" {
		t.Fatalf("state %s", s)
	}
	h.clk.Advance(3 * time.Second) // members arrived during the delay: wait another
	for _, ch := range chans {
		noResponse(t, ch)
	}
	h.clk.Advance(3 * time.Second)
	var gen int32
	for i, ch := range chans {
		r := recv[*kmsg.JoinGroupResponse](t, ch)
		if r.ErrorCode != 0 || r.LeaderID != ids[0] || r.MemberID != ids[i] || *r.Protocol != "range" || *r.ProtocolType != "consumer" {
			t.Fatalf("member %d: %+v", i, r)
		}
		if want := map[bool]int{true: 3, false: 0}[i == 0]; len(r.Members) != want {
			t.Fatalf("member %d got %d members' metadata, want %d", i, len(r.Members), want)
		}
		gen = r.Generation
	}
	if gen != 1 {
		t.Fatalf("generation %d", gen)
	}
	if s := h.state("g"); s != "CompletingRebalance" {
		t.Fatalf("state %s", s)
	}
	// A heartbeat in CompletingRebalance is fine; a commit is not.
	if code := h.heartbeat("g", ids[1], gen); code != 0 {
		t.Fatalf("heartbeat: %d", code)
	}
	if code := commitCode(h, 9, "g", ids[1], gen, "t1", 0, 5); code != kerr.RebalanceInProgress.Code {
		t.Fatalf("commit while completing: %d", code)
	}
	// SyncGroup checks.
	if r := h.do(syncReq("g", ids[1], gen+1, nil)).(*kmsg.SyncGroupResponse); r.ErrorCode != kerr.IllegalGeneration.Code {
		t.Fatalf("wrong generation: %d", r.ErrorCode)
	}
	bad := syncReq("g", ids[1], gen, nil)
	p := "roundrobin"
	bad.Protocol = &p
	if r := h.do(bad).(*kmsg.SyncGroupResponse); r.ErrorCode != kerr.InconsistentGroupProtocol.Code {
		t.Fatalf("wrong protocol: %d", r.ErrorCode)
	}
	n := len(h.store.Records(PartitionFor("g", cfg.NumPartitions)))
	h.syncAll("g", ids, gen)
	if s := h.state("g"); s != "Stable" {
		t.Fatalf("state %s", s)
	}
	if got := len(h.store.Records(PartitionFor("g", cfg.NumPartitions))); got != n+1 {
		t.Fatalf("assignment not persisted: %d records, had %d", got, n)
	}
	for _, id := range ids {
		if code := h.heartbeat("g", id, gen); code != 0 {
			t.Fatalf("heartbeat: %d", code)
		}
	}
}

func TestSelectProtocol(t *testing.T) {
	h := newHarness(t, testConfig())
	g := newGroup(h.c, "g", 0)
	add := func(id string, names ...string) {
		m := &member{id: id, sessionTimeout: time.Minute}
		for _, n := range names {
			m.protocols = append(m.protocols, kmsg.JoinGroupRequestProtocol{Name: n})
		}
		g.mu.Lock()
		g.addMember(m)
		g.mu.Unlock()
	}
	add("a", "roundrobin", "range")
	add("b", "range", "roundrobin")
	add("c", "range", "roundrobin")
	if p := g.selectProtocol(); p != "range" {
		t.Fatalf("majority: %q", p)
	}
	add("d", "roundrobin")
	if p := g.selectProtocol(); p != "roundrobin" {
		t.Fatalf("only common protocol: %q", p)
	}
	g.mu.Lock()
	g.kill(0)
	g.mu.Unlock()
}

// A new member triggers a rebalance: existing members learn of it from
// their heartbeats and rejoin; the leader is kept.
func TestRebalanceOnJoin(t *testing.T) {
	h := newHarness(t, testConfig())
	ids, gen := h.stableGroup("g", 2)
	id3 := h.memberID("g")
	c3 := h.async(joinReq(9, "g", id3, nil))
	h.waitAwaiting("g", 1, false)
	if code := h.heartbeat("g", ids[1], gen); code != kerr.RebalanceInProgress.Code {
		t.Fatalf("heartbeat during rebalance: %d", code)
	}
	if r := h.do(syncReq("g", ids[1], gen, nil)).(*kmsg.SyncGroupResponse); r.ErrorCode != kerr.RebalanceInProgress.Code {
		t.Fatalf("sync during rebalance: %d", r.ErrorCode)
	}
	// Committing with the current generation is still allowed (eager
	// consumers commit while revoking).
	if code := commitCode(h, 9, "g", ids[1], gen, "t1", 0, 1); code != 0 {
		t.Fatalf("commit during PreparingRebalance: %d", code)
	}
	c2 := h.async(joinReq(9, "g", ids[1], nil))
	h.waitAwaiting("g", 2, false)
	noResponse(t, c3)
	r1 := h.do(joinReq(9, "g", ids[0], nil)).(*kmsg.JoinGroupResponse)
	r2 := recv[*kmsg.JoinGroupResponse](t, c2)
	r3 := recv[*kmsg.JoinGroupResponse](t, c3)
	for _, r := range []*kmsg.JoinGroupResponse{r1, r2, r3} {
		if r.ErrorCode != 0 || r.Generation != gen+1 || r.LeaderID != ids[0] {
			t.Fatalf("rejoin: %+v", r)
		}
	}
	if len(r1.Members) != 3 {
		t.Fatalf("leader saw %d members", len(r1.Members))
	}
	h.syncAll("g", []string{ids[0], ids[1], id3}, gen+1)
}

// Leaving members (v3+ batch, v0 single) trigger a rebalance; the group
// empties when the last one goes.
func TestRebalanceOnLeave(t *testing.T) {
	h := newHarness(t, testConfig())
	ids, gen := h.stableGroup("g", 3)
	leave := kmsg.NewPtrLeaveGroupRequest()
	leave.SetVersion(5)
	leave.Group = "g"
	leave.Members = []kmsg.LeaveGroupRequestMember{{MemberID: ids[2]}, {MemberID: "nobody"}}
	lr := h.do(leave).(*kmsg.LeaveGroupResponse)
	if lr.ErrorCode != 0 || len(lr.Members) != 2 || lr.Members[0].ErrorCode != 0 || lr.Members[1].ErrorCode != kerr.UnknownMemberID.Code {
		t.Fatalf("leave: %+v", lr)
	}
	if code := h.heartbeat("g", ids[1], gen); code != kerr.RebalanceInProgress.Code {
		t.Fatalf("heartbeat: %d", code)
	}
	// The leader leaves (v0) before rejoining: the remaining member leads.
	l0 := kmsg.NewPtrLeaveGroupRequest()
	l0.Group, l0.MemberID = "g", ids[0]
	if r := h.do(l0).(*kmsg.LeaveGroupResponse); r.ErrorCode != 0 {
		t.Fatalf("v0 leave: %d", r.ErrorCode)
	}
	r := h.do(joinReq(9, "g", ids[1], nil)).(*kmsg.JoinGroupResponse)
	if r.ErrorCode != 0 || r.LeaderID != ids[1] || r.Generation != gen+1 || len(r.Members) != 1 {
		t.Fatalf("rejoin: %+v", r)
	}
	h.syncAll("g", ids[1:2], gen+1)
	l0.MemberID = ids[1]
	h.do(l0)
	if s := h.state("g"); s != "Empty" {
		t.Fatalf("state %s", s)
	}
	if code := h.heartbeat("g", ids[1], gen+1); code != kerr.UnknownMemberID.Code {
		t.Fatalf("heartbeat in Empty: %d", code)
	}
}

// A member that stops heartbeating is removed after its session timeout.
func TestSessionExpiry(t *testing.T) {
	h := newHarness(t, testConfig())
	ids, gen := h.stableGroup("g", 2)
	for range 3 { // heartbeats keep both alive past the session timeout
		h.clk.Advance(6 * time.Second)
		for _, id := range ids {
			if code := h.heartbeat("g", id, gen); code != 0 {
				t.Fatalf("heartbeat: %d", code)
			}
		}
	}
	h.clk.Advance(6 * time.Second)
	if code := h.heartbeat("g", ids[0], gen); code != 0 {
		t.Fatalf("heartbeat: %d", code)
	}
	h.clk.Advance(4 * time.Second) // ids[1] silent for 10s
	if code := h.heartbeat("g", ids[0], gen); code != kerr.RebalanceInProgress.Code {
		t.Fatalf("heartbeat after peer expiry: %d", code)
	}
	if code := h.heartbeat("g", ids[1], gen); code != kerr.UnknownMemberID.Code {
		t.Fatalf("expired member heartbeat: %d", code)
	}
	r := h.do(joinReq(9, "g", ids[0], nil)).(*kmsg.JoinGroupResponse)
	if r.ErrorCode != 0 || r.Generation != gen+1 || len(r.Members) != 1 {
		t.Fatalf("rejoin: %+v", r)
	}
}

// Members that do not rejoin within the rebalance timeout are dropped.
func TestRebalanceTimeout(t *testing.T) {
	h := newHarness(t, testConfig())
	ids, gen := h.stableGroup("g", 2)
	long := func(id string) *kmsg.JoinGroupRequest {
		r := joinReq(9, "g", id, nil, proto{"range", consumerMeta("t1", "t9")})
		r.SessionTimeoutMillis = 30000
		return r
	}
	c0 := h.async(long(ids[0]))
	h.waitAwaiting("g", 1, false)
	for range 3 { // ids[1] stays alive but does not rejoin
		h.clk.Advance(5 * time.Second)
		if code := h.heartbeat("g", ids[1], gen); code != kerr.RebalanceInProgress.Code {
			t.Fatalf("heartbeat: %d", code)
		}
	}
	h.clk.Advance(4 * time.Second)
	noResponse(t, c0)
	h.clk.Advance(time.Second)
	r := recv[*kmsg.JoinGroupResponse](t, c0)
	if r.ErrorCode != 0 || r.Generation != gen+1 || len(r.Members) != 1 {
		t.Fatalf("join: %+v", r)
	}
	if code := h.heartbeat("g", ids[1], gen); code != kerr.UnknownMemberID.Code {
		t.Fatalf("dropped member heartbeat: %d", code)
	}
	// A member that joined but never syncs is removed after the
	// rebalance timeout.
	h.clk.Advance(20 * time.Second)
	if s := h.state("g"); s != "Empty" {
		t.Fatalf("state after missing sync: %s", s)
	}
}

func strp(s string) *string { return &s }

// KIP-345: a static member restarting with the same protocols takes over
// its instance without a rebalance; its old id is fenced. A static leader
// is told to skip the assignment (KIP-814).
func TestStaticMembership(t *testing.T) {
	h := newHarness(t, testConfig())
	a, b := strp("a"), strp("b")
	ra := h.do(joinReq(9, "g", "", a)).(*kmsg.JoinGroupResponse)
	if ra.ErrorCode != 0 || ra.Generation != 1 {
		t.Fatalf("static join needs no member id round trip: %+v", ra)
	}
	h.syncAll("g", []string{ra.MemberID}, 1)
	cb := h.async(joinReq(9, "g", "", b))
	h.waitAwaiting("g", 1, false)
	ra2 := h.do(joinReq(9, "g", ra.MemberID, a)).(*kmsg.JoinGroupResponse)
	rb := recv[*kmsg.JoinGroupResponse](t, cb)
	if ra2.Generation != 2 || rb.Generation != 2 || ra2.LeaderID != ra.MemberID {
		t.Fatalf("second generation: %+v %+v", ra2, rb)
	}
	h.syncAll("g", []string{ra.MemberID, rb.MemberID}, 2)

	// b restarts: new member id, same generation, still Stable.
	rb2 := h.do(joinReq(9, "g", "", b)).(*kmsg.JoinGroupResponse)
	if rb2.ErrorCode != 0 || rb2.MemberID == rb.MemberID || rb2.Generation != 2 || rb2.SkipAssignment {
		t.Fatalf("static rejoin: %+v", rb2)
	}
	if s := h.state("g"); s != "Stable" {
		t.Fatalf("state %s", s)
	}
	if code := h.do(hbReq("g", rb.MemberID, 2, b)).(*kmsg.HeartbeatResponse).ErrorCode; code != kerr.FencedInstanceID.Code {
		t.Fatalf("old id heartbeat: %d", code)
	}
	if code := h.do(hbReq("g", rb2.MemberID, 2, b)).(*kmsg.HeartbeatResponse).ErrorCode; code != 0 {
		t.Fatalf("new id heartbeat: %d", code)
	}
	sr := h.do(syncReq("g", rb2.MemberID, 2, nil)).(*kmsg.SyncGroupResponse)
	if sr.ErrorCode != 0 || string(sr.MemberAssignment) != "assign-"+rb.MemberID {
		t.Fatalf("restarted member keeps its assignment: %+v", sr)
	}

	// The leader restarts: it gets the members and SkipAssignment.
	ra3 := h.do(joinReq(9, "g", "", a)).(*kmsg.JoinGroupResponse)
	if ra3.ErrorCode != 0 || !ra3.SkipAssignment || ra3.LeaderID != ra3.MemberID || len(ra3.Members) != 2 || ra3.Generation != 2 {
		t.Fatalf("static leader rejoin: %+v", ra3)
	}
	if s := h.state("g"); s != "Stable" {
		t.Fatalf("state %s", s)
	}

	// A restart with different subscriptions rebalances.
	cb3 := h.async(joinReq(9, "g", "", b, proto{"range", consumerMeta("t1", "t2")}))
	h.waitAwaiting("g", 1, false)
	if s := h.state("g"); s != "PreparingRebalance" {
		t.Fatalf("state %s", s)
	}
	h.do(joinReq(9, "g", ra3.MemberID, a))
	if r := recv[*kmsg.JoinGroupResponse](t, cb3); r.ErrorCode != 0 || r.Generation != 3 {
		t.Fatalf("rebalanced rejoin: %+v", r)
	}

	// LeaveGroup by instance id with a stale member id is fenced.
	leave := kmsg.NewPtrLeaveGroupRequest()
	leave.SetVersion(4)
	leave.Group = "g"
	leave.Members = []kmsg.LeaveGroupRequestMember{{MemberID: rb.MemberID, InstanceID: b}, {InstanceID: strp("zz")}}
	lr := h.do(leave).(*kmsg.LeaveGroupResponse)
	if lr.Members[0].ErrorCode != kerr.FencedInstanceID.Code || lr.Members[1].ErrorCode != kerr.UnknownMemberID.Code {
		t.Fatalf("leave: %+v", lr.Members)
	}
}

// Static members that miss a rebalance stay in the group until their
// session expires.
func TestStaticMemberNotRejoiningStays(t *testing.T) {
	h := newHarness(t, testConfig())
	ra := h.do(joinReq(9, "g", "", strp("a"))).(*kmsg.JoinGroupResponse)
	h.syncAll("g", []string{ra.MemberID}, 1)
	cb := h.async(joinReq(9, "g", "", strp("b")))
	h.waitAwaiting("g", 1, false)
	h.clk.Advance(9 * time.Second) // a stays silent, but within its session
	noResponse(t, cb)
	h.clk.Advance(time.Second) // a's session expires: b completes alone
	rb := recv[*kmsg.JoinGroupResponse](t, cb)
	if rb.ErrorCode != 0 || rb.LeaderID != rb.MemberID || len(rb.Members) != 1 {
		t.Fatalf("join: %+v", rb)
	}
}

func TestUnloadAnswersWaiters(t *testing.T) {
	h := newHarness(t, testConfig())
	ids, _ := h.stableGroup("g", 1)
	id2 := h.memberID("g")
	ch := h.async(joinReq(9, "g", id2, nil))
	h.waitAwaiting("g", 1, false)
	h.c.Unload(PartitionFor("g", h.cfg.NumPartitions))
	if r := recv[*kmsg.JoinGroupResponse](t, ch); r.ErrorCode != kerr.NotCoordinator.Code {
		t.Fatalf("waiting join: %d", r.ErrorCode)
	}
	if code := h.heartbeat("g", ids[0], 1); code != kerr.NotCoordinator.Code {
		t.Fatalf("heartbeat: %d", code)
	}
}

func TestSyncPersistFailureRebalances(t *testing.T) {
	h := newHarness(t, testConfig())
	r := h.do(joinReq(9, "g", "", strp("a"))).(*kmsg.JoinGroupResponse)
	h.store.SetAppendError(kerr.NotEnoughReplicas)
	sr := h.do(syncReq("g", r.MemberID, 1, map[string][]byte{r.MemberID: []byte("x")})).(*kmsg.SyncGroupResponse)
	if sr.ErrorCode != kerr.CoordinatorNotAvailable.Code {
		t.Fatalf("sync: %d", sr.ErrorCode)
	}
	if s := h.state("g"); s != "PreparingRebalance" {
		t.Fatalf("state %s", s)
	}
}
