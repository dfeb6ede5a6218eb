package e2e

import (
	"context"
	"flag"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/quillstream/quill/internal/testutil"
)

// chaosDuration bounds the chaos test: short in CI, longer with
// -args -chaos.duration=10m or QUILL_CHAOS_DURATION=10m.
var chaosDuration = flag.Duration("chaos.duration", 0, "how long TestClusterChaos injects faults (default 20s, or $QUILL_CHAOS_DURATION)")

func chaosTime() time.Duration {
	if *chaosDuration > 0 {
		return *chaosDuration
	}
	if d, err := time.ParseDuration(os.Getenv("QUILL_CHAOS_DURATION")); err == nil && d > 0 {
		return d
	}
	return 20 * time.Second
}

// TestClusterChaos produces with acks=all and idempotence while the leader
// of a partition is repeatedly SIGKILLed and restarted, SIGSTOPped past
// its session and continued, or shut down with SIGTERM (controlled
// shutdown) and restarted; then every acknowledged record must be present
// exactly once, in order, in every partition.
func TestClusterChaos(t *testing.T) {
	if testing.Short() {
		t.Skip("chaos test skipped in -short mode")
	}
	c := testutil.StartCluster(t, 3)
	topic := topicName(t)
	const parts = 3
	minISR := "2"
	createClusterTopic(t, c.Admin(t), topic, parts, 3, map[string]*string{"min.insync.replicas": &minISR})
	for p := int32(0); p < parts; p++ {
		c.WaitPartition(topic, p, "full ISR", func(p testutil.Partition) bool { return p.Leader > 0 && len(p.ISR) == 3 })
	}

	cl := c.Client(t,
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.MaxBufferedRecords(2000),
		kgo.RecordDeliveryTimeout(2*time.Minute),
		kgo.ProducerLinger(time.Millisecond),
	)
	var mu sync.Mutex
	acked := make([][]int, parts)
	failed := 0
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for seq := 0; ctx.Err() == nil; seq++ {
			for p := int32(0); p < parts; p++ {
				seq, p := seq, p
				r := &kgo.Record{Topic: topic, Partition: p, Value: fmt.Appendf(nil, "%08d", seq)}
				cl.Produce(context.Background(), r, func(r *kgo.Record, err error) {
					mu.Lock()
					defer mu.Unlock()
					if err != nil {
						failed++
						return
					}
					acked[p] = append(acked[p], seq)
				})
			}
			time.Sleep(time.Millisecond)
		}
	}()

	deadline := time.Now().Add(chaosTime())
	for round := 0; time.Now().Before(deadline); round++ {
		p := int32(round % parts)
		part := c.WaitPartition(topic, p, "a leader and a full ISR", func(p testutil.Partition) bool {
			return p.Leader > 0 && len(p.ISR) == 3
		})
		b := c.Node(part.Leader)
		switch round % 3 {
		case 0:
			t.Logf("round %d: SIGKILL leader %d of partition %d", round, part.Leader, p)
			b.Kill()
			time.Sleep(time.Second)
			b.Start()
		case 1:
			t.Logf("round %d: SIGSTOP leader %d of partition %d for 3s", round, part.Leader, p)
			c.Pause(b)
			time.Sleep(3 * time.Second)
			c.Resume(b)
		case 2:
			t.Logf("round %d: SIGTERM leader %d of partition %d", round, part.Leader, p)
			if err := b.StopErr(30 * time.Second); err != nil {
				t.Errorf("controlled shutdown of %d: %v", part.Leader, err)
			}
			b.Start()
		}
		time.Sleep(500 * time.Millisecond)
	}
	stop()
	wg.Wait()
	fctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := cl.Flush(fctx); err != nil {
		t.Fatalf("flush: %v", err)
	}
	mu.Lock()
	total := 0
	for _, a := range acked {
		total += len(a)
	}
	t.Logf("%d records acknowledged, %d failed", total, failed)
	mu.Unlock()

	// Read every partition from the start up to its end. A leader
	// elected a moment ago answers OFFSET_NOT_AVAILABLE until its
	// followers have fetched: polled (testutil.ListEndOffsets).
	adm := c.Admin(t)
	ends, err := testutil.ListEndOffsets(testutil.Context(t, 60*time.Second), adm, topic)
	if err != nil {
		t.Fatal(err)
	}
	offsets := map[int32]kgo.Offset{}
	want := map[int32]int64{}
	for p := int32(0); p < parts; p++ {
		o, _ := ends.Lookup(topic, p)
		if o.Err != nil {
			t.Fatalf("end offset of partition %d: %v", p, o.Err)
		}
		want[p] = o.Offset
		offsets[p] = kgo.NewOffset().AtStart()
	}
	cons := c.Client(t, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: offsets}))
	got := make([][]int, parts)
	next := map[int32]int64{}
	rctx := testutil.Context(t, 2*time.Minute)
	for {
		done := true
		for p := int32(0); p < parts; p++ {
			if next[p] < want[p] {
				done = false
			}
		}
		if done {
			break
		}
		fs := cons.PollFetches(rctx)
		if rctx.Err() != nil {
			t.Fatalf("consumed up to %v, want %v", next, want)
		}
		fs.EachRecord(func(r *kgo.Record) {
			var seq int
			fmt.Sscanf(string(r.Value), "%d", &seq)
			got[r.Partition] = append(got[r.Partition], seq)
			next[r.Partition] = r.Offset + 1
		})
	}
	for p := range parts {
		seen := map[int]bool{}
		for i, s := range got[p] {
			if seen[s] {
				t.Errorf("partition %d: record %d appears twice", p, s)
			}
			seen[s] = true
			if i > 0 && s <= got[p][i-1] {
				t.Errorf("partition %d: record %d after %d: out of order", p, s, got[p][i-1])
			}
		}
		missing := 0
		for _, s := range acked[p] {
			if !seen[s] {
				missing++
				if missing <= 5 {
					t.Errorf("partition %d: acknowledged record %d is missing", p, s)
				}
			}
		}
		if missing > 0 {
			t.Errorf("partition %d: %d acknowledged records missing", p, missing)
		}
		t.Logf("partition %d: %d records, %d acknowledged", p, len(got[p]), len(acked[p]))
	}
}
