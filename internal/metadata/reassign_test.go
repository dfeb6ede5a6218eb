package metadata

import (
	"slices"
	"testing"
)

// Records without reassignment state keep the state in flight; an empty
// one ends it; snapshots carry it.
func TestReassignmentStateInRecords(t *testing.T) {
	id := NewUUID()
	b := NewBuilder(Empty())
	apply := func(r Record) {
		t.Helper()
		dec, err := DecodeRecord(r.Encode())
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Apply(1, dec); err != nil {
			t.Fatal(err)
		}
	}
	apply(Record{Topic: &TopicRecord{Name: "t", ID: id}})
	apply(Record{Partition: &PartitionRecord{TopicID: id, Replicas: []int32{1, 2}, ISR: []int32{1, 2}, Leader: 1}})
	apply(Record{Partition: &PartitionRecord{TopicID: id, Replicas: []int32{2, 3, 1}, ISR: []int32{2, 1}, Leader: 1,
		Reassignment: &ReassignmentState{Adding: []int32{3}, Removing: []int32{1}}}})
	apply(Record{Partition: &PartitionRecord{TopicID: id, Replicas: []int32{2, 3, 1}, ISR: []int32{2, 3, 1}, Leader: 1}})
	img := b.Image()
	p := img.Topics["t"].Partitions[0]
	if !p.Reassigning() || !slices.Equal(p.TargetReplicas(), []int32{2, 3}) || !slices.Equal(p.OriginalReplicas(), []int32{2, 1}) {
		t.Fatalf("state lost: %+v", p)
	}
	snap, err := DecodeSnapshot(EncodeSnapshot(img))
	if err != nil {
		t.Fatal(err)
	}
	if q := snap.Topics["t"].Partitions[0]; !slices.Equal(q.AddingReplicas, []int32{3}) || !slices.Equal(q.RemovingReplicas, []int32{1}) {
		t.Fatalf("snapshot lost the state: %+v", q)
	}
	b = NewBuilder(img)
	apply(Record{Partition: &PartitionRecord{TopicID: id, Replicas: []int32{2, 3}, ISR: []int32{2, 3}, Leader: 2, LeaderEpoch: 1,
		Reassignment: &ReassignmentState{}}})
	if p := b.Image().Topics["t"].Partitions[0]; p.Reassigning() {
		t.Fatalf("not ended: %+v", p)
	}
	if rs := b.Image().Topics["t"].Partitions[0].ReassignmentState(); rs != nil {
		t.Fatalf("state %+v", rs)
	}
}
