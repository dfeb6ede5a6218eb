package e2e

import (
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
	lg, err := adm.ListGroups(ctx)
	if err != nil {
		t.Fatalf("ListGroups: %v", err)
	}
	if _, ok := lg[group]; !ok {
		t.Errorf("ListGroups does not list %s: %v", group, fmt.Sprint(lg.Groups()))
	}
}
