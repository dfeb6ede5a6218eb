package metadata

import "slices"

// Partition reassignments (KIP-455): while one is in flight a partition's
// Replicas are the union of its target and original replicas, with the
// difference in AddingReplicas and RemovingReplicas. Records carry the
// state in the optional PartitionRecord.Reassignment.

// Reassigning says whether a reassignment is in flight.
func (p Partition) Reassigning() bool {
	return len(p.AddingReplicas) > 0 || len(p.RemovingReplicas) > 0
}

// TargetReplicas is where an in-flight reassignment moves the partition
// (Replicas without RemovingReplicas, in replica order), or Replicas.
func (p Partition) TargetReplicas() []int32 {
	return slices.DeleteFunc(slices.Clone(p.Replicas), func(r int32) bool { return slices.Contains(p.RemovingReplicas, r) })
}

// OriginalReplicas are the replicas before the reassignment (Replicas
// without AddingReplicas), where a cancellation returns.
func (p Partition) OriginalReplicas() []int32 {
	return slices.DeleteFunc(slices.Clone(p.Replicas), func(r int32) bool { return slices.Contains(p.AddingReplicas, r) })
}

// ReassignmentState returns the in-flight reassignment for a record, or
// nil when there is none.
func (p Partition) ReassignmentState() *ReassignmentState {
	if !p.Reassigning() {
		return nil
	}
	return &ReassignmentState{Adding: slices.Clone(p.AddingReplicas), Removing: slices.Clone(p.RemovingReplicas)}
}

// applyReassignment sets p's reassignment state from a record's: rs when
// present, otherwise the previous state of the partition.
func applyReassignment(p *Partition, prev Partition, rs *ReassignmentState) {
	if rs == nil {
		p.AddingReplicas, p.RemovingReplicas = prev.AddingReplicas, prev.RemovingReplicas
		return
	}
	p.AddingReplicas, p.RemovingReplicas = nil, nil
	if len(rs.Adding) > 0 {
		p.AddingReplicas = slices.Clone(rs.Adding)
	}
	if len(rs.Removing) > 0 {
		p.RemovingReplicas = slices.Clone(rs.Removing)
	}
}
