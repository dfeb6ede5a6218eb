package server

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/quillstream/quill/internal/metadata"
	"github.com/quillstream/quill/internal/record"
)

// A leader re-elected at a new epoch before its follower has fetched has a
// high watermark below its epoch's start offset: clients' latest and
// unresolved timestamp lookups get OFFSET_NOT_AVAILABLE (earliest, v0 and
// followers are answered), until the follower catches up.
func TestListOffsetsHWBelowEpochStart(t *testing.T) {
	n := newTopicNode(t, "t", true, 1, []int32{1, 2})
	s := &Server{cfg: Config{NodeID: 1}, replicas: n.m}
	const ts0 = 1_000_000
	for i := range 5 {
		b, err := record.Build(record.BatchSpec{BaseTimestamp: ts0 + int64(i)}.NoProducer(), []record.Record{{Value: []byte("v")}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := n.part.AppendProduce(b, true); err != nil {
			t.Fatal(err)
		}
	}
	// Node 2 has not fetched: the high watermark stays at 0. A new
	// election (epoch 2) starts the epoch at the log end, 5.
	n.apply(metadata.Partition{ID: 0, Replicas: []int32{1, 2}, ISR: []int32{1, 2}, Leader: 1, LeaderEpoch: 2})
	if hw := n.part.HighWatermark(); hw != 0 {
		t.Fatalf("high watermark %d before the follower fetched, want 0", hw)
	}

	list := func(version int16, committed, client bool, ts int64) (int16, int64) {
		t.Helper()
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Timestamp, rp.CurrentLeaderEpoch = ts, -1
		sp := kmsg.NewListOffsetsResponseTopicPartition()
		sp.Offset = -1
		code := s.listOffset(version, committed, client, "t", &rp, &sp, 1)
		return code, sp.Offset
	}
	type tc struct {
		name              string
		version           int16
		committed, client bool
		ts                int64
		lagCode           int16
		lagOff, caughtOff int64
	}
	notAvail := kerr.OffsetNotAvailable.Code
	cases := []tc{
		{"latest", 8, false, true, -1, notAvail, -1, 5},
		{"latest read_committed", 8, true, true, -1, notAvail, -1, 5},
		{"latest v1", 1, false, true, -1, notAvail, -1, 5},
		{"latest v0", 0, false, true, -1, 0, 0, 5},
		{"latest from a follower", 8, false, false, -1, 0, 0, 5},
		{"earliest", 8, false, true, -2, 0, 0, 0},
		{"timestamp", 8, false, true, ts0 + 2, notAvail, -1, 2},
		{"max timestamp", 8, false, true, -3, notAvail, -1, 4},
	}
	for _, c := range cases {
		if code, off := list(c.version, c.committed, c.client, c.ts); code != c.lagCode || off != c.lagOff {
			t.Errorf("%s while lagging: %v offset %d, want %v offset %d", c.name,
				kerr.ErrorForCode(code), off, kerr.ErrorForCode(c.lagCode), c.lagOff)
		}
	}

	n.part.FollowerFetched(2, n.part.Log().LogEndOffset())
	if hw := n.part.HighWatermark(); hw != 5 {
		t.Fatalf("high watermark %d after the follower fetched, want 5", hw)
	}
	for _, c := range cases {
		if code, off := list(c.version, c.committed, c.client, c.ts); code != 0 || off != c.caughtOff {
			t.Errorf("%s caught up: %v offset %d, want offset %d", c.name, kerr.ErrorForCode(code), off, c.caughtOff)
		}
	}
}
