package controller

import (
	"testing"
	"time"

	pb "go.etcd.io/raft/v3/raftpb"
)

// A proposal forwarded to a node that has just lost its leadership must
// not block the connection it arrived on: etcd raft takes proposals only
// while it knows a leader, and the node learns the next leader from
// messages on that same connection. Stepped inline, the reader hung for
// good (an old leader cut off by a network partition never rejoined after
// the cut healed; tests/e2e TestClusterNetcutChaos).
func TestForwardedProposalDoesNotBlockReader(t *testing.T) {
	q := newQuorum(t, 3, nil)
	l := q.leader()
	for i := range q.nodes {
		if i != l {
			q.stop(i)
		}
	}
	r := q.nodes[l].raft
	q.eventually("the lone node to lose its leadership", func() bool { return r.lead.Load() == 0 })

	from := uint64((l+1)%3) + 1
	msg := &pb.Message{Type: pb.MsgProp.Enum(), From: &from, To: new(uint64(l) + 1),
		Entries: []*pb.Entry{{Data: []byte("{}")}}}
	returned := make(chan struct{})
	go func() {
		r.tr.onRaft(msg)
		close(returned)
	}()
	select {
	case <-returned:
	case <-time.After(30 * time.Second): // a hang, not a slow step
		t.Fatal("stepping a forwarded proposal blocked the connection's reader")
	}
}
