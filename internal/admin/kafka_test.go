package admin

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestKafkaClient runs the franz-go implementation of Kafka against
// franz-go's in-process fake cluster: message browsing by offset, by time
// and from the end; group lag; topic configs; unknown names.
func TestKafkaClient(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, "orders"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	base := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	var recs []*kgo.Record
	for i := range 10 {
		recs = append(recs, &kgo.Record{Topic: "orders", Partition: 0, Key: fmt.Appendf(nil, "k%d", i),
			Value: fmt.Appendf(nil, "v%d", i), Timestamp: base.Add(time.Duration(i) * time.Minute),
			Headers: []kgo.RecordHeader{{Key: "h", Value: []byte("x")}}})
	}
	recs = append(recs, &kgo.Record{Topic: "orders", Partition: 1, Value: nil})
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}

	k, err := NewKafka(c.ListenAddrs()...)
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()

	page, err := k.Messages(ctx, MessageQuery{Topic: "orders", Partition: 0, Offset: 3, Timestamp: -1, Limit: 4})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Messages) != 4 || page.Messages[0].Offset != 3 || string(page.Messages[3].Value) != "v6" ||
		page.HighWatermark != 10 || page.Messages[0].Headers[0].Key != "h" ||
		page.Messages[0].Timestamp != base.Add(3*time.Minute).UnixMilli() {
		t.Fatalf("by offset: %+v", page)
	}
	page, err = k.Messages(ctx, MessageQuery{Topic: "orders", Partition: 0, Offset: -1, Timestamp: -1, Limit: 3})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Messages) != 3 || page.StartOffset != 7 || string(page.Messages[2].Key) != "k9" {
		t.Fatalf("last 3: %+v", page)
	}
	page, err = k.Messages(ctx, MessageQuery{Topic: "orders", Partition: 0, Offset: -1,
		Timestamp: base.Add(7*time.Minute + time.Second).UnixMilli(), Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Messages) != 2 || page.Messages[0].Offset != 8 {
		t.Fatalf("by time: %+v", page)
	}
	page, err = k.Messages(ctx, MessageQuery{Topic: "orders", Partition: 0, Offset: 50, Timestamp: -1, Limit: 5})
	if err != nil || len(page.Messages) != 0 {
		t.Fatalf("past the end: %+v %v", page, err)
	}
	page, err = k.Messages(ctx, MessageQuery{Topic: "orders", Partition: 1, Offset: 0, Timestamp: -1, Limit: 5})
	if err != nil || len(page.Messages) != 1 || page.Messages[0].Value != nil || page.Messages[0].Key != nil {
		t.Fatalf("null record: %+v %v", page, err)
	}
	if _, err := k.Messages(ctx, MessageQuery{Topic: "nope", Partition: 0, Offset: 0, Timestamp: -1, Limit: 5}); err == nil {
		t.Fatalf("unknown topic: no error")
	}

	// A group that committed offset 6 of partition 0 and 1 of partition 1.
	g, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.ConsumerGroup("billing"), kgo.ConsumeTopics("orders"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit())
	if err != nil {
		t.Fatal(err)
	}
	var got int
	for got < 11 {
		fs := g.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatal(ctx.Err())
		}
		got += fs.NumRecords()
	}
	offs := map[string]map[int32]kgo.EpochOffset{"orders": {0: {Epoch: -1, Offset: 6}, 1: {Epoch: -1, Offset: 1}}}
	var commitErr error
	g.CommitOffsetsSync(ctx, offs, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
		commitErr = err
	})
	if commitErr != nil {
		t.Fatal(commitErr)
	}

	groups, err := k.Groups(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(groups) != 1 || groups[0].Group != "billing" || groups[0].TotalLag != 4 || groups[0].Members != 1 {
		t.Fatalf("groups: %+v", groups)
	}
	d, err := k.Group(ctx, "billing")
	if err != nil {
		t.Fatal(err)
	}
	if len(d.MemberList) != 1 || len(d.MemberList[0].Assigned["orders"]) != 2 || len(d.Partitions) != 2 ||
		d.Partitions[0].Lag != 4 || d.Partitions[0].Committed != 6 || d.Partitions[0].End != 10 || d.Partitions[1].Lag != 0 {
		t.Fatalf("group detail: %+v", d)
	}
	g.Close()
	if _, err := k.Group(ctx, "nobody"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown group: %v", err)
	}

	cfgs, err := k.TopicConfigs(ctx, "orders")
	if err != nil {
		t.Fatal(err)
	}
	if len(cfgs) == 0 {
		t.Fatalf("no configs")
	}
	if _, err := k.TopicConfigs(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("configs of unknown topic: %v", err)
	}
}
