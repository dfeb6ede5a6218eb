package cli

import (
	"strings"
	"testing"
)

func TestTopicReassignUsage(t *testing.T) {
	for _, args := range [][]string{
		{"topic", "reassign", "t", "--replicas", "1"},                            // no partition
		{"topic", "reassign", "t", "-p", "0"},                                    // neither replicas nor cancel
		{"topic", "reassign", "t", "-p", "0", "--replicas", "1", "--cancel"},     // both
		{"topic", "reassign", "t", "-p", "0", "--replicas", "1,x"},               // not an id
		{"topic", "reassign", "-p", "0", "--replicas", "1"},                      // no topic
		{"topic", "reassign", "t", "--topic", "u", "-p", "0", "--replicas", "1"}, // two topics
	} {
		if r := quill(t, "", "", args...); r.code != exitUsage {
			t.Errorf("%v: exit %d (%v), want %d", args, r.code, r.err, exitUsage)
		}
	}
}

func TestTopicReassign(t *testing.T) {
	b := testBrokers(t)
	topic := uniqueName(t, "t")
	mustQuill(t, b, "", "topic", "create", topic, "--partitions", "1", "--replication-factor", "1")
	d := decodeJSON[topicDescription](t, mustQuill(t, b, "", "topic", "describe", topic, "-o", "json").stdout)
	leader := itoa(d.Partitions[0].Replicas[0])

	// Onto the replica it has: accepted, nothing left in flight.
	r := mustQuill(t, b, "", "topic", "reassign", topic, "--partition", "0", "--replicas", leader)
	if !strings.Contains(r.stdout, "Reassigning "+topic+"-0 to replicas "+leader) {
		t.Errorf("reassign output: %q", r.stdout)
	}
	if list := decodeJSON[[]reassignmentInfo](t, mustQuill(t, b, "", "topic", "reassignments", "-o", "json").stdout); len(list) != 0 {
		t.Errorf("in flight: %+v", list)
	}
	if r := mustQuill(t, b, "", "topic", "reassignments", topic); !strings.Contains(r.stdout, "TOPIC") {
		t.Errorf("table: %q", r.stdout)
	}
	r = quill(t, b, "", "topic", "reassign", topic+"-missing", "-p", "0", "--replicas", leader)
	if r.code != exitError || !strings.Contains(r.err.Error(), "UNKNOWN_TOPIC_OR_PARTITION") {
		t.Errorf("unknown topic: exit %d, %v", r.code, r.err)
	}
}
