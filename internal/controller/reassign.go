package controller

import (
	"errors"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/quillstream/quill/internal/metadata"
)

// Partition reassignments, KIP-455 (AlterPartitionReassignments and
// ListPartitionReassignments). A reassignment to target replicas makes the
// partition's replicas the union target + (original - target), recording
// the adding and removing replicas in the metadata log. The adding brokers
// create the partition and follow the leader; once every adding replica is
// in the ISR the active controller completes the move: replicas = target,
// the removing replicas leave the replicas and the ISR, a leader that is
// being removed gives way to the first in-sync target replica, and the
// leader epoch is bumped (Kafka bumps it whenever replicas leave). Every
// step is a record, so a new active controller finishes what the previous
// one started. Cancelling reverts to the original replicas.

// Reassignment is one partition's requested reassignment; Replicas nil
// cancels the one in flight.
type Reassignment struct {
	Topic     string
	Partition int32
	Replicas  []int32
}

// ReassignmentStatus is an in-flight reassignment.
type ReassignmentStatus struct {
	Topic     string
	Partition int32
	Replicas  []int32 // the union of the original and the target replicas
	Adding    []int32
	Removing  []int32
}

// AlterPartitionReassignments starts, replaces or cancels reassignments.
// allowRFChange false (request v1) refuses a target whose size differs
// from the original replica count. Each result is nil or an *Error:
// UNKNOWN_TOPIC_OR_PARTITION, INVALID_REPLICA_ASSIGNMENT,
// INVALID_REPLICATION_FACTOR, NO_REASSIGNMENT_IN_PROGRESS, or the commit's
// error (NOT_CONTROLLER, REQUEST_TIMED_OUT).
func (c *Controller) AlterPartitionReassignments(reqs []Reassignment, allowRFChange bool) []error {
	for try := 0; ; try++ {
		errs, err := c.alterReassignments(reqs, allowRFChange)
		if errors.Is(err, errConflict) && try < 5 {
			continue
		}
		if err != nil {
			for i := range errs {
				if errs[i] == nil {
					errs[i] = commitError(err)
				}
			}
		}
		return errs
	}
}

type tpKey struct {
	topic     string
	partition int32
}

func (c *Controller) alterReassignments(reqs []Reassignment, allowRFChange bool) ([]error, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	img := c.image.Load()
	errs := make([]error, len(reqs))
	cur := map[tpKey]metadata.Partition{}
	var order []tpKey
	for i, r := range reqs {
		t := img.Topics[r.Topic]
		if t == nil || r.Partition < 0 || int(r.Partition) >= len(t.Partitions) {
			errs[i] = fail(kerr.UnknownTopicOrPartition, "unknown partition %s-%d", r.Topic, r.Partition)
			continue
		}
		k := tpKey{r.Topic, r.Partition}
		p, seen := cur[k]
		if !seen {
			p = t.Partitions[r.Partition]
		}
		var np metadata.Partition
		if r.Replicas == nil {
			if !p.Reassigning() {
				errs[i] = fail(kerr.NoReassignmentInProgress, "%s-%d: no reassignment in progress", r.Topic, r.Partition)
				continue
			}
			np = revertReassignment(img, p)
			c.log.Info("controller: reassignment cancelled", "topic", r.Topic, "partition", r.Partition, "replicas", np.Replicas)
		} else {
			if err := checkReassignTarget(img, r.Topic, r.Partition, r.Replicas); err != nil {
				errs[i] = err
				continue
			}
			if orig := p.OriginalReplicas(); !allowRFChange && len(orig) != len(r.Replicas) {
				errs[i] = fail(kerr.InvalidReplicationFactor, "%s-%d: the reassignment changes the replication factor from %d to %d",
					r.Topic, r.Partition, len(orig), len(r.Replicas))
				continue
			}
			switch {
			case p.Reassigning() && slices.Equal(p.TargetReplicas(), r.Replicas):
				np = p // the move in flight already goes there
			case p.Reassigning():
				np = startReassignment(img, revertReassignment(img, p), r.Replicas)
			default:
				np = startReassignment(img, p, r.Replicas)
			}
			c.log.Info("controller: reassignment started", "topic", r.Topic, "partition", r.Partition,
				"target", r.Replicas, "adding", np.AddingReplicas, "removing", np.RemovingReplicas)
		}
		cur[k] = np
		if !seen {
			order = append(order, k)
		}
	}
	var recs []metadata.Record
	for _, k := range order {
		t := img.Topics[k.topic]
		old, np := t.Partitions[k.partition], cur[k]
		if samePartition(old, np) {
			continue
		}
		recs = append(recs, reassignRecord(t, old, np))
	}
	return errs, c.commitAt(img.Offset, recs)
}

