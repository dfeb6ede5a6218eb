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

// TestFranzGoEagerRebalances staggers eager (range) consumers joining and
// leaving while records flow, so members rejoin on REBALANCE_IN_PROGRESS
// and commit around revocations; committed offsets must end at the log end.
func TestFranzGoEagerRebalances(t *testing.T) {
	if testing.Short() {
		t.Skip("real clients and real time")
	}
	cfg := DefaultConfig()
	cfg.InitialRebalanceDelay = 0
	coord := New(cfg, NewMemStore(), nil)
	defer coord.Close()
	for p := range cfg.NumPartitions {
		if err := coord.Load(p); err != nil {
			t.Fatal(err)
		}
	}
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(4, "t"))
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
	opts := []kgo.Opt{kgo.SeedBrokers(cluster.ListenAddrs()...), kgo.MaxVersions(kversion.V3_9_0())}
	prod, err := kgo.NewClient(append(opts, kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))...)
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const n = 400
	produce := func(from, to int) {
		for i := from; i < to; i++ {
			prod.Produce(ctx, &kgo.Record{Topic: "t", Value: fmt.Appendf(nil, "%d", i)}, nil)
		}
		if err := prod.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	seen := map[string]bool{}
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(seen) }
	start := func(i int) (*kgo.Client, func()) {
		cl, err := kgo.NewClient(append(opts,
			kgo.ConsumerGroup("g"), kgo.ConsumeTopics("t"),
			kgo.Balancers(kgo.RangeBalancer()),
			kgo.ClientID(fmt.Sprintf("c%d", i)),
			kgo.FetchMaxWait(50*time.Millisecond),
			kgo.HeartbeatInterval(100*time.Millisecond),
			kgo.AutoCommitInterval(100*time.Millisecond),
		)...)
		if err != nil {
			t.Fatal(err)
		}
		pctx, stop := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			for pctx.Err() == nil {
				cl.PollFetches(pctx).EachRecord(func(r *kgo.Record) {
					mu.Lock()
					seen[string(r.Value)] = true
					mu.Unlock()
				})
			}
		}()
		return cl, func() { stop(); <-done; cl.Close() }
	}
	waitFor := func(want int) {
		for count() < want {
			if ctx.Err() != nil {
				t.Fatalf("consumed %d, want %d", count(), want)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	_, stop0 := start(0)
	produce(0, 100)
	waitFor(100)
	_, stop1 := start(1)
	produce(100, 200)
	waitFor(200)
	_, stop2 := start(2)
	produce(200, 300)
	waitFor(300)
	stop1() // leaves: the others take over its partitions
	produce(300, n)
	waitFor(n)
	stop0()
	stop2()
	if g, _ := coord.lookup("g", false); g != nil {
		gen, state := g.generation, g.state
		g.mu.Unlock()
		// c0, c1 and c2 joining and c1 leaving, then everyone leaving;
		// under load a join or leave may fall into a rebalance already
		// in progress, so only three generations are certain.
		if gen < 3 || state != stateEmpty {
			t.Errorf("generation %d state %s", gen, state)
		}
	}

	adm := kadm.NewClient(prod)
	offsets, err := adm.FetchOffsets(ctx, "g")
	if err != nil {
		t.Fatal(err)
	}
	ends, err := adm.ListEndOffsets(ctx, "t")
	if err != nil {
		t.Fatal(err)
	}
	ends.Each(func(e kadm.ListedOffset) {
		if o, ok := offsets.Lookup("t", e.Partition); e.Err != nil || e.Offset == 0 || !ok || o.At != e.Offset {
			t.Errorf("partition %d: committed %+v (%v), end %d (%v)", e.Partition, o, ok, e.Offset, e.Err)
		}
	})
}

// kadmTopics is TopicMetadata read once from the cluster.
func kadmTopics(t *testing.T, adm *kadm.Client) staticTopics {
	t.Helper()
	td, err := adm.ListTopics(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out := staticTopics{}
	for name, d := range td {
		out[name] = struct {
			id [16]byte
			n  int32
		}{d.ID, int32(len(d.Partitions))}
	}
	return out
}

// TestFranzGoConsumerProtocol runs franz-go's KIP-848 consumers
// (ServerSideBalancer) against the coordinator.
func TestFranzGoConsumerProtocol(t *testing.T) {
	if testing.Short() {
		t.Skip("real clients and real time")
	}
	cfg := DefaultConfig()
	cfg.ConsumerHeartbeatInterval = 100 * time.Millisecond
	coord := New(cfg, NewMemStore(), nil)
	defer coord.Close()
	for p := range cfg.NumPartitions {
		if err := coord.Load(p); err != nil {
			t.Fatal(err)
		}
	}
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(4, "t"))
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
	opts := []kgo.Opt{kgo.SeedBrokers(cluster.ListenAddrs()...), kgo.MaxVersions(kversion.V4_0_0())}
	prod, err := kgo.NewClient(append(opts, kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))...)
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	adm := kadm.NewClient(prod)
	coord.SetTopicMetadata(kadmTopics(t, adm))

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const n = 200
	for i := range n {
		prod.Produce(ctx, &kgo.Record{Topic: "t", Value: fmt.Appendf(nil, "%d", i)}, nil)
	}
	if err := prod.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	seen := map[string]bool{}
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(seen) }
	var wg sync.WaitGroup
	pctx, stop := context.WithCancel(ctx)
	start := func(i int) *kgo.Client {
		cl, err := kgo.NewClient(append(opts,
			kgo.ConsumerGroup("g848"), kgo.ConsumeTopics("t"),
			kgo.ServerSideBalancer(), kgo.Balancers(kgo.RangeBalancer()),
			kgo.ClientID(fmt.Sprintf("c%d", i)),
			kgo.FetchMaxWait(50*time.Millisecond),
		)...)
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for pctx.Err() == nil {
				cl.PollFetches(pctx).EachRecord(func(r *kgo.Record) {
					mu.Lock()
					seen[string(r.Value)] = true
					mu.Unlock()
				})
			}
		}()
		return cl
	}
	// settled waits until the group is Stable with the given partition
	// counts per member (in any order).
	settled := func(counts ...int) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			d := kmsg.NewPtrConsumerGroupDescribeRequest()
			d.Groups = []string{"g848"}
			resp, _ := coord.Handle(ctx, d)
			g := resp.(*kmsg.ConsumerGroupDescribeResponse).Groups[0]
			got := map[int]int{}
			for _, m := range g.Members {
				np := 0
				for _, tp := range m.Assignment.TopicPartitions {
					np += len(tp.Partitions)
				}
				got[np]++
			}
			want := map[int]int{}
			for _, c := range counts {
				want[c]++
			}
			ok := g.State == "Stable" && len(g.Members) == len(counts)
			for k, v := range want {
				ok = ok && got[k] == v
			}
			if ok {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("group never settled on %v: %+v", counts, g)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	c0, c1 := start(0), start(1)
	for count() < n && ctx.Err() == nil {
		time.Sleep(10 * time.Millisecond)
	}
	if count() != n {
		t.Fatalf("consumed %d of %d", count(), n)
	}
	settled(2, 2)
	c2 := start(2) // partitions move: revoked from one member first
	settled(2, 1, 1)
	c1.Close() // leaves with epoch -1
	settled(2, 2)
	for _, cl := range []*kgo.Client{c0, c2} {
		if err := cl.CommitUncommittedOffsets(ctx); err != nil {
			t.Fatalf("commit: %v", err)
		}
	}
	stop()
	wg.Wait()
	c0.Close()
	c2.Close()
	offsets, err := adm.FetchOffsets(ctx, "g848")
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	offsets.Each(func(o kadm.OffsetResponse) { total += o.At })
	if total != n {
		t.Fatalf("committed offsets sum to %d, want %d", total, n)
	}
}
