package server

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/quillstream/quill/internal/group"
	qlog "github.com/quillstream/quill/internal/log"
	"github.com/quillstream/quill/internal/metadata"
	"github.com/quillstream/quill/internal/replica"
)

// coordNode is node 1 of a two-node cluster hosting partition 0 of a topic
// (__consumer_offsets unless said otherwise; replicas 1 and 2) with
// min.insync.replicas minISR; node 2 never fetches unless the test says so
// (FollowerFetched). With cluster false it is a single node.
type coordNode struct {
	m     *replica.Manager
	part  *replica.Partition
	name  string
	topic *metadata.Topic
	img   *metadata.Image
}

func newCoordNode(t *testing.T, cluster bool, minISR int, isr []int32) *coordNode {
	return newTopicNode(t, OffsetsTopic, cluster, minISR, isr)
}

func newTopicNode(t *testing.T, topic string, cluster bool, minISR int, isr []int32) *coordNode {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	logs, err := qlog.OpenManager([]string{t.TempDir()}, logger)
	if err != nil {
		t.Fatal(err)
	}
	m := replica.NewManager(1, logs, func(*metadata.Image, *metadata.Topic) (replica.Settings, qlog.Config) {
		return replica.Settings{MaxMessageBytes: 1 << 20, Recompress: -1, MinInsyncReplicas: minISR}, qlog.DefaultConfig()
	}, logger)
	if cluster {
		m.EnableReplication(replica.ReplicationConfig{
			AlterPartition: func(string, int32, int32, int32, int32, []int32) error { return nil },
			Dial:           func(context.Context, int32) (replica.Conn, error) { return nil, errors.New("no brokers") },
		})
		t.Cleanup(m.StopReplication)
	}
	t.Cleanup(m.Close)
	n := &coordNode{m: m, name: topic}
	n.apply(metadata.Partition{ID: 0, Replicas: []int32{1, 2}, ISR: isr, Leader: 1, LeaderEpoch: 1})
	n.part = m.Get(topic, 0)
	if n.part == nil {
		t.Fatal("partition not opened")
	}
	return n
}

// apply publishes a new image with the partition's state pm.
func (n *coordNode) apply(pm metadata.Partition) {
	tp := &metadata.Topic{Name: n.name, ID: metadata.UUID{7}, Internal: n.name == OffsetsTopic, Partitions: []metadata.Partition{pm}}
	img := metadata.Empty()
	img.Topics = map[string]*metadata.Topic{n.name: tp}
	img.TopicIDs = map[metadata.UUID]*metadata.Topic{tp.ID: tp}
	n.m.Apply(n.img, img)
	n.topic, n.img = tp, img
}

// coordinator returns a group coordinator over the node's store, with the
// partition loaded.
func (n *coordNode) coordinator(t *testing.T, timeout time.Duration) *group.Coordinator {
	t.Helper()
	cfg := group.DefaultConfig()
	cfg.NumPartitions = 1
	c := group.New(cfg, &GroupStore{Replicas: n.m, CommitTimeout: timeout}, nil)
	t.Cleanup(c.Close)
	if err := c.Load(0); err != nil {
		t.Fatal(err)
	}
	return c
}

