package e2e

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/quillstream/quill/internal/testutil"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestFranzConsumerGroup: a group member consumes part of a topic, commits
// and leaves; a second member resumes at the committed offsets, so the two
// together see every record exactly once; committed offsets end at the end
// offsets.
func TestFranzConsumerGroup(t *testing.T) {
	t.Parallel()
	b := testutil.StartBroker(t)
	adm := b.Admin(t)
	topic := topicName(t)
	group := "g-" + topic
	createTopic(t, adm, topic, 4, nil)
	const n = 2000
	var recs []*kgo.Record
	for i := 0; i < n; i++ {
		recs = append(recs, &kgo.Record{Topic: topic, Key: []byte(strconv.Itoa(i % 50)), Value: []byte(strconv.Itoa(i))})
	}
	produceSync(t, b.Client(t, kgo.ProducerLinger(5*time.Millisecond)), recs...)

	seen := map[string]int{}
	consume := func(name string, upTo int) {
		t.Helper()
		cl := b.Client(t,
			kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
			kgo.DisableAutoCommit(),
			kgo.FetchMaxWait(200*time.Millisecond),
			kgo.FetchMaxPartitionBytes(2048), // small fetches: stop part-way
		)
		ctx := ctxT(t, 45*time.Second)
		got := 0
		for got < upTo {
			fs := cl.PollRecords(ctx, upTo-got)
			if ctx.Err() != nil {
				t.Fatalf("%s: timed out after %d records (%d distinct overall)", name, got, len(seen))
			}
			fs.EachError(func(tp string, p int32, err error) { t.Fatalf("%s: fetch %s[%d]: %v", name, tp, p, err) })
			fs.EachRecord(func(r *kgo.Record) {
				seen[string(r.Value)]++
				got++
			})
		}
		if err := cl.CommitUncommittedOffsets(ctx); err != nil {
			t.Fatalf("%s: commit: %v", name, err)
		}
		cl.Close() // leaves the group
	}
	consume("first member", 700)
	consume("second member", n-700)
	if len(seen) != n {
		t.Fatalf("saw %d distinct records, want %d", len(seen), n)
	}
	for v, c := range seen {
		if c != 1 {
			t.Fatalf("record %s seen %d times: the second member did not resume at the committed offsets", v, c)
		}
	}

	ctx := ctxT(t, 20*time.Second)
	committed, err := adm.FetchOffsets(ctx, group)
	if err != nil {
		t.Fatalf("OffsetFetch: %v", err)
	}
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	ends.Each(func(o kadm.ListedOffset) {
		c, ok := committed.Lookup(topic, o.Partition)
		if !ok || c.Err != nil || c.At != o.Offset {
			t.Errorf("%s[%d]: committed %+v, want %d", topic, o.Partition, c, o.Offset)
		}
	})
	dg, err := adm.DescribeGroups(ctx, group)
	if err != nil {
		t.Fatalf("DescribeGroups: %v", err)
	}
	if g := dg[group]; g.Err != nil || g.State != "Empty" || len(g.Members) != 0 {
		t.Errorf("group after both members left: state %q members %d err %v, want Empty with none", g.State, len(g.Members), g.Err)
	}
	// Committed offsets are in __consumer_offsets: they survive a crash.
	b.Kill()
	b.Start()
	adm = b.Admin(t)
	ctx = ctxT(t, 30*time.Second)
	var after kadm.OffsetResponses
	testutil.WaitFor(t, 20*time.Second, "OffsetFetch after the crash", func() (bool, string) {
		after, err = adm.FetchOffsets(ctxT(t, 5*time.Second), group)
		if err != nil {
			return false, err.Error() // COORDINATOR_LOAD_IN_PROGRESS is retried by kadm
		}
		return true, ""
	})
	ends.Each(func(o kadm.ListedOffset) {
		c, ok := after.Lookup(topic, o.Partition)
		if !ok || c.Err != nil || c.At != o.Offset {
			t.Errorf("%s[%d] after SIGKILL and restart: committed %+v, want %d", topic, o.Partition, c, o.Offset)
		}
	})
	lg, err := adm.ListGroups(ctx)
	if err != nil {
		t.Fatalf("ListGroups: %v", err)
	}
	if _, ok := lg[group]; !ok {
		t.Errorf("ListGroups does not list %s: %v", group, fmt.Sprint(lg.Groups()))
	}
}

