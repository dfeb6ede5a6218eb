package group

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// JoinGroup v0 has no rebalance timeout: the session timeout bounds the
// join phase.
func TestJoinV0RebalanceTimeoutIsSession(t *testing.T) {
	h := newHarness(t, testConfig())
	r := h.do(joinReq(0, "g", "", nil)).(*kmsg.JoinGroupResponse)
	if r.ErrorCode != 0 {
		t.Fatalf("join: %d", r.ErrorCode)
	}
	h.inspect("g", func(g *group) {
		if m := g.members[r.MemberID]; m.rebalanceTimeout != 10*time.Second {
			t.Fatalf("rebalance timeout %v", m.rebalanceTimeout)
		}
	})
}

// A retried JoinGroup in CompletingRebalance with the same metadata gets the
// same answer without another rebalance.
func TestDuplicateJoinWhileCompleting(t *testing.T) {
	h := newHarness(t, testConfig())
	id := h.memberID("g")
	r1 := h.do(joinReq(9, "g", id, nil)).(*kmsg.JoinGroupResponse)
	r2 := h.do(joinReq(9, "g", id, nil)).(*kmsg.JoinGroupResponse)
	if r2.ErrorCode != 0 || r2.Generation != r1.Generation || r2.LeaderID != id || len(r2.Members) != 1 {
		t.Fatalf("duplicate join: %+v", r2)
	}
	if s := h.state("g"); s != "CompletingRebalance" {
		t.Fatalf("state %s", s)
	}
}

// A KIP-394 pending id may leave; a rebalance waiting on it then completes.
func TestPendingMemberLeaves(t *testing.T) {
	h := newHarness(t, testConfig())
	ids, gen := h.stableGroup("g", 1)
	pending := h.memberID("g")
	ch := h.async(joinReq(9, "g", ids[0], nil, mustProto("range", "t1", "t2")))
	h.waitAwaiting("g", 1, false)
	noResponse(t, ch) // waits for the pending id
	leave := kmsg.NewPtrLeaveGroupRequest()
	leave.SetVersion(3)
	leave.Group = "g"
	leave.Members = []kmsg.LeaveGroupRequestMember{{MemberID: pending}}
	if r := h.do(leave).(*kmsg.LeaveGroupResponse); r.Members[0].ErrorCode != 0 {
		t.Fatalf("leave: %+v", r)
	}
	if r := recv[*kmsg.JoinGroupResponse](t, ch); r.ErrorCode != 0 || r.Generation != gen+1 {
		t.Fatalf("join: %+v", r)
	}
}

func TestCoordinatorErrorsPerVersion(t *testing.T) {
	h := newHarness(t, testConfig())
	h.c.Unload(PartitionFor("g", h.cfg.NumPartitions))
	// OffsetFetch v1 has no top-level error: each partition carries it.
	f := kmsg.NewPtrOffsetFetchRequest()
	f.SetVersion(1)
	f.Group = "g"
	f.Topics = []kmsg.OffsetFetchRequestTopic{{Topic: "t", Partitions: []int32{0, 1}}}
	r := h.do(f).(*kmsg.OffsetFetchResponse)
	if len(r.Topics) != 1 || len(r.Topics[0].Partitions) != 2 || r.Topics[0].Partitions[1].ErrorCode != kerr.NotCoordinator.Code {
		t.Fatalf("v1 fetch: %+v", r)
	}
	f.SetVersion(3)
	if r := h.do(f).(*kmsg.OffsetFetchResponse); r.ErrorCode != kerr.NotCoordinator.Code {
		t.Fatalf("v3 fetch: %+v", r)
	}
	l := kmsg.NewPtrLeaveGroupRequest()
	l.Group, l.MemberID = "g", "m"
	if r := h.do(l).(*kmsg.LeaveGroupResponse); r.ErrorCode != kerr.NotCoordinator.Code {
		t.Fatalf("leave: %+v", r)
	}
	if code := commitCode(h, 2, "g", "", -1, "t", 0, 1); code != kerr.NotCoordinator.Code {
		t.Fatalf("commit: %d", code)
	}
	if g := describe(h, 5, "g")[0]; g.ErrorCode != kerr.NotCoordinator.Code {
		t.Fatalf("describe: %+v", g)
	}
	if _, err := h.c.CommittedOffsets("g"); err != kerr.NotCoordinator {
		t.Fatalf("CommittedOffsets: %v", err)
	}
}

