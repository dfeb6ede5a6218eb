package group

import (
	"reflect"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func describeCG(h *harness) kmsg.ConsumerGroupDescribeResponseGroup {
	h.t.Helper()
	d := kmsg.NewPtrConsumerGroupDescribeRequest()
	d.Groups = []string{"cg"}
	return h.do(d).(*kmsg.ConsumerGroupDescribeResponse).Groups[0]
}

// A restarted coordinator restores a KIP-848 group from its records: the
// members carry on with their ids, epochs and assignments (no fencing, no
// new target), and members that left or groups deleted stay gone.
func TestConsumerGroupSurvivesRestart(t *testing.T) {
	h := newHarness(t, testConfig())
	topics := staticTopics{"t1": {t1ID, 4}, "t2": {t2ID, 2}}
	h.c.SetTopicMetadata(topics)
	cgHeartbeat(h, "m1", 0, []string{"t1"}, nil)
	cgHeartbeat(h, "m2", 0, []string{"t1", "t2"}, nil)
	cgHeartbeat(h, "m1", 1, nil, map[[16]byte][]int32{t1ID: {0, 1, 2, 3}})
	r1 := cgHeartbeat(h, "m1", 1, nil, map[[16]byte][]int32{t1ID: {0, 1}})
	r2 := cgHeartbeat(h, "m2", 2, nil, nil)
	if r1.ErrorCode != 0 || r2.ErrorCode != 0 {
		t.Fatalf("setup: %+v %+v", r1, r2)
	}
	before := describeCG(h)
	if before.State != "Stable" {
		t.Fatalf("before restart: %+v", before)
	}

	h.restart()
	h.c.SetTopicMetadata(topics)
	after := describeCG(h)
	if !reflect.DeepEqual(before, after) {
		t.Fatalf("describe before restart\n%+v\nafter\n%+v", before, after)
	}
	// Same epochs, same assignments, no new group epoch.
	a1 := cgHeartbeat(h, "m1", r1.MemberEpoch, nil, nil)
	a2 := cgHeartbeat(h, "m2", r2.MemberEpoch, nil, nil)
	if a1.ErrorCode != 0 || a1.MemberEpoch != r1.MemberEpoch || !reflect.DeepEqual(assigned(a1), assigned(r1)) ||
		a2.ErrorCode != 0 || a2.MemberEpoch != r2.MemberEpoch || !reflect.DeepEqual(assigned(a2), assigned(r2)) {
		t.Fatalf("after restart: %+v %v / %+v %v", a1, assigned(a1), a2, assigned(a2))
	}
	if g := describeCG(h); g.Epoch != before.Epoch {
		t.Fatalf("group epoch %d after restart, was %d", g.Epoch, before.Epoch)
	}
	// Restored members have sessions again.
	if code := commitCode(h, 9, "cg", "m1", r1.MemberEpoch, "t1", 0, 5); code != 0 {
		t.Fatalf("commit after restart: %d", code)
	}

	// m1 leaves: its records are tombstoned, m2's state survives the next
	// restart in the middle of reconciliation.
	if r := cgHeartbeat(h, "m1", -1, nil, nil); r.ErrorCode != 0 {
		t.Fatalf("leave: %+v", r)
	}
	r2 = cgHeartbeat(h, "m2", a2.MemberEpoch, nil, nil)
	h.restart()
	h.c.SetTopicMetadata(topics)
	g := describeCG(h)
	if len(g.Members) != 1 || g.Members[0].MemberID != "m2" || g.Members[0].MemberEpoch != r2.MemberEpoch {
		t.Fatalf("after leave and restart: %+v", g)
	}
	// m2 goes on to own everything.
	r2 = cgHeartbeat(h, "m2", r2.MemberEpoch, nil, nil)
	if r2.ErrorCode != 0 || len(assigned(r2)[t1ID]) != 4 || len(assigned(r2)[t2ID]) != 2 {
		t.Fatalf("m2 after leave: %+v %v", r2, assigned(r2))
	}

	// Leave and delete: every consumer group key ends in a tombstone.
	cgHeartbeat(h, "m2", -1, nil, nil)
	dg := kmsg.NewPtrDeleteGroupsRequest()
	dg.Groups = []string{"cg"}
	if r := h.do(dg).(*kmsg.DeleteGroupsResponse); r.Groups[0].ErrorCode != 0 {
		t.Fatalf("delete: %+v", r.Groups[0])
	}
	live := map[string]bool{}
	for _, r := range h.store.Records(PartitionFor("cg", h.cfg.NumPartitions)) {
		if len(r.Key) >= 2 && r.Key[1] >= cgMetadataKey && r.Key[1] <= cgCurrentAssignmentKey {
			live[string(r.Key)] = r.Value != nil
		}
	}
	for k, isLive := range live {
		if isLive {
			key, _ := decodeCGKey([]byte(k))
			t.Errorf("key %+v not tombstoned", key)
		}
	}
	if len(live) < 6 {
		t.Fatalf("only %d consumer group keys written", len(live))
	}
	h.restart()
	h.c.SetTopicMetadata(topics)
	if g := describeCG(h); g.ErrorCode != kerr.GroupIDNotFound.Code {
		t.Fatalf("deleted group after restart: %+v", g)
	}
}

// Converting between classic and consumer groups tombstones the other
// kind's records, so replay restores the kind the group has now.
func TestConsumerGroupConversionPersisted(t *testing.T) {
	h := newHarness(t, testConfig())
	topics := staticTopics{"t1": {t1ID, 4}}
	h.c.SetTopicMetadata(topics)
	cgHeartbeat(h, "m1", 0, []string{"t1"}, nil)
	cgHeartbeat(h, "m1", -1, nil, nil)
	// Empty consumer group → classic.
	if r := h.do(joinReq(9, "cg", "", strp("s"))).(*kmsg.JoinGroupResponse); r.ErrorCode != 0 {
		t.Fatalf("classic join: %d", r.ErrorCode)
	}
	h.restart()
	h.c.SetTopicMetadata(topics)
	if g := describeCG(h); g.ErrorCode != kerr.GroupIDNotFound.Code {
		t.Fatalf("classic group restored as a consumer group: %+v", g)
	}
}

// A restored group rewrites nothing until something changes: the snapshot
// it derives equals what the log holds.
func TestConsumerGroupRestoreWritesNothing(t *testing.T) {
	h := newHarness(t, testConfig())
	topics := staticTopics{"t1": {t1ID, 4}}
	h.c.SetTopicMetadata(topics)
	r := cgHeartbeat(h, "m1", 0, []string{"t1"}, nil)
	part := PartitionFor("cg", h.cfg.NumPartitions)
	h.restart()
	h.c.SetTopicMetadata(topics)
	n := len(h.store.Records(part))
	if a := cgHeartbeat(h, "m1", r.MemberEpoch, nil, nil); a.ErrorCode != 0 {
		t.Fatalf("heartbeat: %+v", a)
	}
	if got := h.store.Records(part)[n:]; len(got) != 0 {
		for _, rec := range got {
			k, _ := decodeCGKey(rec.Key)
			t.Errorf("rewrote %+v", k)
		}
	}
}
