package group

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

// TestFranzGoConsumerGroup runs real franz-go consumers and kadm against the
// coordinator. kfake plays the rest of the broker (metadata, produce, fetch,
// FindCoordinator); every group API request is routed to Coordinator.Handle
// and the response encoded by kfake, as the server will do.
func TestFranzGoConsumerGroup(t *testing.T) {
	if testing.Short() {
		t.Skip("real clients and real time")
	}
	cfg := DefaultConfig()
	cfg.InitialRebalanceDelay = 100 * time.Millisecond
	coord := New(cfg, NewMemStore(), nil)
	defer coord.Close()
	for p := range cfg.NumPartitions {
		if err := coord.Load(p); err != nil {
			t.Fatal(err)
		}
	}
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, "t"))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	for key := range SupportedVersions() {
		cluster.ControlKey(key, func(req kmsg.Request) (kmsg.Response, error, bool) {
			cluster.KeepControl()
			var resp kmsg.Response
			var herr error
			cluster.SleepControl(func() { resp, herr = coord.Handle(context.Background(), req) })
			return resp, herr, true
		})
	}
	// Kafka 3.9's versions: OffsetCommit/OffsetFetch v9, JoinGroup v9.
	opts := []kgo.Opt{kgo.SeedBrokers(cluster.ListenAddrs()...), kgo.MaxVersions(kversion.V3_9_0())}

	prod, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	const n = 300
	for i := range n {
		prod.Produce(context.Background(), &kgo.Record{Topic: "t", Value: fmt.Appendf(nil, "%d", i)}, nil)
	}
	if err := prod.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var mu sync.Mutex
	seen := map[string]bool{}
	var consumers []*kgo.Client
	for i := range 2 {
		cl, err := kgo.NewClient(append(opts,
			kgo.ConsumerGroup("g"), kgo.ConsumeTopics("t"),
			kgo.ClientID(fmt.Sprintf("c%d", i)),
			kgo.FetchMaxWait(100*time.Millisecond),
			kgo.HeartbeatInterval(200*time.Millisecond),
		)...)
		if err != nil {
			t.Fatal(err)
		}
		consumers = append(consumers, cl)
	}
	pollCtx, stopPolling := context.WithCancel(ctx)
	defer stopPolling()
	var wg sync.WaitGroup
	for _, cl := range consumers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for pollCtx.Err() == nil {
				fs := cl.PollFetches(pollCtx)
				fs.EachRecord(func(r *kgo.Record) {
					mu.Lock()
					seen[string(r.Value)] = true
					mu.Unlock()
				})
				mu.Lock()
				done := len(seen) == n
				mu.Unlock()
				if done {
					stopPolling()
				}
			}
		}()
	}
	wg.Wait()
	if len(seen) != n {
		t.Fatalf("consumed %d of %d records", len(seen), n)
	}
	for _, cl := range consumers {
		if err := cl.CommitUncommittedOffsets(ctx); err != nil {
			t.Fatalf("commit: %v", err)
		}
	}

	adm := kadm.NewClient(prod)
	described, err := adm.DescribeGroups(ctx, "g")
	if err != nil {
		t.Fatal(err)
	}
	if g := described["g"]; g.State != "Stable" || len(g.Members) != 2 || g.Protocol == "" {
		t.Fatalf("describe: %+v", g)
	}
	for _, cl := range consumers {
		cl.Close() // leaves the group
	}
	offsets, err := adm.FetchOffsets(ctx, "g")
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	offsets.Each(func(o kadm.OffsetResponse) { total += o.At })
	if total != n {
		t.Fatalf("committed offsets sum to %d, want %d", total, n)
	}
	listed, err := adm.ListGroups(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if s := listed.Sorted(); len(s) != 1 || s[0].State != "Empty" {
		t.Fatalf("list: %+v", s)
	}
	if _, err := adm.DeleteGroup(ctx, "g"); err != nil {
		t.Fatalf("delete: %v", err)
	}
}
