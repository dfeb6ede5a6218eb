package group

import (
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ownedMeta is a ConsumerProtocolSubscription of t1 reporting owned t1
// partitions (a cooperative classic member).
func ownedMeta(owned ...int32) []byte {
	m := kmsg.NewConsumerMemberMetadata()
	m.Version = 1
	m.Topics = []string{"t1"}
	if len(owned) > 0 {
		m.OwnedPartitions = []kmsg.ConsumerMemberMetadataOwnedPartition{{Topic: "t1", Partitions: owned}}
	}
	return m.AppendTo(nil)
}

func classicJoin(h *harness, memberID string, owned ...int32) *kmsg.JoinGroupResponse {
	h.t.Helper()
	return h.do(joinReq(9, "cg", memberID, nil, proto{"cooperative-sticky", ownedMeta(owned...)})).(*kmsg.JoinGroupResponse)
}

// syncParts is a classic SyncGroup to the group; it returns the t1
// partitions of the assignment.
func syncParts(h *harness, memberID string, gen int32) ([]int32, int16) {
	h.t.Helper()
	r := h.do(syncReq("cg", memberID, gen, nil)).(*kmsg.SyncGroupResponse)
	if r.ErrorCode != 0 {
		return nil, r.ErrorCode
	}
	var a kmsg.ConsumerMemberAssignment
	if err := a.ReadFrom(r.MemberAssignment); err != nil {
		h.t.Fatalf("assignment: %v", err)
	}
	var out []int32
	for _, t := range a.Topics {
		if t.Topic == "t1" {
			out = append(out, t.Partitions...)
		}
	}
	slices.Sort(out)
	return out, 0
}

// A classic member joins a consumer group: it gets a share of the
// partitions once the consumer-protocol member released them, is told to
// rejoin when there is something to take, commits with its generation,
// survives a restart, and when the consumer-protocol member leaves the
// group turns classic and rebalances.
func TestBridgeClassicMemberJoinsConsumerGroup(t *testing.T) {
	h := newHarness(t, testConfig())
	topics := staticTopics{"t1": {t1ID, 4}}
	h.c.SetTopicMetadata(topics)
	if r := cgHeartbeat(h, "m1", 0, []string{"t1"}, nil); r.MemberEpoch != 1 || len(assigned(r)[t1ID]) != 4 {
		t.Fatalf("m1 join: %+v", r)
	}
	r := classicJoin(h, "")
	if r.ErrorCode != kerr.MemberIDRequired.Code || r.MemberID == "" {
		t.Fatalf("first classic join: %+v", r)
	}
	c := r.MemberID
	r = classicJoin(h, c)
	if r.ErrorCode != 0 || r.Generation != 2 || r.LeaderID == c || *r.Protocol != "cooperative-sticky" || len(r.Members) != 0 {
		t.Fatalf("classic join: %+v", r)
	}
	gen := r.Generation
	if ps, code := syncParts(h, c, gen); code != 0 || len(ps) != 0 {
		t.Fatalf("sync before m1 released: %v %d", ps, code)
	}
	if code := h.heartbeat("cg", c, gen); code != 0 {
		t.Fatalf("heartbeat while nothing is free: %d", code)
	}
	// m1 revokes two partitions; then the classic member must rejoin.
	r1 := cgHeartbeat(h, "m1", 1, nil, map[[16]byte][]int32{t1ID: {0, 1, 2, 3}})
	kept := assigned(r1)[t1ID]
	if len(kept) != 2 {
		t.Fatalf("m1 revoking: %+v %v", r1, assigned(r1))
	}
	cgHeartbeat(h, "m1", 1, nil, map[[16]byte][]int32{t1ID: kept})
	if code := h.heartbeat("cg", c, gen); code != kerr.RebalanceInProgress.Code {
		t.Fatalf("heartbeat with partitions to take: %d", code)
	}
	r = classicJoin(h, c)
	if r.ErrorCode != 0 || r.Generation != gen {
		t.Fatalf("rejoin: %+v", r)
	}
	ps, code := syncParts(h, c, gen)
	if code != 0 || len(ps) != 2 || slices.ContainsFunc(ps, func(p int32) bool { return slices.Contains(kept, p) }) {
		t.Fatalf("classic member's partitions %v (m1 keeps %v), code %d", ps, kept, code)
	}
	if code := h.heartbeat("cg", c, gen); code != 0 {
		t.Fatalf("heartbeat when reconciled: %d", code)
	}
	if code := h.heartbeat("cg", c, gen+1); code != kerr.IllegalGeneration.Code {
		t.Fatalf("heartbeat, wrong generation: %d", code)
	}
	if g := describeCG(h); g.State != "Stable" || len(g.Members) != 2 {
		t.Fatalf("describe: %+v", g)
	} else {
		for _, m := range g.Members {
			if want := map[bool]int8{true: 0, false: 1}[m.MemberID == c]; m.MemberType != want {
				t.Fatalf("member %s type %d", m.MemberID, m.MemberType)
			}
		}
	}
	if code := commitCode(h, 7, "cg", c, gen, "t1", ps[0], 10); code != 0 {
		t.Fatalf("classic commit: %d", code)
	}
	if code := commitCode(h, 7, "cg", c, gen+3, "t1", ps[0], 10); code != kerr.IllegalGeneration.Code {
		t.Fatalf("classic commit, wrong generation: %d", code)
	}

	// The classic member is persisted as one.
	h.restart()
	h.c.SetTopicMetadata(topics)
	if code := h.heartbeat("cg", c, gen); code != 0 {
		t.Fatalf("heartbeat after restart: %d", code)
	}
	if again, _ := syncParts(h, c, gen); !slices.Equal(again, ps) {
		t.Fatalf("assignment after restart %v, before %v", again, ps)
	}

	// m1 leaves: downgrade to a classic group, which rebalances.
	if r := cgHeartbeat(h, "m1", 2, nil, nil); r.ErrorCode != 0 {
		t.Fatalf("m1: %+v", r)
	}
	cgHeartbeat(h, "m1", -1, nil, nil)
	if g := describeCG(h); g.ErrorCode != kerr.GroupIDNotFound.Code {
		t.Fatalf("still a consumer group after the last consumer-protocol member left: %+v", g)
	}
	if code := h.heartbeat("cg", c, gen); code != kerr.RebalanceInProgress.Code {
		t.Fatalf("classic heartbeat after the downgrade: %d", code)
	}
	r = classicJoin(h, c, ps...)
	if r.ErrorCode != 0 || r.LeaderID != c || r.Generation != gen+1 || len(r.Members) != 1 {
		t.Fatalf("classic rejoin after the downgrade: %+v", r)
	}
	h.restart()
	h.c.SetTopicMetadata(topics)
	if g := describeCG(h); g.ErrorCode != kerr.GroupIDNotFound.Code {
		t.Fatalf("downgraded group restored as a consumer group: %+v", g)
	}
}

// A consumer-protocol member joining a Stable classic group converts it
// (upgrade); the classic member keeps its assignment, revokes what the new
// target takes away by rejoining, and the new member gets it.
func TestBridgeUpgradeClassicGroup(t *testing.T) {
	h := newHarness(t, testConfig())
	h.c.SetTopicMetadata(staticTopics{"t1": {t1ID, 4}})
	r := classicJoin(h, "")
	c := r.MemberID
	r = classicJoin(h, c)
	if r.ErrorCode != 0 || r.LeaderID != c {
		t.Fatalf("classic join: %+v", r)
	}
	all := kmsg.NewConsumerMemberAssignment()
	all.Topics = []kmsg.ConsumerMemberAssignmentTopic{{Topic: "t1", Partitions: []int32{0, 1, 2, 3}}}
	if s := h.do(syncReq("cg", c, r.Generation, map[string][]byte{c: all.AppendTo(nil)})).(*kmsg.SyncGroupResponse); s.ErrorCode != 0 {
		t.Fatalf("sync: %+v", s)
	}
	gen := r.Generation

	r1 := cgHeartbeat(h, "m1", 0, []string{"t1"}, nil)
	if r1.ErrorCode != 0 || r1.MemberEpoch != gen+1 || len(assigned(r1)[t1ID]) != 0 {
		t.Fatalf("upgrade join: %+v %v", r1, assigned(r1))
	}
	if code := h.heartbeat("cg", c, gen); code != kerr.RebalanceInProgress.Code {
		t.Fatalf("classic heartbeat after the upgrade: %d", code)
	}
	// A cooperative rejoin still owning everything: keep the target's
	// share at the old generation, revoke the rest first.
	r = classicJoin(h, c, 0, 1, 2, 3)
	if r.ErrorCode != 0 || r.Generation != gen {
		t.Fatalf("rejoin: %+v", r)
	}
	keep, _ := syncParts(h, c, gen)
	if len(keep) != 2 {
		t.Fatalf("classic member keeps %v", keep)
	}
	r = classicJoin(h, c, keep...)
	if r.ErrorCode != 0 || r.Generation != gen+1 {
		t.Fatalf("rejoin after revoking: %+v", r)
	}
	r1 = cgHeartbeat(h, "m1", r1.MemberEpoch, nil, nil)
	if got := assigned(r1)[t1ID]; len(got) != 2 || slices.ContainsFunc(got, func(p int32) bool { return slices.Contains(keep, p) }) {
		t.Fatalf("m1 after the classic member revoked: %v (classic keeps %v)", got, keep)
	}
}

func TestBridgeMigrationPolicy(t *testing.T) {
	cfg := testConfig()
	cfg.MigrationPolicy = MigrationDowngrade
	h := newHarness(t, cfg)
	h.c.SetTopicMetadata(staticTopics{"t1": {t1ID, 4}})
	c := classicJoin(h, "").MemberID
	r := classicJoin(h, c)
	h.do(syncReq("cg", c, r.Generation, nil))
	if r := cgHeartbeat(h, "m1", 0, []string{"t1"}, nil); r.ErrorCode != kerr.GroupIDNotFound.Code {
		t.Fatalf("upgrade with policy downgrade: %+v", r)
	}
	if err := (Config{NumPartitions: 1, OffsetsRetention: 1, MigrationPolicy: "sideways"}).Validate(); err == nil {
		t.Fatal("unknown policy accepted")
	}
}
