package controller

import (
	"errors"
	"testing"
)

// Proposals made under a leader that is gone are answered NOT_CONTROLLER
// at once, not after proposeTimeout; those made under the new leader keep
// waiting (regression: a proposal forwarded to a controller that was cut
// off held Controller.mu for 15 s, and the new active controller fenced
// nothing meanwhile).
func TestLeaderChangeFailsStaleProposals(t *testing.T) {
	r := &raftNode{waits: map[uint64]pending{}}
	old, cur, none := make(chan error, 1), make(chan error, 1), make(chan error, 1)
	r.waits[1] = pending{ch: old, lead: 2}
	r.waits[2] = pending{ch: cur, lead: 3}
	r.waits[3] = pending{ch: none, lead: 0}
	r.failStale(3)
	for _, ch := range []chan error{old, none} {
		select {
		case err := <-ch:
			var e *Error
			if !errors.As(err, &e) || e.Kafka.Code != errLeaderChanged.Kafka.Code {
				t.Fatalf("stale proposal answered %v, want NOT_CONTROLLER", err)
			}
		default:
			t.Fatal("a proposal made under the old leader is still waiting")
		}
	}
	select {
	case err := <-cur:
		t.Fatalf("a proposal made under the new leader was answered %v", err)
	default:
	}
	if _, ok := r.waits[2]; !ok || len(r.waits) != 1 {
		t.Fatalf("waits after the change: %v", r.waits)
	}
}
