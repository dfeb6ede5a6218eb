package controller

import (
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/quillstream/quill/internal/metadata"
)

// A reassignment in an in-process quorum: validation, the union state in
// the log, completion by a new active controller after a failover once the
// adding replica joins the ISR, cancellation and immediate completions.
func TestReassignPartitions(t *testing.T) {
	q := newQuorum(t, 4, nil)
	l := q.leader()
	q.registered(l, 4)
	ctl := int32(l + 1) // the active controller's broker; it will be stopped
	var others []int32
	for id := int32(1); id <= 4; id++ {
		if id != ctl {
			others = append(others, id)
		}
	}
	a, b, c := others[0], others[1], others[2]
	if errs := q.nodes[l].CreateTopics([]TopicSpec{{Name: "r", Assignments: map[int32][]int32{0: {a, b}}}}, Defaults{}, false); errs[0] != nil {
		t.Fatal(errs[0])
	}
	q.allHave("r")
	part := func(i int) metadata.Partition { return q.nodes[i].Image().Topics["r"].Partitions[0] }
	p0 := part(l)

	check := func(errs []error, want ...*kerr.Error) {
		t.Helper()
		for i, w := range want {
			if got := kafkaErr(errs[i]); got != w {
				t.Errorf("request %d: got %v, want %v", i, errs[i], w)
			}
		}
	}
	check(q.nodes[l].AlterPartitionReassignments([]Reassignment{
		{Topic: "r", Partition: 0, Replicas: []int32{a, 99}},
		{Topic: "r", Partition: 0, Replicas: []int32{a, a}},
		{Topic: "r", Partition: 0, Replicas: []int32{}},
		{Topic: "r", Partition: 1, Replicas: []int32{a}},
		{Topic: "nope", Partition: 0, Replicas: []int32{a}},
		{Topic: "r", Partition: 0},
	}, true), kerr.InvalidReplicaAssignment, kerr.InvalidReplicaAssignment, kerr.InvalidReplicaAssignment,
		kerr.UnknownTopicOrPartition, kerr.UnknownTopicOrPartition, kerr.NoReassignmentInProgress)
	check(q.nodes[l].AlterPartitionReassignments([]Reassignment{{Topic: "r", Partition: 0, Replicas: []int32{b, c, a}}}, false),
		kerr.InvalidReplicationFactor)

	// [a b] -> [b c]: replicas [b c a], adding c, removing a.
	check(q.nodes[l].AlterPartitionReassignments([]Reassignment{{Topic: "r", Partition: 0, Replicas: []int32{b, c}}}, false), nil)
	p := part(l)
	if !slices.Equal(p.Replicas, []int32{b, c, a}) || !slices.Equal(p.AddingReplicas, []int32{c}) ||
		!slices.Equal(p.RemovingReplicas, []int32{a}) || p.LeaderEpoch != p0.LeaderEpoch {
		t.Fatalf("in flight: %+v", p)
	}
	// The same target again changes nothing.
	check(q.nodes[l].AlterPartitionReassignments([]Reassignment{{Topic: "r", Partition: 0, Replicas: []int32{b, c}}}, false), nil)
	if again := part(l); again.PartitionEpoch != p.PartitionEpoch {
		t.Fatalf("the same target rewrote the partition: %+v, was %+v", again, p)
	}
	if ls := q.nodes[l].ListPartitionReassignments(nil); len(ls) != 1 || ls[0].Topic != "r" || !slices.Equal(ls[0].Adding, []int32{c}) {
		t.Fatalf("list: %+v", ls)
	}
	if ls := q.nodes[l].ListPartitionReassignments(TopicPartitions{"r": {1}, "nope": {0}}); len(ls) != 0 {
		t.Fatalf("filtered list: %+v", ls)
	}

	// The active controller dies; its successor completes the move once
	// the leader reports c in sync.
	q.stop(l)
	l2 := q.leader()
	q.eventually("c joins the ISR", func() bool {
		p := part(l2)
		if !p.Reassigning() {
			return true
		}
		q.nodes[l2].AlterPartition("r", 0, p.Leader, p.LeaderEpoch, p.PartitionEpoch, append(slices.Clone(p.ISR), c))
		return false
	})
	q.eventually("reassignment completed", func() bool { return !part(l2).Reassigning() })
	p = part(l2)
	if !slices.Equal(p.Replicas, []int32{b, c}) || !slices.Equal(p.ISR, []int32{b, c}) || p.Leader != b || p.LeaderEpoch <= p0.LeaderEpoch {
		t.Fatalf("completed: %+v (before %+v)", p, p0)
	}
	if ls := q.nodes[l2].ListPartitionReassignments(nil); len(ls) != 0 {
		t.Fatalf("list after completion: %+v", ls)
	}

	// Cancel: [b c] -> [b a] is reverted to [b c].
	q.eventually("stopped broker fenced", func() bool { return q.nodes[l2].Image().Brokers[ctl].Fenced })
	check(q.nodes[l2].AlterPartitionReassignments([]Reassignment{{Topic: "r", Partition: 0, Replicas: []int32{b, ctl}}}, true),
		kerr.InvalidReplicaAssignment)
	check(q.nodes[l2].AlterPartitionReassignments([]Reassignment{{Topic: "r", Partition: 0, Replicas: []int32{b, a}}}, true), nil)
	if p := part(l2); !slices.Equal(p.Replicas, []int32{b, a, c}) {
		t.Fatalf("second reassignment: %+v", p)
	}
	before := part(l2)
	check(q.nodes[l2].AlterPartitionReassignments([]Reassignment{{Topic: "r", Partition: 0}}, true), nil)
	p = part(l2)
	if p.Reassigning() || !slices.Equal(p.Replicas, []int32{b, c}) || !slices.Equal(p.ISR, []int32{b, c}) || p.Leader != b || p.LeaderEpoch <= before.LeaderEpoch {
		t.Fatalf("cancelled: %+v", p)
	}
	check(q.nodes[l2].AlterPartitionReassignments([]Reassignment{{Topic: "r", Partition: 0}}, true), kerr.NoReassignmentInProgress)

	// A new order completes at once without a new leader epoch; dropping
	// the leader completes at once with a new leader.
	before = part(l2)
	check(q.nodes[l2].AlterPartitionReassignments([]Reassignment{{Topic: "r", Partition: 0, Replicas: []int32{c, b}}}, true), nil)
	if p := part(l2); p.Reassigning() || !slices.Equal(p.Replicas, []int32{c, b}) || p.Leader != b || p.LeaderEpoch != before.LeaderEpoch {
		t.Fatalf("reordered: %+v", p)
	}
	check(q.nodes[l2].AlterPartitionReassignments([]Reassignment{{Topic: "r", Partition: 0, Replicas: []int32{c}}}, true), nil)
	if p := part(l2); p.Reassigning() || !slices.Equal(p.Replicas, []int32{c}) || !slices.Equal(p.ISR, []int32{c}) || p.Leader != c || p.LeaderEpoch <= before.LeaderEpoch {
		t.Fatalf("shrunk: %+v", p)
	}
}