func TestCloseAnswersWaiters(t *testing.T) {
	h := newHarness(t, testConfig())
	h.stableGroup("g", 1)
	id := h.memberID("g")
	ch := h.async(joinReq(9, "g", id, nil))
	h.waitAwaiting("g", 1, false)
	h.c.Close()
	if r := recv[*kmsg.JoinGroupResponse](t, ch); r.ErrorCode != kerr.CoordinatorNotAvailable.Code {
		t.Fatalf("join after close: %d", r.ErrorCode)
	}
}

func TestJoinContextCanceled(t *testing.T) {
	h := newHarness(t, testConfig())
	h.stableGroup("g", 1)
	id := h.memberID("g")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := h.c.Handle(ctx, joinReq(9, "g", id, nil))
		done <- err
	}()
	h.waitAwaiting("g", 1, false)
	cancel()
	if err := <-done; err != context.Canceled {
		t.Fatalf("err %v", err)
	}
}

// compactingStore replays only the latest record per key, as a compacted
// __consumer_offsets would after cleaning (tombstones kept).
type compactingStore struct{ *MemStore }

func (s compactingStore) Replay(p int32, fn func(Record) error) error {
	var order []string
	latest := map[string]Record{}
	_ = s.MemStore.Replay(p, func(r Record) error {
		k := string(r.Key)
		if _, ok := latest[k]; ok {
			for i, o := range order {
				if o == k {
					order = append(order[:i], order[i+1:]...)
					break
				}
			}
		}
		order = append(order, k)
		latest[k] = r
		return nil
	})
	for _, k := range order {
		if err := fn(latest[k]); err != nil {
			return err
		}
	}
	return nil
}

// The state rebuilt from a compacted log equals the one from the full log.
func TestLoadAfterCompaction(t *testing.T) {
	h := newHarness(t, testConfig())
	ids, gen := h.stableGroup("g", 3)
	for i := range 5 {
		commitCode(h, 9, "g", ids[i%3], gen, "t1", int32(i%2), int64(i))
	}
	commitCode(h, 9, "s", "", -1, "t", 0, 1)
	dg := kmsg.NewPtrDeleteGroupsRequest()
	dg.Groups = []string{"s"}
	h.do(dg)
	c2 := newCoordinator(h.cfg, compactingStore{h.store}, nil, h.clk)
	defer c2.Close()
	for p := range h.cfg.NumPartitions {
		if err := c2.Load(p); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range []string{"g", "s"} {
		a, _ := h.c.CommittedOffsets(id)
		b, _ := c2.CommittedOffsets(id)
		if len(a) != len(b) || len(a["t1"]) != len(b["t1"]) || a["t1"][0] != b["t1"][0] || a["t1"][1] != b["t1"][1] {
			t.Fatalf("%s: %v vs %v", id, a, b)
		}
	}
	d1 := describe(h, 5, "g")[0]
	r, _ := c2.Handle(context.Background(), &kmsg.DescribeGroupsRequest{Version: 5, Groups: []string{"g"}})
	d2 := r.(*kmsg.DescribeGroupsResponse).Groups[0]
	if d1.State != d2.State || len(d1.Members) != len(d2.Members) || !bytes.Equal(d1.Members[2].MemberAssignment, d2.Members[2].MemberAssignment) {
		t.Fatalf("%+v vs %+v", d1, d2)
	}
}

func BenchmarkOffsetCommit(b *testing.B) {
	c := newCoordinator(testConfig(), NewMemStore(), nil, newFakeClock())
	defer c.Close()
	for p := range int32(3) {
		_ = c.Load(p)
	}
	req := commitReq(9, "g", "", -1, "t", 0, 1)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Handle(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
}