// TestFranzGroupTwoMembers: two members of one group consume concurrently;
// the group settles with both members holding disjoint partitions that
// cover the topic, and every record is consumed.
func TestFranzGroupTwoMembers(t *testing.T) {
	t.Parallel()
	b := testutil.StartBroker(t)
	adm := b.Admin(t)
	topic := topicName(t)
	group := "g-" + topic
	const parts, n = 6, 3000
	createTopic(t, adm, topic, parts, nil)
	var recs []*kgo.Record
	for i := 0; i < n; i++ {
		recs = append(recs, &kgo.Record{Topic: topic, Value: []byte(strconv.Itoa(i))})
	}
	produceSync(t, b.Client(t, kgo.ProducerLinger(5*time.Millisecond)), recs...)

	type result struct {
		seen map[string]bool
		err  error
	}
	ctx := ctxT(t, 60*time.Second)
	stop := make(chan struct{})
	results := make(chan result, 2)
	var members []*kgo.Client
	for m := 0; m < 2; m++ {
		cl := b.Client(t, kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(200*time.Millisecond),
			kgo.FetchMaxPartitionBytes(1024))
		members = append(members, cl)
		go func() {
			res := result{seen: map[string]bool{}}
			defer func() { results <- res }()
			for {
				select {
				case <-stop:
					return
				default:
				}
				pctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
				fs := cl.PollFetches(pctx)
				cancel()
				if ctx.Err() != nil {
					return
				}
				fs.EachError(func(tp string, p int32, err error) {
					if !errors.Is(err, context.DeadlineExceeded) && res.err == nil {
						res.err = fmt.Errorf("fetch %s[%d]: %w", tp, p, err)
					}
				})
				fs.EachRecord(func(r *kgo.Record) { res.seen[string(r.Value)] = true })
			}
		}()
	}
	// Wait until the group is Stable with two members that split the
	// partitions between them.
	testutil.WaitFor(t, 40*time.Second, "a stable group of two members covering all partitions", func() (bool, string) {
		dg, err := adm.DescribeGroups(ctxT(t, 5*time.Second), group)
		if err != nil {
			return false, err.Error()
		}
		g := dg[group]
		if g.State != "Stable" || len(g.Members) != 2 {
			return false, fmt.Sprintf("state %s, %d members", g.State, len(g.Members))
		}
		owned := map[int32]int{}
		for _, m := range g.Members {
			ca, ok := m.Assigned.AsConsumer()
			if !ok {
				return false, "assignment is not a consumer assignment"
			}
			if len(ca.Topics) == 0 {
				return false, fmt.Sprintf("member %s has no partitions", m.MemberID)
			}
			for _, tp := range ca.Topics {
				for _, p := range tp.Partitions {
					owned[p]++
				}
			}
		}
		for p := int32(0); p < parts; p++ {
			if owned[p] != 1 {
				return false, fmt.Sprintf("partition %d owned %d times: %v", p, owned[p], owned)
			}
		}
		return true, ""
	})
	// Consume until everything was seen by someone.
	close(stop)
	all := map[string]bool{}
	for range members {
		r := <-results
		if r.err != nil {
			t.Errorf("member: %v", r.err)
		}
		for v := range r.seen {
			all[v] = true
		}
	}
	if len(all) < n {
		// Members stopped early; a fresh member of the group finishes
		// from the committed offsets (at-least-once).
		for _, cl := range members {
			cl.Close()
		}
		rest := b.Client(t, kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
		for len(all) < n {
			fs := rest.PollFetches(ctx)
			if ctx.Err() != nil {
				t.Fatalf("consumed %d of %d distinct records", len(all), n)
			}
			fs.EachError(func(tp string, p int32, err error) { t.Fatalf("fetch %s[%d]: %v", tp, p, err) })
			fs.EachRecord(func(r *kgo.Record) { all[string(r.Value)] = true })
		}
	}
}