// checkReassignTarget validates target replicas: not empty, no duplicates,
// only registered, unfenced brokers.
func checkReassignTarget(img *metadata.Image, topic string, partition int32, target []int32) error {
	if len(target) == 0 {
		return fail(kerr.InvalidReplicaAssignment, "%s-%d: the target replica list is empty", topic, partition)
	}
	for i, r := range target {
		if slices.Contains(target[:i], r) {
			return fail(kerr.InvalidReplicaAssignment, "%s-%d: broker %d appears twice in the target replicas", topic, partition, r)
		}
		b := img.Brokers[r]
		if b == nil {
			return fail(kerr.InvalidReplicaAssignment, "%s-%d: broker %d is not registered", topic, partition, r)
		}
		if b.Fenced {
			return fail(kerr.InvalidReplicaAssignment, "%s-%d: broker %d is fenced", topic, partition, r)
		}
	}
	return nil
}

// startReassignment moves p (with no reassignment in flight) towards
// target, completing at once when nothing needs to be copied.
func startReassignment(img *metadata.Image, p metadata.Partition, target []int32) metadata.Partition {
	orig := p.Replicas
	adding := without(target, orig)
	removing := without(orig, target)
	np := p
	np.AddingReplicas, np.RemovingReplicas = adding, removing
	np.Replicas = append(slices.Clone(target), removing...)
	np.ISR = inOrder(np.Replicas, p.ISR)
	if len(adding) == 0 && len(removing) == 0 {
		np.AddingReplicas, np.RemovingReplicas = nil, nil // a new order only
		return np
	}
	if done, ok := completeReassignment(img, np); ok {
		return done
	}
	return np
}

// completeReassignment finishes p's reassignment when every adding replica
// is in the ISR and an in-sync target replica can lead.
func completeReassignment(img *metadata.Image, p metadata.Partition) (metadata.Partition, bool) {
	if !p.Reassigning() {
		return p, false
	}
	isr := without(p.ISR, p.RemovingReplicas)
	if len(isr) == 0 {
		return p, false
	}
	for _, r := range p.AddingReplicas {
		if !slices.Contains(isr, r) {
			return p, false
		}
	}
	np := p
	np.Replicas = p.TargetReplicas()
	np.ISR = inOrder(np.Replicas, isr)
	np.AddingReplicas, np.RemovingReplicas = nil, nil
	if !slices.Contains(np.ISR, np.Leader) || !live(img, np.Leader) {
		np.Leader = -1
		for _, r := range np.Replicas {
			if slices.Contains(np.ISR, r) && live(img, r) {
				np.Leader = r
				break
			}
		}
		if np.Leader < 0 {
			return p, false // wait for an in-sync target replica to be live
		}
	}
	if np.Leader != p.Leader || len(p.RemovingReplicas) > 0 {
		np.LeaderEpoch++
	}
	return np, true
}

// revertReassignment cancels p's reassignment: the adding replicas leave
// the replicas and the ISR. If no original replica is left in the ISR, the
// first live original replica leads alone (Kafka's revert does the same
// unclean election).
func revertReassignment(img *metadata.Image, p metadata.Partition) metadata.Partition {
	np := p
	np.Replicas = p.OriginalReplicas()
	np.ISR = inOrder(np.Replicas, without(p.ISR, p.AddingReplicas))
	np.AddingReplicas, np.RemovingReplicas = nil, nil
	if !slices.Contains(np.ISR, np.Leader) {
		np.Leader = -1
		for _, r := range np.Replicas {
			if slices.Contains(np.ISR, r) && live(img, r) {
				np.Leader = r
				break
			}
		}
	}
	if len(np.ISR) == 0 {
		for _, r := range np.Replicas {
			if live(img, r) {
				np.Leader, np.ISR = r, []int32{r}
				break
			}
		}
	}
	if np.Leader != p.Leader || len(p.AddingReplicas) > 0 {
		np.LeaderEpoch++
	}
	return np
}