// commit sends a standalone OffsetCommit of offset for t-0 and returns its
// error code.
func commit(t *testing.T, c *group.Coordinator, offset int64) int16 {
	t.Helper()
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Version = 8
	req.Group, req.Generation = "g", -1
	rt := kmsg.NewOffsetCommitRequestTopic()
	rt.Topic = "t"
	rp := kmsg.NewOffsetCommitRequestTopicPartition()
	rp.Partition, rp.Offset = 0, offset
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := c.Handle(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	return resp.(*kmsg.OffsetCommitResponse).Topics[0].Partitions[0].ErrorCode
}

// fetched returns the committed offset of t-0 OffsetFetch answers.
func fetched(t *testing.T, c *group.Coordinator) int64 {
	t.Helper()
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Version = 7
	req.Group = "g"
	rt := kmsg.NewOffsetFetchRequestTopic()
	rt.Topic, rt.Partitions = "t", []int32{0}
	req.Topics = append(req.Topics, rt)
	resp, err := c.Handle(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	return resp.(*kmsg.OffsetFetchResponse).Topics[0].Partitions[0].Offset
}

// On a single node the ISR is the node itself: a commit is answered at
// once.
func TestGroupStoreSingleNode(t *testing.T) {
	n := newCoordNode(t, false, 1, nil)
	c := n.coordinator(t, time.Minute)
	for off := int64(1); off <= 3; off++ {
		if code := commit(t, c, off); code != 0 {
			t.Fatalf("commit %d: %v", off, kerr.ErrorForCode(code))
		}
	}
	if got := fetched(t, c); got != 3 {
		t.Fatalf("committed offset %d, want 3", got)
	}
}

// In a cluster a commit is answered once the ISR has it; a follower that
// does not fetch keeps it unanswered until offsets.commit.timeout.ms
// (COORDINATOR_NOT_AVAILABLE, and the offset is not served).
func TestGroupStoreWaitsForISR(t *testing.T) {
	n := newCoordNode(t, true, 1, []int32{1, 2})
	c := n.coordinator(t, 300*time.Millisecond)
	if code := commit(t, c, 5); code != kerr.CoordinatorNotAvailable.Code {
		t.Fatalf("commit without the follower: %v, want COORDINATOR_NOT_AVAILABLE", kerr.ErrorForCode(code))
	}
	if got := fetched(t, c); got != -1 {
		t.Fatalf("unreplicated commit served: offset %d", got)
	}

	c = n.coordinator(t, time.Minute)
	done := make(chan int16, 1)
	go func() { done <- commit(t, c, 7) }()
	deadline := time.After(30 * time.Second)
	for {
		// The follower fetches whatever the leader has.
		n.part.FollowerFetched(2, n.part.Log().LogEndOffset())
		select {
		case code := <-done:
			if code != 0 {
				t.Fatalf("commit with the follower caught up: %v", kerr.ErrorForCode(code))
			}
			if got := fetched(t, c); got != 7 {
				t.Fatalf("committed offset %d, want 7", got)
			}
			return
		case <-deadline:
			t.Fatal("commit not answered after the follower caught up")
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// A broker that no longer leads the partition answers NOT_COORDINATOR:
// before appending, and while waiting for the ISR when the leadership
// moves.
func TestGroupStoreNotLeader(t *testing.T) {
	n := newCoordNode(t, true, 1, []int32{1, 2})
	c := n.coordinator(t, time.Minute)

	done := make(chan int16, 1)
	leo := n.part.Log().LogEndOffset()
	go func() { done <- commit(t, c, 3) }()
	testWait(t, "the commit appended", func() bool { return n.part.Log().LogEndOffset() > leo })
	n.apply(metadata.Partition{ID: 0, Replicas: []int32{1, 2}, ISR: []int32{2}, Leader: 2, LeaderEpoch: 2})
	select {
	case code := <-done:
		if code != kerr.NotCoordinator.Code {
			t.Fatalf("commit waiting when the leadership moved: %v, want NOT_COORDINATOR", kerr.ErrorForCode(code))
		}
	case <-time.After(30 * time.Second):
		t.Fatal("commit still waiting after the leadership moved")
	}

	// Not led here any more (the coordinator has not been told yet).
	if code := commit(t, c, 4); code != kerr.NotCoordinator.Code {
		t.Fatalf("commit on a follower: %v, want NOT_COORDINATOR", kerr.ErrorForCode(code))
	}
	err := (&GroupStore{Replicas: n.m}).Append(context.Background(), 0, []group.Record{{Key: []byte("k")}})
	if !errors.Is(err, kerr.NotLeaderForPartition) {
		t.Fatalf("append on a follower: %v, want NOT_LEADER_OR_FOLLOWER", err)
	}
}

// An ISR below min.insync.replicas refuses the commit before appending
// (NOT_ENOUGH_REPLICAS, COORDINATOR_NOT_AVAILABLE to the client).
func TestGroupStoreNotEnoughReplicas(t *testing.T) {
	n := newCoordNode(t, true, 2, []int32{1})
	c := n.coordinator(t, time.Minute)
	leo := n.part.Log().LogEndOffset()
	if code := commit(t, c, 3); code != kerr.CoordinatorNotAvailable.Code {
		t.Fatalf("commit with ISR below min.insync.replicas: %v, want COORDINATOR_NOT_AVAILABLE", kerr.ErrorForCode(code))
	}
	if got := n.part.Log().LogEndOffset(); got != leo {
		t.Fatalf("log end moved from %d to %d: the commit was appended", leo, got)
	}
	err := (&GroupStore{Replicas: n.m}).Append(context.Background(), 0, []group.Record{{Key: []byte("k")}})
	if !errors.Is(err, kerr.NotEnoughReplicas) {
		t.Fatalf("append: %v, want NOT_ENOUGH_REPLICAS", err)
	}
}

// testWait polls cond for up to 30s.
func testWait(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
