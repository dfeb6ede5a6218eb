package replica

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	qlog "github.com/quillstream/quill/internal/log"
	"github.com/quillstream/quill/internal/metadata"
	"github.com/quillstream/quill/internal/record"
)

// leaderPartition opens a partition led by node 1 of replicas 1,2,3.
func leaderPartition(t *testing.T) *Partition {
	t.Helper()
	l, err := qlog.Open(t.TempDir(), qlog.DefaultConfig(), qlog.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	p := &Partition{Topic: "t", log: l, dir: l.Dir(), waiters: map[*Waiter]struct{}{}, now: time.Now}
	p.settings.Store(&Settings{Recompress: -1})
	p.mu.Lock()
	p.loadProducers()
	p.mu.Unlock()
	p.epoch.Store(1)
	p.applyMetadata(1, metadata.Partition{Leader: 1, LeaderEpoch: 1, Replicas: []int32{1, 2, 3}, ISR: []int32{1, 2, 3}})
	return p
}

func appendN(t *testing.T, p *Partition, n int) int64 {
	t.Helper()
	recs := make([]record.Record, n)
	for i := range recs {
		recs[i] = record.Record{Value: []byte("v")}
	}
	b, err := record.Build(record.BatchSpec{BaseTimestamp: time.Now().UnixMilli()}.NoProducer(), recs)
	if err != nil {
		t.Fatal(err)
	}
	res, err := p.AppendProduce(b, true)
	if err != nil {
		t.Fatal(err)
	}
	return res.BaseOffset + int64(n)
}

// KAFKA-FACTS 8: the high watermark is the minimum log end over the ISR.
func TestHighWatermarkIsMinimumOverISR(t *testing.T) {
	p := leaderPartition(t)
	end := appendN(t, p, 10)
	if hw := p.HighWatermark(); hw != 0 {
		t.Fatalf("hw %d before any follower fetched", hw)
	}
	p.FollowerFetched(2, end)
	if hw := p.HighWatermark(); hw != 0 {
		t.Fatalf("hw %d with follower 3 unknown", hw)
	}
	p.FollowerFetched(3, 4)
	if hw := p.HighWatermark(); hw != 4 {
		t.Fatalf("hw %d, want 4", hw)
	}
	p.FollowerFetched(3, end)
	if hw := p.HighWatermark(); hw != end {
		t.Fatalf("hw %d, want %d", hw, end)
	}
	// The ISR shrinks to the leader: the high watermark is its log end.
	end2 := appendN(t, p, 5)
	p.applyMetadata(1, metadata.Partition{Leader: 1, LeaderEpoch: 1, PartitionEpoch: 1, Replicas: []int32{1, 2, 3}, ISR: []int32{1}})
	if hw := p.HighWatermark(); hw != end2 {
		t.Fatalf("hw %d after the ISR shrank to the leader, want %d", hw, end2)
	}
}

func TestWaitHighWatermark(t *testing.T) {
	p := leaderPartition(t)
	end := appendN(t, p, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := p.WaitHighWatermark(ctx, end, 2); !errors.Is(err, kerr.RequestTimedOut) {
		t.Fatalf("got %v, want REQUEST_TIMED_OUT", err)
	}
	done := make(chan error, 1)
	go func() { done <- p.WaitHighWatermark(context.Background(), end, 2) }()
	time.Sleep(10 * time.Millisecond)
	p.FollowerFetched(2, end)
	p.FollowerFetched(3, end)
	if err := <-done; err != nil {
		t.Fatalf("acks=all wait: %v", err)
	}

	// The ISR shrinks below min.insync.replicas while a produce waits.
	end = appendN(t, p, 1)
	go func() { done <- p.WaitHighWatermark(context.Background(), end, 2) }()
	time.Sleep(10 * time.Millisecond)
	p.applyMetadata(1, metadata.Partition{Leader: 1, LeaderEpoch: 1, PartitionEpoch: 1, Replicas: []int32{1, 2, 3}, ISR: []int32{1}})
	if err := <-done; !errors.Is(err, kerr.NotEnoughReplicasAfterAppend) {
		t.Fatalf("got %v, want NOT_ENOUGH_REPLICAS_AFTER_APPEND", err)
	}

	// Leadership moves away while a produce waits.
	p.applyMetadata(1, metadata.Partition{Leader: 1, LeaderEpoch: 1, PartitionEpoch: 2, Replicas: []int32{1, 2, 3}, ISR: []int32{1, 2}})
	end = appendN(t, p, 1)
	go func() { done <- p.WaitHighWatermark(context.Background(), end, 1) }()
	time.Sleep(10 * time.Millisecond)
	p.applyMetadata(1, metadata.Partition{Leader: 2, LeaderEpoch: 2, PartitionEpoch: 3, Replicas: []int32{1, 2, 3}, ISR: []int32{2}})
	if err := <-done; !errors.Is(err, kerr.NotLeaderForPartition) {
		t.Fatalf("got %v, want NOT_LEADER_OR_FOLLOWER", err)
	}
}

// A follower lagging past replica.lag.time.max.ms leaves the ISR; one at
// the high watermark joins.
func TestISRShrinkAndExpand(t *testing.T) {
	p := leaderPartition(t)
	end := appendN(t, p, 5)
	p.FollowerFetched(2, end)
	p.FollowerFetched(3, 0)
	time.Sleep(30 * time.Millisecond)
	p.FollowerFetched(2, end)
	isr, le, pe, ok := p.isrChange(20*time.Millisecond, -1)
	if !ok || len(isr) != 2 || isr[0] != 1 || isr[1] != 2 || le != 1 || pe != 0 {
		t.Fatalf("shrink: isr %v epochs %d/%d ok %v", isr, le, pe, ok)
	}
	if _, _, _, ok := p.isrChange(20*time.Millisecond, -1); ok {
		t.Fatal("a second change while one is in flight")
	}
	p.isrChangeDone()
	p.applyMetadata(1, metadata.Partition{Leader: 1, LeaderEpoch: 1, PartitionEpoch: 1, Replicas: []int32{1, 2, 3}, ISR: []int32{1, 2}})
	if p.FollowerFetched(3, 2) {
		t.Fatal("a follower below the high watermark may not join")
	}
	if !p.FollowerFetched(3, end) {
		t.Fatal("a caught-up follower must join the ISR")
	}
}

func TestLastBatchEpoch(t *testing.T) {
	for _, c := range []struct {
		entries [][2]int64
		leo     int64
		want    int32
	}{
		{nil, 0, -1},
		{[][2]int64{{0, 0}}, 0, -1},
		{[][2]int64{{0, 0}}, 5, 0},
		// Epoch 4 was assigned at 10 but nothing was written in it.
		{[][2]int64{{0, 0}, {3, 5}, {4, 10}}, 10, 3},
		{[][2]int64{{0, 0}, {3, 5}, {4, 10}}, 11, 4},
	} {
		if got := lastBatchEpoch(c.entries, c.leo); got != c.want {
			t.Errorf("lastBatchEpoch(%v, %d) = %d, want %d", c.entries, c.leo, got, c.want)
		}
	}
}