// completeReassignments is the active controller's step: it completes every
// reassignment whose adding replicas have caught up.
func (c *Controller) completeReassignments() {
	c.mu.Lock()
	defer c.mu.Unlock()
	img := c.image.Load()
	var recs []metadata.Record
	for _, t := range img.SortedTopics() {
		for _, p := range t.Partitions {
			np, ok := completeReassignment(img, p)
			if !ok {
				continue
			}
			recs = append(recs, reassignRecord(t, p, np))
			c.log.Info("controller: reassignment completed", "topic", t.Name, "partition", p.ID,
				"replicas", np.Replicas, "isr", np.ISR, "leader", np.Leader, "leaderEpoch", np.LeaderEpoch)
		}
	}
	if err := c.commitAt(img.Offset, recs); err != nil && !errors.Is(err, errConflict) && !errors.Is(err, errNotController) {
		c.log.Warn("controller: reassignment completion not committed", "err", err)
	}
}

// ListPartitionReassignments returns the in-flight reassignments, of every
// partition (parts nil) or of the named ones, ordered by topic and
// partition. Unknown topics and partitions are left out, as Kafka does.
func (c *Controller) ListPartitionReassignments(parts TopicPartitions) []ReassignmentStatus {
	img := c.image.Load()
	var out []ReassignmentStatus
	add := func(t *metadata.Topic, p metadata.Partition) {
		if p.Reassigning() {
			out = append(out, ReassignmentStatus{Topic: t.Name, Partition: p.ID, Replicas: slices.Clone(p.Replicas),
				Adding: slices.Clone(p.AddingReplicas), Removing: slices.Clone(p.RemovingReplicas)})
		}
	}
	if parts == nil {
		for _, t := range img.SortedTopics() {
			for _, p := range t.Partitions {
				add(t, p)
			}
		}
		return out
	}
	for topic, ids := range parts {
		t := img.Topics[topic]
		if t == nil {
			continue
		}
		for _, id := range slices.Compact(slices.Sorted(slices.Values(ids))) {
			if id >= 0 && int(id) < len(t.Partitions) {
				add(t, t.Partitions[id])
			}
		}
	}
	slices.SortFunc(out, func(a, b ReassignmentStatus) int {
		if c := strings.Compare(a.Topic, b.Topic); c != 0 {
			return c
		}
		return int(a.Partition - b.Partition)
	})
	return out
}

// reassignRecord is the record that takes partition old to np; it always
// carries the reassignment state (empty when none is in flight).
func reassignRecord(t *metadata.Topic, old, np metadata.Partition) metadata.Record {
	rs := np.ReassignmentState()
	if rs == nil {
		rs = &metadata.ReassignmentState{}
	}
	return metadata.Record{Partition: &metadata.PartitionRecord{TopicID: t.ID, Partition: old.ID,
		Replicas: np.Replicas, ISR: np.ISR, Leader: np.Leader, LeaderEpoch: np.LeaderEpoch,
		PartitionEpoch: old.PartitionEpoch + 1, Reassignment: rs}}
}

func samePartition(a, b metadata.Partition) bool {
	return slices.Equal(a.Replicas, b.Replicas) && slices.Equal(a.ISR, b.ISR) && a.Leader == b.Leader &&
		a.LeaderEpoch == b.LeaderEpoch && slices.Equal(a.AddingReplicas, b.AddingReplicas) &&
		slices.Equal(a.RemovingReplicas, b.RemovingReplicas)
}

func live(img *metadata.Image, id int32) bool {
	b := img.Brokers[id]
	return b != nil && !b.Fenced
}

// without returns the members of xs not in ys, in xs's order.
func without(xs, ys []int32) []int32 {
	var out []int32
	for _, x := range xs {
		if !slices.Contains(ys, x) {
			out = append(out, x)
		}
	}
	return out
}

// inOrder returns the members of set in the order of replicas.
func inOrder(replicas, set []int32) []int32 {
	out := []int32{}
	for _, r := range replicas {
		if slices.Contains(set, r) {
			out = append(out, r)
		}
	}
	return out
}
