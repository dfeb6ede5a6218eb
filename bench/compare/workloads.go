package main

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// result is one run of a workload: its metric values (in the order of
// workload.metrics), the records it moved and the broker CPU it cost.
type result struct {
	values  []float64
	records int64
	cpu     time.Duration
}

func (r result) String() string {
	var s []string
	for _, v := range r.values {
		s = append(s, fmtNum(v))
	}
	return fmt.Sprintf("%s, %d records, broker CPU %v", strings.Join(s, " "), r.records, r.cpu)
}

type workload struct {
	name    string
	metrics []string
	run     func(ctx context.Context, b *broker, run int) (result, error)
}

func workloads(o options) []workload {
	// The consume workloads read topics the produce workloads left behind
	// (their first run), so they read what was produced, from the page
	// cache for Quill.
	return []workload{
		{"produce 100B x8 acks=1", []string{"records/s"}, produceRun(o.n100, 100, 8, 1, "p100-a1", false)},
		{"produce 100B x8 acks=all", []string{"records/s"}, produceRun(o.n100, 100, 8, -1, "p100-all", true)},
		{"produce 1KiB x1 acks=all", []string{"MB/s"}, produceRun(o.n1k, 1024, 1, -1, "p1k-1", false)},
		{"produce 1KiB x8 acks=all", []string{"MB/s"}, produceRun(o.n1k, 1024, 8, -1, "p1k-8", true)},
		{"consume 1KiB x8", []string{"MB/s"}, consumeRun("p1k-8", o.n1k, 1024)},
		{"consume 100B x8", []string{"records/s"}, consumeRun("p100-all", o.n100, 100)},
		{"e2e 1KiB acks=all", []string{"p50 ms", "p99 ms"}, e2eRun(o.e2e, o.e2eRate, 1024)},
	}
}

func newClient(addr string, opts ...kgo.Opt) (*kgo.Client, error) {
	return kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr)}, opts...)...)
}

func pingBroker(ctx context.Context, addr string) error {
	cl, err := newClient(addr, kgo.RetryBackoffFn(func(int) time.Duration { return 10 * time.Millisecond }))
	if err != nil {
		return err
	}
	defer cl.Close()
	return cl.Ping(ctx)
}

