package group

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// A restarted coordinator over the same log restores offsets and the
// Stable group with its members, who carry on without a rebalance.
func TestLoadRestoresGroupsAndOffsets(t *testing.T) {
	h := newHarness(t, testConfig())
	ids, gen := h.stableGroup("g", 3)
	commitCode(h, 9, "g", ids[1], gen, "t1", 3, 300)
	commitCode(h, 9, "g", ids[1], gen, "t1", 3, 301)
	commitCode(h, 9, "simple", "", -1, "t", 0, 7)
	r := h.do(joinReq(9, "s", "", strp("inst"))).(*kmsg.JoinGroupResponse)
	h.syncAll("s", []string{r.MemberID}, r.Generation)
	before := describe(h, 5, "g", "s")

	h.restart()
	after := describe(h, 5, "g", "s")
	for i := range before {
		b, a := before[i], after[i]
		if a.State != "Stable" || a.Protocol != b.Protocol || a.ProtocolType != b.ProtocolType || len(a.Members) != len(b.Members) {
			t.Fatalf("group %s: before %+v after %+v", b.Group, b, a)
		}
		for j := range b.Members {
			bm, am := b.Members[j], a.Members[j]
			if am.MemberID != bm.MemberID || string(am.MemberAssignment) != string(bm.MemberAssignment) ||
				string(am.ProtocolMetadata) != string(bm.ProtocolMetadata) || (bm.InstanceID == nil) != (am.InstanceID == nil) {
				t.Fatalf("member %d: before %+v after %+v", j, bm, am)
			}
		}
	}
	for _, id := range ids {
		if code := h.heartbeat("g", id, gen); code != 0 {
			t.Fatalf("heartbeat after restart: %d", code)
		}
	}
	h.inspect("g", func(g *group) {
		if g.leader != ids[0] || g.generation != gen {
			t.Fatalf("leader %q generation %d", g.leader, g.generation)
		}
	})
	if off, epoch, md, _ := fetch(h, 9, "g", "t1", 3); off != 301 || epoch != 7 || md != "md" {
		t.Fatalf("offset after restart: %d %d %q", off, epoch, md)
	}
	if off, _, _, _ := fetch(h, 9, "simple", "t", 0); off != 7 {
		t.Fatalf("standalone offset after restart: %d", off)
	}
	// The static member restarts too and is recognised.
	r2 := h.do(joinReq(9, "s", "", strp("inst"))).(*kmsg.JoinGroupResponse)
	if r2.ErrorCode != 0 || r2.Generation != r.Generation || r2.MemberID == r.MemberID {
		t.Fatalf("static rejoin after restart: %+v", r2)
	}
	// Restored members who stay silent expire as usual.
	h.clk.Advance(10 * time.Second)
	if s := h.state("g"); s != "Empty" {
		t.Fatalf("state after silent members: %s", s)
	}
}

func TestLoadEmptiedGroup(t *testing.T) {
	h := newHarness(t, testConfig())
	ids, gen := h.stableGroup("g", 1)
	commitCode(h, 9, "g", ids[0], gen, "t1", 0, 1)
	leave := kmsg.NewPtrLeaveGroupRequest()
	leave.Group, leave.MemberID = "g", ids[0]
	h.do(leave)
	h.restart()
	g := describe(h, 5, "g")[0]
	if g.State != "Empty" || len(g.Members) != 0 || g.ProtocolType != "consumer" {
		t.Fatalf("emptied group after restart: %+v", g)
	}
	h.inspect("g", func(g *group) {
		if g.generation != gen+1 {
			t.Fatalf("generation %d", g.generation)
		}
	})
}

// blockingStore holds Replay until released.
type blockingStore struct {
	*MemStore
	release chan struct{}
}

func (s blockingStore) Replay(p int32, fn func(Record) error) error {
	<-s.release
	return s.MemStore.Replay(p, fn)
}

func TestLoadInProgressAndNotCoordinator(t *testing.T) {
	st := blockingStore{NewMemStore(), make(chan struct{})}
	c := newCoordinator(testConfig(), st, nil, newFakeClock())
	defer c.Close()
	hb := hbReq("g", "m", 1, nil)
	code := func() int16 {
		r, err := c.Handle(context.Background(), hb)
		if err != nil {
			t.Fatal(err)
		}
		return r.(*kmsg.HeartbeatResponse).ErrorCode
	}
	if got := code(); got != kerr.NotCoordinator.Code {
		t.Fatalf("before load: %d", got)
	}
	done := make(chan error)
	go func() { done <- c.Load(PartitionFor("g", 3)) }()
	deadline := time.Now().Add(5 * time.Second)
	for code() != kerr.CoordinatorLoadInProgress.Code {
		if time.Now().After(deadline) {
			t.Fatal("never loading")
		}
		time.Sleep(time.Millisecond)
	}
	close(st.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := code(); got != kerr.UnknownMemberID.Code {
		t.Fatalf("after load: %d", got)
	}
	if _, err := c.Handle(context.Background(), kmsg.NewPtrProduceRequest()); err == nil {
		t.Fatal("Produce served")
	}
}

func TestLoadCorruptRecord(t *testing.T) {
	st := NewMemStore()
	p := PartitionFor("g", 3)
	_ = st.Append(context.Background(), p, []Record{{Key: offsetKey("g", "t", 0), Value: []byte{0, 3, 1}}})
	c := newCoordinator(testConfig(), st, nil, newFakeClock())
	defer c.Close()
	err := c.Load(p)
	if !errors.Is(err, ErrCorruptRecord) {
		t.Fatalf("Load: %v", err)
	}
	r, _ := c.Handle(context.Background(), hbReq("g", "m", 1, nil))
	if r.(*kmsg.HeartbeatResponse).ErrorCode != kerr.NotCoordinator.Code {
		t.Fatal("partition served after a failed load")
	}
}
