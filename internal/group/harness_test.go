package group

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// fakeClock fires timers only when a test advances it, on the advancing
// goroutine, in deadline order.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
}

type fakeTimer struct {
	c       *fakeClock
	at      time.Time
	f       func()
	stopped bool
	fired   bool
}

func (t *fakeTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	was := !t.stopped && !t.fired
	t.stopped = true
	return was
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) AfterFunc(d time.Duration, f func()) stopper {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{c: c, at: c.now.Add(d), f: f}
	c.timers = append(c.timers, t)
	return t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	target := c.now.Add(d)
	c.mu.Unlock()
	for {
		c.mu.Lock()
		var next *fakeTimer
		live := c.timers[:0]
		for _, t := range c.timers {
			if t.stopped || t.fired {
				continue
			}
			live = append(live, t)
			if !t.at.After(target) && (next == nil || t.at.Before(next.at)) {
				next = t
			}
		}
		c.timers = live
		if next == nil {
			c.now = target
			c.mu.Unlock()
			return
		}
		if next.at.After(c.now) {
			c.now = next.at
		}
		next.fired = true
		c.mu.Unlock()
		next.f()
	}
}

type harness struct {
	t     *testing.T
	cfg   Config
	store *MemStore
	clk   *fakeClock
	c     *Coordinator
}

func testConfig() Config {
	cfg := DefaultConfig()
	cfg.NumPartitions = 3
	cfg.InitialRebalanceDelay = 0
	return cfg
}

func newHarness(t *testing.T, cfg Config) *harness {
	t.Helper()
	h := &harness{t: t, cfg: cfg, store: NewMemStore(), clk: newFakeClock()}
	h.restart()
	return h
}

// restart replaces the coordinator with a fresh one over the same store
// and loads every partition, as after a broker restart.
func (h *harness) restart() {
	h.t.Helper()
	if h.c != nil {
		h.c.Close()
	}
	h.c = newCoordinator(h.cfg, h.store, nil, h.clk)
	h.t.Cleanup(h.c.Close)
	for p := range h.cfg.NumPartitions {
		if err := h.c.Load(p); err != nil {
			h.t.Fatalf("Load(%d): %v", p, err)
		}
	}
}

func (h *harness) do(req kmsg.Request) kmsg.Response {
	h.t.Helper()
	resp, err := h.c.Handle(context.Background(), req)
	if err != nil {
		h.t.Fatalf("Handle(%T): %v", req, err)
	}
	checkEncodes(h.t, req, resp)
	return resp
}

// checkEncodes verifies the response has the request's version and
// survives encoding and decoding at that version, as the server will do.
func checkEncodes(t *testing.T, req kmsg.Request, resp kmsg.Response) {
	t.Helper()
	if resp.GetVersion() != req.GetVersion() {
		t.Errorf("response version %d for request version %d", resp.GetVersion(), req.GetVersion())
	}
	back := req.ResponseKind()
	back.SetVersion(resp.GetVersion())
	if err := back.ReadFrom(resp.AppendTo(nil)); err != nil {
		t.Errorf("%T v%d does not round-trip: %v", resp, resp.GetVersion(), err)
	}
}

// async sends req from its own goroutine, as the server does.
func (h *harness) async(req kmsg.Request) <-chan kmsg.Response {
	ch := make(chan kmsg.Response, 1)
	go func() {
		resp, err := h.c.Handle(context.Background(), req)
		if err != nil {
			h.t.Errorf("Handle(%T): %v", req, err)
		} else {
			checkEncodes(h.t, req, resp)
		}
		ch <- resp
	}()
	return ch
}

func recv[T kmsg.Response](t *testing.T, ch <-chan kmsg.Response) T {
	t.Helper()
	select {
	case r := <-ch:
		return r.(T)
	case <-time.After(10 * time.Second):
		t.Fatal("no response")
		panic("unreachable")
	}
}

func noResponse(t *testing.T, ch <-chan kmsg.Response) {
	t.Helper()
	select {
	case r := <-ch:
		t.Fatalf("unexpected response %+v", r)
	default:
	}
}

// inspect runs f with the group locked; it fails the test if the group
// does not exist.
func (h *harness) inspect(id string, f func(g *group)) {
	h.t.Helper()
	g, code := h.c.lookup(id, false)
	if code != 0 || g == nil {
		h.t.Fatalf("group %q: code %d", id, code)
	}
	defer g.mu.Unlock()
	f(g)
}

func (h *harness) state(id string) string {
	var s string
	h.inspect(id, func(g *group) { s = g.state.String() })
	return s
}

// waitAwaiting waits until n members of the group wait in JoinGroup (or, if
// sync, in SyncGroup); requests are sent from goroutines.
func (h *harness) waitAwaiting(id string, n int, sync bool) {
	h.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := 0
		if g, code := h.c.lookup(id, false); code == 0 && g != nil {
			for _, m := range g.members {
				if (!sync && m.joinCh != nil) || (sync && m.syncCh != nil) {
					got++
				}
			}
			g.mu.Unlock()
		}
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("group %q: %d members awaiting, want %d", id, got, n)
		}
		time.Sleep(time.Millisecond)
	}
}

