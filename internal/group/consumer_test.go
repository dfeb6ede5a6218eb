package group

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

type staticTopics map[string]struct {
	id [16]byte
	n  int32
}

func (s staticTopics) TopicByName(name string) ([16]byte, int32, bool) {
	t, ok := s[name]
	return t.id, t.n, ok
}

func (s staticTopics) TopicByID(id [16]byte) (string, bool) {
	for name, t := range s {
		if t.id == id {
			return name, true
		}
	}
	return "", false
}

var (
	t1ID = [16]byte{1}
	t2ID = [16]byte{2}
)

func cgHeartbeat(h *harness, memberID string, epoch int32, topics []string, owned map[[16]byte][]int32) *kmsg.ConsumerGroupHeartbeatResponse {
	h.t.Helper()
	r := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	r.SetVersion(1)
	r.Group, r.MemberID, r.MemberEpoch = "cg", memberID, epoch
	r.SubscribedTopicNames = topics
	if epoch == 0 {
		r.RebalanceTimeoutMillis = 30000
		r.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
	} else {
		r.RebalanceTimeoutMillis = -1
	}
	for id, ps := range owned {
		r.Topics = append(r.Topics, kmsg.ConsumerGroupHeartbeatRequestTopic{TopicID: id, Partitions: ps})
	}
	return h.do(r).(*kmsg.ConsumerGroupHeartbeatResponse)
}

func assigned(r *kmsg.ConsumerGroupHeartbeatResponse) map[[16]byte][]int32 {
	out := map[[16]byte][]int32{}
	if r.Assignment != nil {
		for _, t := range r.Assignment.Topics {
			out[t.TopicID] = t.Partitions
		}
	}
	return out
}

