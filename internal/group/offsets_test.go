package group

import (
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func commitReq(version int16, groupID, memberID string, gen int32, topic string, partition int32, offset int64) *kmsg.OffsetCommitRequest {
	r := kmsg.NewPtrOffsetCommitRequest()
	r.SetVersion(version)
	r.Group, r.MemberID, r.Generation = groupID, memberID, gen
	md := "md"
	r.Topics = []kmsg.OffsetCommitRequestTopic{{
		Topic:      topic,
		Partitions: []kmsg.OffsetCommitRequestTopicPartition{{Partition: partition, Offset: offset, LeaderEpoch: 7, Metadata: &md, Timestamp: -1}},
	}}
	return r
}

func commitCode(h *harness, version int16, groupID, memberID string, gen int32, topic string, partition int32, offset int64) int16 {
	h.t.Helper()
	r := h.do(commitReq(version, groupID, memberID, gen, topic, partition, offset)).(*kmsg.OffsetCommitResponse)
	if len(r.Topics) != 1 || len(r.Topics[0].Partitions) != 1 {
		h.t.Fatalf("commit response shape: %+v", r)
	}
	return r.Topics[0].Partitions[0].ErrorCode
}

// fetch returns offset, leader epoch, metadata and error of one partition
// through OffsetFetch of the given version.
func fetch(h *harness, version int16, groupID, topic string, partition int32) (int64, int32, string, int16) {
	h.t.Helper()
	r := kmsg.NewPtrOffsetFetchRequest()
	r.SetVersion(version)
	if version >= 8 {
		r.Groups = []kmsg.OffsetFetchRequestGroup{{Group: groupID, Topics: []kmsg.OffsetFetchRequestGroupTopic{{Topic: topic, Partitions: []int32{partition}}}}}
		resp := h.do(r).(*kmsg.OffsetFetchResponse)
		g := resp.Groups[0]
		if g.ErrorCode != 0 {
			return 0, 0, "", g.ErrorCode
		}
		p := g.Topics[0].Partitions[0]
		return p.Offset, p.LeaderEpoch, *p.Metadata, p.ErrorCode
	}
	r.Group = groupID
	r.Topics = []kmsg.OffsetFetchRequestTopic{{Topic: topic, Partitions: []int32{partition}}}
	resp := h.do(r).(*kmsg.OffsetFetchResponse)
	if resp.ErrorCode != 0 {
		return 0, 0, "", resp.ErrorCode
	}
	p := resp.Topics[0].Partitions[0]
	return p.Offset, p.LeaderEpoch, *p.Metadata, p.ErrorCode
}

func TestOffsetCommitFetchVersions(t *testing.T) {
	h := newHarness(t, testConfig())
	for v := int16(0); v <= 9; v++ {
		if code := commitCode(h, v, "simple", "", -1, "t", int32(v), int64(100+v)); code != 0 {
			t.Fatalf("v%d standalone commit: %d", v, code)
		}
	}
	for v := int16(1); v <= 9; v++ {
		for p := int32(0); p <= 9; p++ {
			off, epoch, md, code := fetch(h, v, "simple", "t", p)
			wantEpoch := int32(-1)
			if p >= 6 && v >= 5 {
				wantEpoch = 7
			}
			if code != 0 || off != int64(100+p) || md != "md" || (v >= 5 && epoch != wantEpoch) {
				t.Fatalf("v%d fetch p%d: %d %d %q %d", v, p, off, epoch, md, code)
			}
		}
	}
	// Unknown offsets and groups: -1, "", no error.
	for _, v := range []int16{1, 7, 8} {
		off, _, md, code := fetch(h, v, "simple", "other", 0)
		if off != -1 || md != "" || code != 0 {
			t.Fatalf("v%d unknown partition: %d %q %d", v, off, md, code)
		}
		off, _, _, code = fetch(h, v, "nogroup", "t", 0)
		if off != -1 || code != 0 {
			t.Fatalf("v%d unknown group: %d %d", v, off, code)
		}
	}
	// Null topics mean all; v8 batches groups.
	r := kmsg.NewPtrOffsetFetchRequest()
	r.SetVersion(8)
	r.Groups = []kmsg.OffsetFetchRequestGroup{{Group: "simple"}, {Group: "nogroup"}, {Group: ""}}
	resp := h.do(r).(*kmsg.OffsetFetchResponse)
	if len(resp.Groups) != 3 || len(resp.Groups[0].Topics) != 1 || len(resp.Groups[0].Topics[0].Partitions) != 10 ||
		len(resp.Groups[1].Topics) != 0 || resp.Groups[2].ErrorCode != kerr.InvalidGroupID.Code {
		t.Fatalf("v8 all topics: %+v", resp.Groups)
	}
	r6 := kmsg.NewPtrOffsetFetchRequest()
	r6.SetVersion(6)
	r6.Group = "simple"
	if resp := h.do(r6).(*kmsg.OffsetFetchResponse); len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 10 {
		t.Fatalf("v6 all topics: %+v", resp)
	}

	// Metadata over offset.metadata.max.bytes.
	big := commitReq(9, "simple", "", -1, "t", 0, 1)
	md := strings.Repeat("x", 4097)
	big.Topics[0].Partitions[0].Metadata = &md
	if r := h.do(big).(*kmsg.OffsetCommitResponse); r.Topics[0].Partitions[0].ErrorCode != kerr.OffsetMetadataTooLarge.Code {
		t.Fatalf("big metadata: %d", r.Topics[0].Partitions[0].ErrorCode)
	}
	// A real generation for an unknown group.
	if code := commitCode(h, 8, "missing", "m", 3, "t", 0, 1); code != kerr.IllegalGeneration.Code {
		t.Fatalf("v8 unknown group: %d", code)
	}
	if code := commitCode(h, 9, "missing", "m", 3, "t", 0, 1); code != kerr.GroupIDNotFound.Code {
		t.Fatalf("v9 unknown group: %d", code)
	}
	if code := commitCode(h, 10, "simple", "", -1, "t", 0, 1); code != kerr.UnknownTopicID.Code {
		t.Fatalf("v10: %d", code)
	}
	// The store failing.
	h.store.SetAppendError(kerr.NotLeaderForPartition)
	if code := commitCode(h, 9, "simple", "", -1, "t", 0, 1); code != kerr.NotCoordinator.Code {
		t.Fatalf("failed append: %d", code)
	}
	h.store.SetAppendError(nil)
	if off, _, _, _ := fetch(h, 9, "simple", "t", 0); off != 100 {
		t.Fatalf("failed commit applied: %d", off)
	}
}

func TestOffsetCommitMembers(t *testing.T) {
	h := newHarness(t, testConfig())
	ids, gen := h.stableGroup("g", 2)
	if code := commitCode(h, 9, "g", ids[1], gen, "t1", 0, 42); code != 0 {
		t.Fatalf("member commit: %d", code)
	}
	if code := commitCode(h, 9, "g", ids[1], gen-1, "t1", 0, 43); code != kerr.IllegalGeneration.Code {
		t.Fatalf("old generation: %d", code)
	}
	if code := commitCode(h, 9, "g", "stranger", gen, "t1", 0, 43); code != kerr.UnknownMemberID.Code {
		t.Fatalf("unknown member: %d", code)
	}
	if code := commitCode(h, 9, "g", "", -1, "t1", 0, 43); code != kerr.UnknownMemberID.Code {
		t.Fatalf("standalone commit to an active group: %d", code)
	}
	if off, _, _, _ := fetch(h, 9, "g", "t1", 0); off != 42 {
		t.Fatalf("offset %d", off)
	}
	got, err := h.c.CommittedOffsets("g")
	if err != nil || got["t1"][0] != 42 {
		t.Fatalf("CommittedOffsets: %v %v", got, err)
	}
}

func TestOffsetDelete(t *testing.T) {
	h := newHarness(t, testConfig())
	ids, gen := h.stableGroup("g", 1) // subscribed to t1
	commitCode(h, 9, "g", ids[0], gen, "t1", 0, 1)
	commitCode(h, 9, "g", ids[0], gen, "t2", 0, 2)
	req := kmsg.NewPtrOffsetDeleteRequest()
	req.Group = "g"
	req.Topics = []kmsg.OffsetDeleteRequestTopic{
		{Topic: "t1", Partitions: []kmsg.OffsetDeleteRequestTopicPartition{{Partition: 0}}},
		{Topic: "t2", Partitions: []kmsg.OffsetDeleteRequestTopicPartition{{Partition: 0}, {Partition: 5}}},
	}
	resp := h.do(req).(*kmsg.OffsetDeleteResponse)
	if resp.ErrorCode != 0 || resp.Topics[0].Partitions[0].ErrorCode != kerr.GroupSubscribedToTopic.Code ||
		resp.Topics[1].Partitions[0].ErrorCode != 0 || resp.Topics[1].Partitions[1].ErrorCode != 0 {
		t.Fatalf("offset delete: %+v", resp)
	}
	if off, _, _, _ := fetch(h, 9, "g", "t2", 0); off != -1 {
		t.Fatalf("t2 not deleted: %d", off)
	}
	if off, _, _, _ := fetch(h, 9, "g", "t1", 0); off != 1 {
		t.Fatalf("t1 deleted: %d", off)
	}
	req.Group = "nogroup"
	if resp := h.do(req).(*kmsg.OffsetDeleteResponse); resp.ErrorCode != kerr.GroupIDNotFound.Code {
		t.Fatalf("unknown group: %d", resp.ErrorCode)
	}
}

// KIP-211 retention.
func TestOffsetRetention(t *testing.T) {
	cfg := testConfig()
	cfg.OffsetsRetention = 24 * time.Hour
	cfg.OffsetsRetentionCheckInterval = time.Hour
	h := newHarness(t, cfg)

	// A standalone group: counted from each commit.
	commitCode(h, 9, "simple", "", -1, "t", 0, 1)
	h.clk.Advance(12 * time.Hour)
	commitCode(h, 9, "simple", "", -1, "t", 1, 1)

	// A consumer group, subscribed to t1, with an offset for t2 as well.
	ids, gen := h.stableGroup("g", 1)
	commitCode(h, 9, "g", ids[0], gen, "t1", 0, 1)
	commitCode(h, 9, "g", ids[0], gen, "t2", 0, 1)

	keepAlive := func(d time.Duration) {
		for range d / (5 * time.Second) {
			h.clk.Advance(5 * time.Second)
			if code := h.heartbeat("g", ids[0], gen); code != 0 {
				t.Fatalf("heartbeat: %d", code)
			}
		}
	}
	keepAlive(13 * time.Hour)
	if off, _, _, _ := fetch(h, 9, "simple", "t", 0); off != -1 {
		t.Fatalf("standalone offset not expired: %d", off)
	}
	if off, _, _, _ := fetch(h, 9, "simple", "t", 1); off != 1 {
		t.Fatalf("younger standalone offset expired: %d", off)
	}
	if off, _, _, _ := fetch(h, 9, "g", "t2", 0); off != 1 {
		t.Fatalf("young unsubscribed offset expired: %d", off)
	}
	keepAlive(12 * time.Hour)
	if off, _, _, _ := fetch(h, 9, "g", "t1", 0); off != 1 {
		t.Fatalf("subscribed offset expired: %d", off)
	}
	if off, _, _, _ := fetch(h, 9, "g", "t2", 0); off != -1 {
		t.Fatalf("unsubscribed offset kept: %d", off)
	}

	// g empties: its offsets now count from then.
	leave := kmsg.NewPtrLeaveGroupRequest()
	leave.Group, leave.MemberID = "g", ids[0]
	h.do(leave)
	h.clk.Advance(23 * time.Hour)
	if off, _, _, _ := fetch(h, 9, "g", "t1", 0); off != 1 {
		t.Fatalf("offset expired before retention since Empty: %d", off)
	}
	h.clk.Advance(2 * time.Hour)
	if off, _, _, _ := fetch(h, 9, "g", "t1", 0); off != -1 {
		t.Fatalf("offset of Empty group kept: %d", off)
	}
	// Both groups are gone now, with tombstones written.
	list := h.do(kmsg.NewPtrListGroupsRequest()).(*kmsg.ListGroupsResponse)
	if len(list.Groups) != 0 {
		t.Fatalf("groups left: %+v", list.Groups)
	}
	h.restart()
	if off, _, _, _ := fetch(h, 9, "simple", "t", 1); off != -1 {
		t.Fatalf("expired offset back after restart: %d", off)
	}
}
