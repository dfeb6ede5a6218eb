package controller

import (
	"errors"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/quillstream/quill/internal/metadata"
)

// TopicPartitions names partitions by topic.
type TopicPartitions map[string][]int32

// ElectLeaders runs leader elections (the ElectLeaders API, KIP-460):
// preferred makes each partition's first replica its leader when it is
// live and in the ISR; unclean elects any live replica for a partition
// without a live leader, at the cost of what it lacks. parts nil means
// every partition. Each result is nil or an *Error: ELECTION_NOT_NEEDED,
// PREFERRED_LEADER_NOT_AVAILABLE, ELIGIBLE_LEADERS_NOT_AVAILABLE,
// UNKNOWN_TOPIC_OR_PARTITION.
func (c *Controller) ElectLeaders(unclean bool, parts TopicPartitions) map[string]map[int32]error {
	for try := 0; ; try++ {
		out, err := c.electLeaders(unclean, parts)
		if errors.Is(err, errConflict) && try < 5 {
			continue
		}
		if err != nil {
			for t, ps := range out {
				for p, e := range ps {
					if e == nil {
						out[t][p] = commitError(err)
					}
				}
			}
		}
		return out
	}
}

func (c *Controller) electLeaders(unclean bool, parts TopicPartitions) (map[string]map[int32]error, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	img := c.image.Load()
	if parts == nil {
		parts = TopicPartitions{}
		for _, t := range img.Topics {
			for _, p := range t.Partitions {
				parts[t.Name] = append(parts[t.Name], p.ID)
			}
		}
	}
	live := func(id int32) bool {
		b := img.Brokers[id]
		return b != nil && !b.Fenced
	}
	out := map[string]map[int32]error{}
	var recs []metadata.Record
	for topic, ids := range parts {
		out[topic] = map[int32]error{}
		t := img.Topics[topic]
		for _, id := range ids {
			if t == nil || id < 0 || int(id) >= len(t.Partitions) {
				out[topic][id] = fail(kerr.UnknownTopicOrPartition, "unknown partition %s-%d", topic, id)
				continue
			}
			p := t.Partitions[id]
			leader, isr := int32(-1), p.ISR
			if !unclean {
				pref := p.Replicas[0]
				switch {
				case p.Leader == pref:
					out[topic][id] = fail(kerr.ElectionNotNeeded, "%s-%d: the preferred replica %d leads already", topic, id, pref)
					continue
				case !live(pref) || !slices.Contains(p.ISR, pref):
					out[topic][id] = fail(kerr.PreferredLeaderNotAvailable, "%s-%d: the preferred replica %d is not live and in the ISR", topic, id, pref)
					continue
				}
				leader = pref
			} else {
				if p.Leader >= 0 && live(p.Leader) {
					out[topic][id] = fail(kerr.ElectionNotNeeded, "%s-%d: broker %d leads", topic, id, p.Leader)
					continue
				}
				for _, r := range p.Replicas {
					if live(r) && slices.Contains(p.ISR, r) {
						leader = r
						break
					}
				}
				if leader < 0 {
					for _, r := range p.Replicas {
						if live(r) {
							leader, isr = r, []int32{r}
							c.log.Warn("controller: unclean leader election", "topic", topic, "partition", id, "leader", r)
							break
						}
					}
				}
				if leader < 0 {
					out[topic][id] = fail(kerr.EligibleLeadersNotAvailable, "%s-%d: no live replica", topic, id)
					continue
				}
			}
			out[topic][id] = nil
			recs = append(recs, metadata.Record{Partition: &metadata.PartitionRecord{TopicID: t.ID, Partition: id,
				Replicas: p.Replicas, ISR: isr, Leader: leader, LeaderEpoch: p.LeaderEpoch + 1, PartitionEpoch: p.PartitionEpoch + 1}})
		}
	}
	if err := c.commitAt(img.Offset, recs); err != nil {
		return out, err
	}
	if len(recs) > 0 {
		c.log.Info("controller: leaders elected", "partitions", len(recs), "unclean", unclean)
	}
	return out, nil
}
