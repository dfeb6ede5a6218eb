package group

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestConcurrentMembers runs consumer-like loops against one group while
// time advances underneath them: members join, sync, heartbeat, commit,
// leave and get expired. Every assignment a member receives must be the one
// the leader of that generation wrote for it, and nothing may deadlock.
func TestConcurrentMembers(t *testing.T) {
	h := newHarness(t, testConfig())
	const members, rounds = 6, 15
	var stop atomic.Bool
	var clockWG sync.WaitGroup
	clockWG.Add(1)
	go func() {
		defer clockWG.Done()
		for !stop.Load() {
			h.clk.Advance(time.Second)
			time.Sleep(200 * time.Microsecond)
		}
	}()
	call := func(req kmsg.Request) kmsg.Response {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		resp, err := h.c.Handle(ctx, req)
		if err != nil {
			t.Errorf("Handle(%T): %v", req, err)
			return nil
		}
		return resp
	}
	var wg sync.WaitGroup
	for i := range members {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(i), 1))
			var inst *string
			if i%2 == 0 {
				inst = strp(fmt.Sprintf("inst-%d", i))
			}
			memberID := ""
			for done := 0; done < rounds && !t.Failed(); {
				jr, _ := call(joinReq(9, "g", memberID, inst)).(*kmsg.JoinGroupResponse)
				if jr == nil {
					return
				}
				if jr.ErrorCode == kerr.MemberIDRequired.Code {
					memberID = jr.MemberID
					continue
				}
				if jr.ErrorCode != 0 {
					memberID = ""
					continue
				}
				memberID = jr.MemberID
				assign := map[string][]byte{}
				for _, m := range jr.Members {
					assign[m.MemberID] = fmt.Appendf(nil, "%d/%s", jr.Generation, m.MemberID)
				}
				if jr.SkipAssignment {
					assign = nil
				}
				sr, _ := call(syncReq("g", memberID, jr.Generation, assign)).(*kmsg.SyncGroupResponse)
				if sr == nil {
					return
				}
				if sr.ErrorCode != 0 {
					continue
				}
				if want := fmt.Sprintf("%d/%s", jr.Generation, memberID); string(sr.MemberAssignment) != want && !jr.SkipAssignment {
					// A static leader that skipped assignment keeps
					// whatever its previous generation gave it.
					t.Errorf("member %d got assignment %q, want %q", i, sr.MemberAssignment, want)
					return
				}
				done++
				for range rng.IntN(4) {
					hr, _ := call(hbReq("g", memberID, jr.Generation, inst)).(*kmsg.HeartbeatResponse)
					if hr == nil || hr.ErrorCode != 0 {
						break
					}
					call(commitReq(7, "g", memberID, jr.Generation, "t1", int32(i), int64(done)))
				}
				if rng.IntN(4) == 0 {
					l := kmsg.NewPtrLeaveGroupRequest()
					l.SetVersion(5)
					l.Group = "g"
					l.Members = []kmsg.LeaveGroupRequestMember{{MemberID: memberID, InstanceID: inst}}
					call(l)
					memberID = ""
				}
			}
		}()
	}
	wg.Wait()
	stop.Store(true)
	clockWG.Wait()
	h.inspect("g", func(g *group) {
		t.Logf("final generation %d, state %s, %d members", g.generation, g.state, len(g.members))
		if g.generation < rounds {
			t.Errorf("only %d generations", g.generation)
		}
	})
}
