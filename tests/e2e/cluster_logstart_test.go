package e2e

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/quillstream/quill/internal/testutil"
)

// A follower that was away while the leader deleted records past its log
// end (DeleteRecords) restarts its log at the leader's log start, catches
// up, rejoins the ISR and, once leader, serves from the new log start.
func TestClusterFollowerBelowLeaderLogStart(t *testing.T) {
	c := testutil.StartCluster(t, 3)
	topic := topicName(t)
	cl := c.Client(t)
	createAssigned(t, cl, topic, []int32{3, 1, 2})
	c.WaitPartition(topic, 0, "node 3 leads with a full ISR", func(p testutil.Partition) bool {
		return p.Leader == 3 && len(p.ISR) == 3
	})
	produceSeq(t, cl, topic, 0, 100)

	// Node 3 dies; the others go on without it.
	c.Node(3).Kill()
	c.WaitPartition(topic, 0, "node 3 out of the ISR", func(p testutil.Partition) bool {
		return p.Leader != 3 && p.Leader >= 0 && len(p.ISR) == 2
	})
	cl2, err := kgo.NewClient(kgo.SeedBrokers(c.Node(1).Addr(), c.Node(2).Addr()), kgo.RetryTimeout(30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer cl2.Close()
	produceSeq(t, cl2, topic, 100, 200)
	const newStart = 250
	testutil.WaitFor(t, 30*time.Second, "records deleted up to 250", func() (bool, string) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		resp, err := kadm.NewClient(cl2).DeleteRecords(ctx, kadm.Offsets{topic: {0: {Topic: topic, Partition: 0, At: newStart}}})
		if err != nil {
			return false, err.Error()
		}
		r := resp[topic][0]
		if r.Err != nil {
			return false, r.Err.Error()
		}
		return r.LowWatermark == newStart, fmt.Sprintf("low watermark %d", r.LowWatermark)
	})

	// Node 3 returns below the leader's log start.
	c.Node(3).Start()
	// Asked of node 1: node 3 answers from its metadata log replayed at
	// start (ISR 3) until it has caught up.
	testutil.WaitFor(t, 60*time.Second, "node 3 back in the ISR", func() (bool, string) {
		p, err := partitionVia(t, c.Node(1).Addr(), topic)
		if err != nil {
			return false, err.Error()
		}
		return len(p.ISR) == 3 && p.LeaderEpoch > 0, fmt.Sprintf("%+v", p)
	})
	if logs := c.Node(3).Logs(); !strings.Contains(logs, "follower below the leader's log start") {
		t.Fatalf("node 3 did not restart its log at the leader's log start; its log:\n%s", logs)
	}

	// Leadership moves to it (preferred replica election).
	testutil.WaitFor(t, 60*time.Second, "node 3 elected leader", func() (bool, string) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		res, err := kadm.NewClient(cl2).ElectLeaders(ctx, kadm.ElectPreferredReplica, kadm.TopicsSet{topic: {0: {}}})
		if err != nil {
			return false, err.Error()
		}
		r := res[topic][0]
		if r.Err != nil && !errors.Is(r.Err, kerr.ElectionNotNeeded) {
			return false, fmt.Sprintf("%v %s", r.Err, r.ErrMessage)
		}
		p, err := partitionVia(t, c.Node(1).Addr(), topic)
		return err == nil && p.Leader == 3, fmt.Sprintf("%+v %v", p, err)
	})

	// Node 3 serves the records from the new log start, and only those.
	cons, err := kgo.NewClient(kgo.SeedBrokers(c.Node(3).Addr()), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.RetryTimeout(30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	ctx := testutil.Context(t, 60*time.Second)
	var got []*kgo.Record
	for len(got) < 300-newStart {
		fs := cons.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of %d records", len(got), 300-newStart)
		}
		fs.EachRecord(func(r *kgo.Record) { got = append(got, r) })
	}
	for i, r := range got {
		want := int64(newStart + i)
		if r.Offset != want || string(r.Value) != fmt.Sprintf("msg-%05d", want) {
			t.Fatalf("record %d: offset %d value %q, want offset %d", i, r.Offset, r.Value, want)
		}
		if r.LeaderEpoch < 0 {
			t.Fatalf("record %d has no leader epoch", i)
		}
	}
}

// partitionVia describes partition 0 of topic as the node at addr sees it.
func partitionVia(t *testing.T, addr, topic string) (kmsg.MetadataResponseTopicPartition, error) {
	req := kmsg.NewPtrMetadataRequest()
	req.SetVersion(9)
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, rt)
	r, err := nodeRequest(t, addr, req)
	if err != nil {
		return kmsg.MetadataResponseTopicPartition{}, err
	}
	resp := r.(*kmsg.MetadataResponse)
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		return kmsg.MetadataResponseTopicPartition{}, fmt.Errorf("metadata: %+v", resp.Topics)
	}
	return resp.Topics[0].Partitions[0], nil
}
