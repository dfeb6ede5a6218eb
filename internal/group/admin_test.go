package group

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func describe(h *harness, version int16, ids ...string) []kmsg.DescribeGroupsResponseGroup {
	h.t.Helper()
	r := kmsg.NewPtrDescribeGroupsRequest()
	r.SetVersion(version)
	r.Groups = ids
	return h.do(r).(*kmsg.DescribeGroupsResponse).Groups
}

func TestDescribeGroups(t *testing.T) {
	h := newHarness(t, testConfig())
	ids, _ := h.stableGroup("g", 2)
	gs := describe(h, 5, "g", "nogroup")
	g := gs[0]
	if g.ErrorCode != 0 || g.State != "Stable" || g.ProtocolType != "consumer" || g.Protocol != "range" || len(g.Members) != 2 {
		t.Fatalf("describe: %+v", g)
	}
	for i, m := range g.Members {
		if m.MemberID != ids[i] || string(m.MemberAssignment) != "assign-"+ids[i] || len(m.ProtocolMetadata) == 0 {
			t.Fatalf("member %d: %+v", i, m)
		}
	}
	if u := gs[1]; u.ErrorCode != 0 || u.State != "Dead" {
		t.Fatalf("unknown group v5: %+v", u)
	}
	if u := describe(h, 6, "nogroup")[0]; u.ErrorCode != kerr.GroupIDNotFound.Code || u.State != "Dead" {
		t.Fatalf("unknown group v6: %+v", u)
	}
	// Outside Stable, members come without metadata or assignment.
	h.async(joinReq(9, "g", ids[0], nil, mustProto("range", "t1", "t3")))
	h.waitAwaiting("g", 1, false)
	g = describe(h, 5, "g")[0]
	if g.State != "PreparingRebalance" || g.Protocol != "" || len(g.Members) != 2 || g.Members[0].MemberAssignment != nil {
		t.Fatalf("describe during rebalance: %+v", g)
	}
}

func mustProto(name string, topics ...string) proto { return proto{name, consumerMeta(topics...)} }

func TestListGroups(t *testing.T) {
	h := newHarness(t, testConfig())
	h.stableGroup("a", 1)
	commitCode(h, 9, "b", "", -1, "t", 0, 1)
	list := func(version int16, states, types []string) []kmsg.ListGroupsResponseGroup {
		r := kmsg.NewPtrListGroupsRequest()
		r.SetVersion(version)
		r.StatesFilter, r.TypesFilter = states, types
		return h.do(r).(*kmsg.ListGroupsResponse).Groups
	}
	all := list(3, nil, nil)
	if len(all) != 2 || all[0].Group != "a" || all[0].ProtocolType != "consumer" || all[1].Group != "b" || all[1].ProtocolType != "" {
		t.Fatalf("list: %+v", all)
	}
	if s := list(4, []string{"stable"}, nil); len(s) != 1 || s[0].Group != "a" || s[0].GroupState != "Stable" {
		t.Fatalf("state filter: %+v", s)
	}
	if s := list(5, nil, []string{"consumer"}); len(s) != 0 {
		t.Fatalf("type filter: %+v", s)
	}
	if s := list(5, []string{"Empty"}, []string{"Classic"}); len(s) != 1 || s[0].Group != "b" || s[0].GroupType != "classic" {
		t.Fatalf("both filters: %+v", s)
	}
	// Groups on partitions this broker does not lead are not listed.
	h.c.Unload(PartitionFor("a", h.cfg.NumPartitions))
	for _, g := range list(3, nil, nil) {
		if g.Group == "a" {
			t.Fatal("unloaded group listed")
		}
	}
}

func TestDeleteGroups(t *testing.T) {
	h := newHarness(t, testConfig())
	ids, gen := h.stableGroup("g", 1)
	commitCode(h, 9, "g", ids[0], gen, "t1", 0, 5)
	del := func(ids ...string) []kmsg.DeleteGroupsResponseGroup {
		r := kmsg.NewPtrDeleteGroupsRequest()
		r.SetVersion(3)
		r.Groups = ids
		return h.do(r).(*kmsg.DeleteGroupsResponse).Groups
	}
	rs := del("g", "nogroup")
	if rs[0].ErrorCode != kerr.NonEmptyGroup.Code || rs[1].ErrorCode != kerr.GroupIDNotFound.Code || rs[0].ErrorMessage == nil {
		t.Fatalf("delete: %+v", rs)
	}
	leave := kmsg.NewPtrLeaveGroupRequest()
	leave.Group, leave.MemberID = "g", ids[0]
	h.do(leave)
	if rs := del("g"); rs[0].ErrorCode != 0 {
		t.Fatalf("delete empty group: %+v", rs)
	}
	if u := describe(h, 5, "g")[0]; u.State != "Dead" {
		t.Fatalf("deleted group: %+v", u)
	}
	if off, _, _, _ := fetch(h, 9, "g", "t1", 0); off != -1 {
		t.Fatalf("offset survived delete: %d", off)
	}
	// The tombstones hold across a restart.
	h.restart()
	if off, _, _, _ := fetch(h, 9, "g", "t1", 0); off != -1 {
		t.Fatalf("offset back after restart: %d", off)
	}
	if u := describe(h, 5, "g")[0]; u.State != "Dead" {
		t.Fatalf("deleted group back after restart: %+v", u)
	}
}