func samePartitions(a, b []int32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// KIP-848: assignment by the coordinator, revocation before reassignment,
// epochs, fencing, offset commits with member epochs, leaving and expiry.
func TestConsumerGroupProtocol(t *testing.T) {
	h := newHarness(t, testConfig())
	if r := cgHeartbeat(h, "m1", 0, []string{"t1"}, nil); r.ErrorCode != kerr.UnsupportedVersion.Code {
		t.Fatalf("without metadata: %d", r.ErrorCode)
	}
	h.c.SetTopicMetadata(staticTopics{"t1": {t1ID, 4}, "t2": {t2ID, 2}})

	r1 := cgHeartbeat(h, "m1", 0, []string{"t1"}, nil)
	if r1.ErrorCode != 0 || r1.MemberEpoch != 1 || !samePartitions(assigned(r1)[t1ID], []int32{0, 1, 2, 3}) || r1.HeartbeatIntervalMillis != 5000 {
		t.Fatalf("m1 join: %+v", r1)
	}
	r2 := cgHeartbeat(h, "m2", 0, []string{"t1"}, nil)
	if r2.ErrorCode != 0 || r2.MemberEpoch != 2 || len(assigned(r2)[t1ID]) != 0 {
		t.Fatalf("m2 join: epoch %d assignment %v (partitions still owned by m1)", r2.MemberEpoch, assigned(r2))
	}
	// m1 must first revoke 2 and 3, keeping its epoch.
	r1 = cgHeartbeat(h, "m1", 1, nil, map[[16]byte][]int32{t1ID: {0, 1, 2, 3}})
	if r1.ErrorCode != 0 || r1.MemberEpoch != 1 || !samePartitions(assigned(r1)[t1ID], []int32{0, 1}) {
		t.Fatalf("m1 revoking: %+v %v", r1, assigned(r1))
	}
	if s := listCG(h); s != "Reconciling" {
		t.Fatalf("state %s", s)
	}
	r1 = cgHeartbeat(h, "m1", 1, nil, map[[16]byte][]int32{t1ID: {0, 1}})
	if r1.MemberEpoch != 2 || !samePartitions(assigned(r1)[t1ID], []int32{0, 1}) {
		t.Fatalf("m1 revoked: %+v", r1)
	}
	r2 = cgHeartbeat(h, "m2", 2, nil, nil)
	if r2.MemberEpoch != 2 || !samePartitions(assigned(r2)[t1ID], []int32{2, 3}) {
		t.Fatalf("m2 after release: %+v", r2)
	}
	if s := listCG(h); s != "Stable" {
		t.Fatalf("state %s", s)
	}

	// Epochs guard heartbeats and commits.
	if r := cgHeartbeat(h, "m2", 7, nil, nil); r.ErrorCode != kerr.FencedMemberEpoch.Code {
		t.Fatalf("wrong epoch: %d", r.ErrorCode)
	}
	if r := cgHeartbeat(h, "nobody", 2, nil, nil); r.ErrorCode != kerr.UnknownMemberID.Code {
		t.Fatalf("unknown member: %d", r.ErrorCode)
	}
	if code := commitCode(h, 9, "cg", "m2", 2, "t1", 2, 10); code != 0 {
		t.Fatalf("commit: %d", code)
	}
	if code := commitCode(h, 9, "cg", "m2", 1, "t1", 2, 10); code != kerr.StaleMemberEpoch.Code {
		t.Fatalf("stale commit: %d", code)
	}
	if code := commitCode(h, 8, "cg", "m2", 2, "t1", 2, 10); code != kerr.UnsupportedVersion.Code {
		t.Fatalf("v8 commit: %d", code)
	}
	if code := commitCode(h, 9, "cg", "", -1, "t1", 2, 10); code != kerr.UnknownMemberID.Code {
		t.Fatalf("admin commit to an active group: %d", code)
	}
	// A classic member is bridged in (bridge_test.go): first KIP-394.
	if r := h.do(joinReq(9, "cg", "", nil)).(*kmsg.JoinGroupResponse); r.ErrorCode != kerr.MemberIDRequired.Code {
		t.Fatalf("classic join: %d", r.ErrorCode)
	}

	d := kmsg.NewPtrConsumerGroupDescribeRequest()
	d.Groups = []string{"cg", "g-none"}
	dr := h.do(d).(*kmsg.ConsumerGroupDescribeResponse)
	if g := dr.Groups[0]; g.ErrorCode != 0 || g.State != "Stable" || g.Epoch != 2 || len(g.Members) != 2 ||
		g.Members[1].Assignment.TopicPartitions[0].Topic != "t1" {
		t.Fatalf("describe: %+v", g)
	}
	if g := dr.Groups[1]; g.ErrorCode != kerr.GroupIDNotFound.Code {
		t.Fatalf("describe unknown: %+v", g)
	}

	// A subscription change gives t2 to m1; the uniform assignor then
	// balances by moving t1-1 to m2, which m1 revokes first.
	r1 = cgHeartbeat(h, "m1", 2, []string{"t1", "t2"}, nil)
	if r1.MemberEpoch != 2 || !samePartitions(assigned(r1)[t1ID], []int32{0}) || len(assigned(r1)[t2ID]) != 0 {
		t.Fatalf("subscribe t2: %+v %v", r1, assigned(r1))
	}
	r1 = cgHeartbeat(h, "m1", 2, nil, map[[16]byte][]int32{t1ID: {0}})
	if r1.MemberEpoch != 3 || !samePartitions(assigned(r1)[t2ID], []int32{0, 1}) || !samePartitions(assigned(r1)[t1ID], []int32{0}) {
		t.Fatalf("subscribe t2, revoked: %+v %v", r1, assigned(r1))
	}

	// m1 leaves: m2 takes every t1 partition.
	if r := cgHeartbeat(h, "m1", -1, nil, nil); r.ErrorCode != 0 || r.MemberEpoch != -1 {
		t.Fatalf("leave: %+v", r)
	}
	r2 = cgHeartbeat(h, "m2", 2, nil, map[[16]byte][]int32{t1ID: {2, 3}})
	if r2.MemberEpoch != 4 || !samePartitions(assigned(r2)[t1ID], []int32{0, 1, 2, 3}) {
		t.Fatalf("after leave: %+v %v", r2, assigned(r2))
	}
	dg := kmsg.NewPtrDeleteGroupsRequest()
	dg.Groups = []string{"cg"}
	if r := h.do(dg).(*kmsg.DeleteGroupsResponse); r.Groups[0].ErrorCode != kerr.NonEmptyGroup.Code {
		t.Fatalf("delete active: %+v", r.Groups[0])
	}
	// m2 goes silent past the session timeout.
	h.clk.Advance(45 * time.Second)
	if s := listCG(h); s != "Empty" {
		t.Fatalf("state after expiry: %s", s)
	}
	// An empty consumer group turns classic for a classic member.
	if r := h.do(joinReq(9, "cg", "", strp("s"))).(*kmsg.JoinGroupResponse); r.ErrorCode != 0 {
		t.Fatalf("classic join of an empty consumer group: %d", r.ErrorCode)
	}
}

func TestConsumerGroupValidation(t *testing.T) {
	h := newHarness(t, testConfig())
	h.c.SetTopicMetadata(staticTopics{})
	r := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	r.Group, r.MemberID, r.MemberEpoch = "cg", "m", 0
	r.RebalanceTimeoutMillis = 1000
	r.SubscribedTopicNames = []string{"t"}
	r.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
	bad := "cooperative"
	r.ServerAssignor = &bad
	if resp := h.do(r).(*kmsg.ConsumerGroupHeartbeatResponse); resp.ErrorCode != kerr.UnsupportedAssignor.Code {
		t.Fatalf("assignor: %d", resp.ErrorCode)
	}
	r.ServerAssignor = nil
	r.SubscribedTopicNames = nil
	if resp := h.do(r).(*kmsg.ConsumerGroupHeartbeatResponse); resp.ErrorCode != kerr.InvalidRequest.Code {
		t.Fatalf("no subscription: %d", resp.ErrorCode)
	}
	// A classic group with members is not taken over.
	h.stableGroup("g", 1)
	r.Group = "g"
	r.SubscribedTopicNames = []string{"t"}
	if resp := h.do(r).(*kmsg.ConsumerGroupHeartbeatResponse); resp.ErrorCode != kerr.GroupIDNotFound.Code {
		t.Fatalf("classic group: %d", resp.ErrorCode)
	}
	// v0 without a member id: the coordinator names the member.
	r.Group, r.MemberID = "cg2", ""
	if resp := h.do(r).(*kmsg.ConsumerGroupHeartbeatResponse); resp.ErrorCode != 0 || resp.MemberID == nil || *resp.MemberID == "" {
		t.Fatalf("v0 join: %+v", resp)
	}
}

func listCG(h *harness) string {
	h.t.Helper()
	r := kmsg.NewPtrListGroupsRequest()
	r.SetVersion(5)
	r.TypesFilter = []string{"consumer"}
	for _, g := range h.do(r).(*kmsg.ListGroupsResponse).Groups {
		if g.Group == "cg" {
			return g.GroupState
		}
	}
	return ""
}

func cgJoin(h *harness, memberID string, instance *string, topics ...string) *kmsg.ConsumerGroupHeartbeatResponse {
	h.t.Helper()
	r := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	r.SetVersion(1)
	r.Group, r.MemberID, r.InstanceID = "cg", memberID, instance
	r.RebalanceTimeoutMillis = 30000
	r.SubscribedTopicNames = topics
	r.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
	return h.do(r).(*kmsg.ConsumerGroupHeartbeatResponse)
}

// A static member leaving with epoch -2 keeps its partitions for its
// instance; the restarted instance takes them over without a new epoch.
// Another member with the same instance id meanwhile is refused.
func TestConsumerGroupStaticMember(t *testing.T) {
	h := newHarness(t, testConfig())
	h.c.SetTopicMetadata(staticTopics{"t1": {t1ID, 2}})
	r := cgJoin(h, "a1", strp("a"), "t1")
	if r.MemberEpoch != 1 || len(assigned(r)[t1ID]) != 2 {
		t.Fatalf("join: %+v", r)
	}
	if r := cgJoin(h, "a2", strp("a"), "t1"); r.ErrorCode != kerr.UnreleasedInstanceID.Code {
		t.Fatalf("instance in use: %d", r.ErrorCode)
	}
	if r := cgHeartbeat(h, "a1", -2, nil, nil); r.ErrorCode != 0 || r.MemberEpoch != -2 {
		t.Fatalf("static leave: %+v", r)
	}
	r = cgJoin(h, "a2", strp("a"), "t1")
	if r.ErrorCode != 0 || r.MemberEpoch != 1 || !samePartitions(assigned(r)[t1ID], []int32{0, 1}) {
		t.Fatalf("takeover: %+v %v", r, assigned(r))
	}
	if r := cgHeartbeat(h, "a1", 1, nil, nil); r.ErrorCode != kerr.UnknownMemberID.Code {
		t.Fatalf("old id: %d", r.ErrorCode)
	}
}

// A member that does not revoke within its rebalance timeout is removed so
// its partitions can move.
func TestConsumerGroupRevocationTimeout(t *testing.T) {
	h := newHarness(t, testConfig())
	h.c.SetTopicMetadata(staticTopics{"t1": {t1ID, 2}})
	cgJoin(h, "m1", nil, "t1")
	r2 := cgJoin(h, "m2", nil, "t1")
	if len(assigned(r2)[t1ID]) != 0 {
		t.Fatalf("m2: %v", assigned(r2))
	}
	r1 := cgHeartbeat(h, "m1", 1, nil, map[[16]byte][]int32{t1ID: {0, 1}})
	if !samePartitions(assigned(r1)[t1ID], []int32{0}) {
		t.Fatalf("m1 revoking: %v", assigned(r1))
	}
	for range 6 { // m1 keeps heartbeating but never revokes
		h.clk.Advance(5 * time.Second)
		cgHeartbeat(h, "m1", 1, nil, nil)
		r2 = cgHeartbeat(h, "m2", r2.MemberEpoch, nil, nil)
	}
	if r := cgHeartbeat(h, "m1", 1, nil, nil); r.ErrorCode != kerr.UnknownMemberID.Code {
		t.Fatalf("m1 not fenced: %+v", r)
	}
	if !samePartitions(assigned(r2)[t1ID], []int32{0, 1}) {
		t.Fatalf("m2: %+v %v", r2, assigned(r2))
	}
	// OffsetFetch v9 checks the member epoch.
	f := kmsg.NewPtrOffsetFetchRequest()
	f.SetVersion(9)
	f.Groups = []kmsg.OffsetFetchRequestGroup{{Group: "cg", MemberID: strp("m2"), MemberEpoch: r2.MemberEpoch - 1}}
	if g := h.do(f).(*kmsg.OffsetFetchResponse).Groups[0]; g.ErrorCode != kerr.StaleMemberEpoch.Code {
		t.Fatalf("stale fetch: %d", g.ErrorCode)
	}
	f.Groups[0].MemberEpoch = r2.MemberEpoch
	if g := h.do(f).(*kmsg.OffsetFetchResponse).Groups[0]; g.ErrorCode != 0 {
		t.Fatalf("fetch: %d", g.ErrorCode)
	}
}
