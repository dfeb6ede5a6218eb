package group

import (
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func assignTopics(counts map[string]int32) map[string]assignTopic {
	out := map[string]assignTopic{}
	i := byte(1)
	for name, n := range counts {
		out[name] = assignTopic{id: [16]byte{i}, partitions: n}
		i++
	}
	return out
}

// checkAssignment: every subscribed partition is assigned exactly once, to
// a subscriber.
func checkAssignment(t *testing.T, members []assignMember, topics map[string]assignTopic, out map[string]tps) {
	t.Helper()
	seen := map[tp]string{}
	byID := map[[16]byte]string{}
	for name, ti := range topics {
		byID[ti.id] = name
	}
	for _, m := range members {
		subs := map[string]bool{}
		for _, t := range m.topics {
			subs[t] = true
		}
		out[m.id].each(func(id [16]byte, p int32) {
			name := byID[id]
			if !subs[name] {
				t.Fatalf("%s got %s-%d without subscribing", m.id, name, p)
			}
			k := tp{name, id, p}
			if o, dup := seen[k]; dup {
				t.Fatalf("%s-%d assigned to %s and %s", name, p, o, m.id)
			}
			seen[k] = m.id
		})
	}
	want := 0
	for name, ti := range topics {
		for _, m := range members {
			if contains(m.topics, name) {
				want += int(ti.partitions)
				break
			}
		}
	}
	if len(seen) != want {
		t.Fatalf("%d partitions assigned, want %d", len(seen), want)
	}
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

func spread(members []assignMember, out map[string]tps) (lo, hi int) {
	lo = 1 << 30
	for _, m := range members {
		n := out[m.id].size()
		lo, hi = min(lo, n), max(hi, n)
	}
	return lo, hi
}

// Homogeneous subscriptions: counts differ by at most one, and adding or
// removing a member moves only what balance requires.
func TestUniformAssignorBalanceAndStickiness(t *testing.T) {
	topics := assignTopics(map[string]int32{"a": 7, "b": 5, "c": 1})
	subs := []string{"a", "b", "c"}
	var members []assignMember
	prev := map[string]tps{}
	for n := 1; n <= 6; n++ {
		members = append(members, assignMember{id: fmt.Sprintf("m%d", n), topics: subs})
		for i := range members {
			members[i].prev = prev[members[i].id]
		}
		out := assignUniform(members, topics)
		checkAssignment(t, members, topics, out)
		if lo, hi := spread(members, out); hi-lo > 1 {
			t.Fatalf("%d members: counts %d..%d", n, lo, hi)
		}
		// Stickiness: each old member keeps min(its old count, its new
		// count) of its previous partitions, so only the surplus moves.
		moved := 0
		for _, m := range members {
			kept := out[m.id].filter(func(id [16]byte, p int32) bool { return m.prev.has(id, p) }).size()
			if want := min(m.prev.size(), out[m.id].size()); kept != want {
				t.Fatalf("%d members: %s kept %d of %d, want %d", n, m.id, kept, m.prev.size(), want)
			}
			moved += m.prev.size() - kept
		}
		if n > 1 && moved > 13/(n-1)+1 {
			t.Fatalf("%d members: %d partitions moved", n, moved)
		}
		prev = out
	}
	// Members leave: the rest keep everything they had.
	for len(members) > 1 {
		gone := members[0]
		members = members[1:]
		for i := range members {
			members[i].prev = prev[members[i].id]
		}
		out := assignUniform(members, topics)
		checkAssignment(t, members, topics, out)
		if lo, hi := spread(members, out); hi-lo > 1 {
			t.Fatalf("after %s left: counts %d..%d", gone.id, lo, hi)
		}
		for _, m := range members {
			if kept := out[m.id].filter(func(id [16]byte, p int32) bool { return m.prev.has(id, p) }).size(); kept != m.prev.size() {
				t.Fatalf("after %s left: %s kept %d of %d", gone.id, m.id, kept, m.prev.size())
			}
		}
		prev = out
	}
}

// Different subscriptions: every partition goes to a subscriber, and load
// evens out where subscriptions overlap.
func TestUniformAssignorHeterogeneous(t *testing.T) {
	topics := assignTopics(map[string]int32{"a": 6, "b": 6, "only": 3})
	members := []assignMember{
		{id: "m1", topics: []string{"a", "b"}},
		{id: "m2", topics: []string{"a", "b", "only"}},
		{id: "m3", topics: []string{"a"}},
		{id: "m4", topics: []string{"gone"}}, // a topic that does not exist
	}
	out := assignUniform(members, topics)
	checkAssignment(t, members, topics, out)
	// 15 partitions over three useful members: 5 each is reachable.
	for _, id := range []string{"m1", "m2", "m3"} {
		if n := out[id].size(); n != 5 {
			t.Fatalf("%s has %d partitions, want 5: %v", id, n, out)
		}
	}
	if out["m4"].size() != 0 {
		t.Fatalf("m4: %v", out["m4"])
	}
	// Sticky across a recomputation with nothing changed.
	for i := range members {
		members[i].prev = out[members[i].id]
	}
	again := assignUniform(members, topics)
	for _, m := range members {
		if again[m.id].size() != out[m.id].size() || again[m.id].filter(func(id [16]byte, p int32) bool { return !out[m.id].has(id, p) }).size() != 0 {
			t.Fatalf("%s changed without a reason: %v → %v", m.id, out[m.id], again[m.id])
		}
	}
}

func TestRangeAssignor(t *testing.T) {
	topics := assignTopics(map[string]int32{"a": 5})
	members := []assignMember{{id: "m2", topics: []string{"a"}}, {id: "m1", topics: []string{"a"}}}
	out := assignRange(members, topics)
	checkAssignment(t, members, topics, out)
	id := topics["a"].id
	if got := out["m1"].sortedPartitions(id); fmt.Sprint(got) != "[0 1 2]" {
		t.Fatalf("m1: %v", got)
	}
	if assignorFor("uniform") == nil || assignorFor("range") == nil || assignorFor("sticky") != nil {
		t.Fatal("assignor names")
	}
}

// The group's assignor is the one most members ask for; switching it
// starts a new group epoch with the new assignor's target.
func TestPreferredAssignor(t *testing.T) {
	h := newHarness(t, testConfig())
	h.c.SetTopicMetadata(staticTopics{"t1": {t1ID, 4}})
	join := func(id, assignor string) *kmsg.ConsumerGroupHeartbeatResponse {
		r := kmsg.NewPtrConsumerGroupHeartbeatRequest()
		r.SetVersion(1)
		r.Group, r.MemberID, r.MemberEpoch = "cg", id, 0
		r.RebalanceTimeoutMillis = 30000
		r.SubscribedTopicNames = []string{"t1"}
		r.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
		r.ServerAssignor = &assignor
		return h.do(r).(*kmsg.ConsumerGroupHeartbeatResponse)
	}
	join("m1", "uniform")
	if g := describeCG(h); g.AssignorName != "uniform" {
		t.Fatalf("assignor %q", g.AssignorName)
	}
	join("m2", "range")
	join("m3", "range")
	if g := describeCG(h); g.AssignorName != "range" {
		t.Fatalf("assignor %q after two members asked for range", g.AssignorName)
	}
	cg := &consumerGroup{members: map[string]*cgMember{"a": {}, "b": {}}}
	if got := cg.preferredAssignor("uniform"); got != "uniform" {
		t.Fatalf("no votes: %q", got)
	}
}