// createTopic creates a topic and waits until its partitions have leaders.
func createTopic(ctx context.Context, addr, topic string, partitions int32) error {
	// Creating thousands of partitions takes a while: no client timeout
	// beyond ctx.
	cl, err := newClient(addr, kgo.RequestTimeoutOverhead(10*time.Minute))
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	r, err := adm.CreateTopic(ctx, partitions, 1, nil, topic)
	if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		return fmt.Errorf("create %s: %w (%s)", topic, err, r.ErrMessage)
	}
	for ctx.Err() == nil {
		md, err := adm.Metadata(ctx, topic)
		if err == nil {
			if t, ok := md.Topics[topic]; ok && t.Err == nil && len(t.Partitions) == int(partitions) {
				ready := true
				for _, p := range t.Partitions {
					ready = ready && p.Leader >= 0 && p.Err == nil
				}
				if ready {
					return nil
				}
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return ctx.Err()
}

func deleteTopic(addr, topic string) {
	cl, err := newClient(addr)
	if err != nil {
		return
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	kadm.NewClient(cl).DeleteTopics(ctx, topic)
}

// produceRun produces n records of size bytes from one client. The topic
// of the first run is kept when keepFirst (consume workloads read it);
// others are deleted after the run, so kfake's memory stays bounded.
func produceRun(n int64, size, partitions int, acks int16, prefix string, keepFirst bool) func(context.Context, *broker, int) (result, error) {
	return func(ctx context.Context, b *broker, run int) (result, error) {
		topic := fmt.Sprintf("%s-%d", prefix, run)
		if err := createTopic(ctx, b.addr, topic, int32(partitions)); err != nil {
			return result{}, err
		}
		if !keepFirst || run > 0 {
			defer deleteTopic(b.addr, topic)
		}
		opts := []kgo.Opt{kgo.DefaultProduceTopic(topic)}
		if acks == 1 {
			opts = append(opts, kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite())
		} else {
			opts = append(opts, kgo.RequiredAcks(kgo.AllISRAcks()))
		}
		cl, err := newClient(b.addr, opts...)
		if err != nil {
			return result{}, err
		}
		defer cl.Close()
		payload := make([]byte, size)
		rand.Read(payload)
		var failed atomic.Int64
		var firstErr atomic.Value
		cb := func(_ *kgo.Record, err error) {
			if err != nil && failed.Add(1) == 1 {
				firstErr.Store(err)
			}
		}
		cpu0 := b.cpu()
		start := time.Now()
		for range n {
			cl.Produce(ctx, &kgo.Record{Value: payload}, cb)
		}
		if err := cl.Flush(ctx); err != nil {
			return result{}, err
		}
		el := time.Since(start).Seconds()
		cpu := b.cpu() - cpu0
		if f := failed.Load(); f > 0 {
			return result{}, fmt.Errorf("%d records failed: %v", f, firstErr.Load())
		}
		v := float64(n) / el
		if size >= 1024 {
			v = float64(n) * float64(size) / el / 1e6
		}
		return result{values: []float64{v}, records: n, cpu: cpu}, nil
	}
}

// consumeRun reads n records from the start of the first run's topic
// prefix-0, with no group.
func consumeRun(prefix string, n int64, size int) func(context.Context, *broker, int) (result, error) {
	return func(ctx context.Context, b *broker, run int) (result, error) {
		topic := prefix + "-0"
		cpu0 := b.cpu()
		start := time.Now()
		cl, err := newClient(b.addr, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
		if err != nil {
			return result{}, err
		}
		defer cl.Close()
		var got, bytes int64
		for got < n {
			fs := cl.PollFetches(ctx)
			if ctx.Err() != nil {
				return result{}, fmt.Errorf("got %d of %d records: %w", got, n, ctx.Err())
			}
			var ferr error
			fs.EachError(func(_ string, _ int32, err error) { ferr = err })
			if ferr != nil {
				return result{}, ferr
			}
			fs.EachRecord(func(r *kgo.Record) {
				got++
				bytes += int64(len(r.Value))
			})
		}
		el := time.Since(start).Seconds()
		cpu := b.cpu() - cpu0
		v := float64(got) / el
		if size >= 1024 {
			v = float64(bytes) / el / 1e6
		}
		return result{values: []float64{v}, records: got, cpu: cpu}, nil
	}
}

// e2eRun produces rate records/s of size bytes for d (acks=all, one
// partition) with the send time in each value, while a consumer in the
// same process notes when each arrives.
func e2eRun(d time.Duration, rate, size int) func(context.Context, *broker, int) (result, error) {
	return func(ctx context.Context, b *broker, run int) (result, error) {
		topic := fmt.Sprintf("e2e-%d", run)
		if err := createTopic(ctx, b.addr, topic, 1); err != nil {
			return result{}, err
		}
		defer deleteTopic(b.addr, topic)
		n := int64(d.Seconds() * float64(rate))
		cons, err := newClient(b.addr, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
			kgo.FetchMaxWait(time.Second))
		if err != nil {
			return result{}, err
		}
		defer cons.Close()
		// linger 0: each record goes out at once (the client default
		// lingers 10 ms to fill batches, which would dominate latency).
		prod, err := newClient(b.addr, kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(0))
		if err != nil {
			return result{}, err
		}
		defer prod.Close()
		// Warm both connections (metadata, first fetch) before timing.
		if err := prod.ProduceSync(ctx, &kgo.Record{Value: make([]byte, size)}).FirstErr(); err != nil {
			return result{}, err
		}
		lat := make([]time.Duration, 0, n)
		var mu sync.Mutex
		done := make(chan error, 1)
		go func() {
			var got int64
			for got < n+1 {
				fs := cons.PollFetches(ctx)
				if ctx.Err() != nil {
					done <- fmt.Errorf("got %d of %d records: %w", got, n+1, ctx.Err())
					return
				}
				now := time.Now().UnixNano()
				mu.Lock()
				fs.EachRecord(func(r *kgo.Record) {
					got++
					if sent := int64(binary.BigEndian.Uint64(r.Value)); sent > 0 {
						lat = append(lat, time.Duration(now-sent))
					}
				})
				mu.Unlock()
			}
			done <- nil
		}()
		cpu0 := b.cpu()
		start := time.Now()
		for j := range n {
			due := start.Add(time.Duration(float64(j) / float64(rate) * float64(time.Second)))
			if w := time.Until(due); w > 0 {
				time.Sleep(w)
			}
			v := make([]byte, size)
			binary.BigEndian.PutUint64(v, uint64(time.Now().UnixNano()))
			prod.Produce(ctx, &kgo.Record{Value: v}, nil)
		}
		if err := prod.Flush(ctx); err != nil {
			return result{}, err
		}
		if err := <-done; err != nil {
			return result{}, err
		}
		cpu := b.cpu() - cpu0
		mu.Lock()
		defer mu.Unlock()
		slices.Sort(lat)
		pct := func(p float64) float64 {
			if len(lat) == 0 {
				return 0
			}
			return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Microseconds()) / 1e3
		}
		return result{values: []float64{pct(0.50), pct(0.99)}, records: n, cpu: cpu}, nil
	}
}

func numCPU() int { return runtime.NumCPU() }
