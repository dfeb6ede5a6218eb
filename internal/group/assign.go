package group

import (
	"cmp"
	"slices"
)

// Server-side assignors of KIP-848 consumer groups (group.consumer.assignors):
//
//   - uniform (Kafka's default): every subscribed partition goes to one
//     subscriber, partition counts of members differ by at most one where
//     subscriptions allow it, and partitions stay with the member that has
//     them in the previous target assignment whenever that keeps the balance
//     (sticky). With different subscriptions, each partition goes to the
//     least loaded of its topic's subscribers, then partitions move from a
//     member to a subscriber of the same topic holding at least two fewer,
//     until none can.
//   - range: per topic, contiguous ranges of partitions over the topic's
//     subscribers in member id order (like the classic RangeAssignor).

// assignMember is one member as an assignor sees it.
type assignMember struct {
	id     string
	topics []string // subscribed topic names
	prev   tps      // the member's previous target assignment
}

// assignTopic is one subscribed topic that exists.
type assignTopic struct {
	id         [16]byte
	partitions int32
}

// assignFunc computes a target assignment: member id → partitions.
type assignFunc func(members []assignMember, topics map[string]assignTopic) map[string]tps

// assignorFor returns the assignor with Kafka's name, nil if unknown.
func assignorFor(name string) assignFunc {
	switch name {
	case "uniform":
		return assignUniform
	case "range":
		return assignRange
	}
	return nil
}

// preferredAssignor is the group's assignor, as Kafka picks it: the one
// most members ask for (ties: the smaller name), else def.
func (cg *consumerGroup) preferredAssignor(def string) string {
	votes := map[string]int{}
	for _, m := range cg.members {
		if m.assignor != nil {
			votes[*m.assignor]++
		}
	}
	best := ""
	for name, n := range votes {
		if best == "" || n > votes[best] || n == votes[best] && name < best {
			best = name
		}
	}
	if best == "" {
		return def
	}
	return best
}

func defaultAssignor(names []string) string {
	if len(names) > 0 {
		return names[0]
	}
	return "uniform"
}

func assignRange(members []assignMember, topics map[string]assignTopic) map[string]tps {
	out := make(map[string]tps, len(members))
	bySub := map[string][]string{}
	for _, m := range members {
		out[m.id] = tps{}
		for _, t := range m.topics {
			bySub[t] = append(bySub[t], m.id)
		}
	}
	for t, ids := range bySub {
		ti, ok := topics[t]
		if !ok || ti.partitions <= 0 {
			continue
		}
		slices.Sort(ids)
		per, extra := int(ti.partitions)/len(ids), int(ti.partitions)%len(ids)
		p := int32(0)
		for i, id := range ids {
			n := per
			if i < extra {
				n++
			}
			for range n {
				out[id].add(ti.id, p)
				p++
			}
		}
	}
	return out
}

type tp struct {
	topic string
	id    [16]byte
	p     int32
}

func assignUniform(members []assignMember, topics map[string]assignTopic) map[string]tps {
	members = slices.Clone(members)
	slices.SortFunc(members, func(a, b assignMember) int { return cmp.Compare(a.id, b.id) })
	subs := make(map[string]map[string]bool, len(members)) // member → topics
	subscribers := map[string][]string{}                   // topic → members, sorted
	for _, m := range members {
		s := make(map[string]bool, len(m.topics))
		for _, t := range m.topics {
			if _, ok := topics[t]; ok && !s[t] {
				s[t] = true
				subscribers[t] = append(subscribers[t], m.id)
			}
		}
		subs[m.id] = s
	}
	owned := make(map[string][]tp, len(members)) // member → partitions, sorted
	owner := map[tp]string{}
	byID := map[[16]byte]string{}
	for name, t := range topics {
		byID[t.id] = name
	}
	// Homogeneous subscriptions get an exact quota: ceil for the first
	// `extra` members to keep their partitions, floor for the rest.
	total := 0
	for t := range subscribers {
		total += int(topics[t].partitions)
	}
	homogeneous := true
	for _, m := range members[min(1, len(members)):] {
		if !mapsEqual(subs[m.id], subs[members[0].id]) {
			homogeneous = false
		}
	}
	quota := func(int) int { return total } // no cap: balance afterwards
	if homogeneous && len(members) > 0 {
		q, extra := total/len(members), total%len(members)
		quota = func(already int) int {
			if already < extra {
				return q + 1
			}
			return q
		}
	}
	// 1. Sticky: keep previous partitions that still exist and are still
	// subscribed, up to the quota.
	full := 0 // homogeneous members already holding q+1
	for _, m := range members {
		var keep []tp
		for _, id := range m.prev.sortedTopics() {
			name, ok := byID[id]
			if !ok || !subs[m.id][name] {
				continue
			}
			for _, p := range m.prev.sortedPartitions(id) {
				k := tp{name, id, p}
				if p < topics[name].partitions && owner[k] == "" {
					keep = append(keep, k)
				}
			}
		}
		if limit := quota(full); len(keep) > limit {
			keep = keep[:limit]
		}
		if homogeneous && total%max(len(members), 1) != 0 && len(keep) == total/len(members)+1 {
			full++
		}
		for _, k := range keep {
			owner[k] = m.id
		}
		owned[m.id] = keep
	}
	// 2. Unassigned partitions, topics with the fewest subscribers first,
	// each to its least loaded subscriber.
	names := make([]string, 0, len(subscribers))
	for t := range subscribers {
		names = append(names, t)
	}
	slices.SortFunc(names, func(a, b string) int {
		if c := cmp.Compare(len(subscribers[a]), len(subscribers[b])); c != 0 {
			return c
		}
		return cmp.Compare(a, b)
	})
	least := func(cands []string) string {
		best := ""
		for _, id := range cands {
			if best == "" || len(owned[id]) < len(owned[best]) {
				best = id
			}
		}
		return best
	}
	for _, t := range names {
		ti := topics[t]
		for p := range ti.partitions {
			k := tp{t, ti.id, p}
			if owner[k] != "" {
				continue
			}
			m := least(subscribers[t])
			owner[k] = m
			owned[m] = append(owned[m], k)
		}
	}
	// 3. Balance: move partitions from a member to a subscriber of the same
	// topic holding at least two fewer, until no move is possible.
	for moves := 0; moves <= total; moves++ {
		moved := false
		order := slices.Clone(members)
		slices.SortStableFunc(order, func(a, b assignMember) int { return cmp.Compare(len(owned[b.id]), len(owned[a.id])) })
		for _, a := range order {
			ps := owned[a.id]
			for i := len(ps) - 1; i >= 0 && !moved; i-- {
				b := least(subscribers[ps[i].topic])
				if len(owned[b])+2 <= len(ps) {
					owned[b] = append(owned[b], ps[i])
					owned[a.id] = slices.Delete(ps, i, i+1)
					moved = true
				}
			}
			if moved {
				break
			}
		}
		if !moved {
			break
		}
	}
	out := make(map[string]tps, len(members))
	for _, m := range members {
		s := tps{}
		for _, k := range owned[m.id] {
			s.add(k.id, k.p)
		}
		out[m.id] = s
	}
	return out
}

func mapsEqual(a, b map[string]bool) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if !b[k] {
			return false
		}
	}
	return true
}