func consumerMeta(topics ...string) []byte {
	m := kmsg.NewConsumerMemberMetadata()
	m.Topics = topics
	return m.AppendTo(nil)
}

type proto struct {
	name string
	meta []byte
}

func joinReq(version int16, groupID, memberID string, instance *string, protos ...proto) *kmsg.JoinGroupRequest {
	r := kmsg.NewPtrJoinGroupRequest()
	r.SetVersion(version)
	r.Group = groupID
	r.MemberID = memberID
	r.InstanceID = instance
	r.SessionTimeoutMillis = 10000
	r.RebalanceTimeoutMillis = 20000
	r.ProtocolType = "consumer"
	if len(protos) == 0 {
		protos = []proto{{"range", consumerMeta("t1")}}
	}
	for _, p := range protos {
		r.Protocols = append(r.Protocols, kmsg.JoinGroupRequestProtocol{Name: p.name, Metadata: p.meta})
	}
	return r
}

func syncReq(groupID, memberID string, gen int32, assign map[string][]byte) *kmsg.SyncGroupRequest {
	r := kmsg.NewPtrSyncGroupRequest()
	r.SetVersion(5)
	r.Group, r.MemberID, r.Generation = groupID, memberID, gen
	keys := make([]string, 0, len(assign))
	for k := range assign {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		r.GroupAssignment = append(r.GroupAssignment, kmsg.SyncGroupRequestGroupAssignment{MemberID: k, MemberAssignment: assign[k]})
	}
	return r
}

func hbReq(groupID, memberID string, gen int32, instance *string) *kmsg.HeartbeatRequest {
	r := kmsg.NewPtrHeartbeatRequest()
	r.SetVersion(4)
	r.Group, r.MemberID, r.Generation, r.InstanceID = groupID, memberID, gen, instance
	return r
}

func (h *harness) heartbeat(groupID, memberID string, gen int32) int16 {
	h.t.Helper()
	return h.do(hbReq(groupID, memberID, gen, nil)).(*kmsg.HeartbeatResponse).ErrorCode
}

// memberID performs the KIP-394 round trip and returns the member id.
func (h *harness) memberID(groupID string) string {
	h.t.Helper()
	r := h.do(joinReq(9, groupID, "", nil)).(*kmsg.JoinGroupResponse)
	if r.ErrorCode != 79 || r.MemberID == "" {
		h.t.Fatalf("first join: error %d member %q, want MEMBER_ID_REQUIRED", r.ErrorCode, r.MemberID)
	}
	return r.MemberID
}

// stableGroup forms a group of n dynamic members (no initial delay), one
// rebalance per joiner, and returns their ids (leader first) and the
// generation. Every member subscribes to t1.
func (h *harness) stableGroup(groupID string, n int) ([]string, int32) {
	h.t.Helper()
	var ids []string
	var gen int32
	for range n {
		ids = append(ids, h.memberID(groupID))
		newest := ids[len(ids)-1]
		chans := []<-chan kmsg.Response{h.async(joinReq(9, groupID, newest, nil))}
		if len(ids) > 1 {
			// The newcomer starts the rebalance; then the others rejoin
			// (a follower rejoining a Stable group would just get the
			// current generation back).
			h.waitAwaiting(groupID, 1, false)
			for _, id := range ids[:len(ids)-1] {
				chans = append(chans, h.async(joinReq(9, groupID, id, nil)))
			}
		}
		for _, ch := range chans {
			jr := recv[*kmsg.JoinGroupResponse](h.t, ch)
			if jr.ErrorCode != 0 {
				h.t.Fatalf("join: error %d", jr.ErrorCode)
			}
			if jr.LeaderID != ids[0] {
				h.t.Fatalf("leader %q, want first joiner %q", jr.LeaderID, ids[0])
			}
			gen = jr.Generation
		}
		h.syncAll(groupID, ids, gen)
	}
	return ids, gen
}

// syncAll sends SyncGroup for followers, then the leader (ids[0]) with an
// assignment naming each member, and checks everyone gets theirs.
func (h *harness) syncAll(groupID string, ids []string, gen int32) {
	h.t.Helper()
	assign := make(map[string][]byte)
	for _, id := range ids {
		assign[id] = []byte("assign-" + id)
	}
	var chans []<-chan kmsg.Response
	for _, id := range ids[1:] {
		chans = append(chans, h.async(syncReq(groupID, id, gen, nil)))
	}
	h.waitAwaiting(groupID, len(ids)-1, true)
	lr := h.do(syncReq(groupID, ids[0], gen, assign)).(*kmsg.SyncGroupResponse)
	if lr.ErrorCode != 0 || string(lr.MemberAssignment) != "assign-"+ids[0] {
		h.t.Fatalf("leader sync: error %d assignment %q", lr.ErrorCode, lr.MemberAssignment)
	}
	for i, ch := range chans {
		sr := recv[*kmsg.SyncGroupResponse](h.t, ch)
		if sr.ErrorCode != 0 || string(sr.MemberAssignment) != "assign-"+ids[i+1] {
			h.t.Fatalf("follower sync: error %d assignment %q", sr.ErrorCode, sr.MemberAssignment)
		}
	}
}
