package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// runScale measures Quill alone on what kfake has no counterpart for:
// many partitions on one node (idle RSS, produce spread over many
// partitions, clean restart) and restart after kill -9 with a large log.
func runScale(o options, bin, tmp string) error {
	readyTimeout = 10 * time.Minute
	var started []*broker
	defer func() {
		for _, b := range started {
			b.stop()
		}
	}()
	start := func() (*broker, error) {
		b, err := startQuill(bin, tmp, o.quillArgs)
		if err == nil {
			started = append(started, b)
		}
		return b, err
	}
	b, err := start()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()

	if o.scalePartitions > 0 {
		if b, err = manyPartitions(ctx, o, b, start); err != nil {
			return err
		}
	}
	return recovery(ctx, o, b, start)
}

// manyPartitions: idle RSS, produce spread, clean restart with
// -scale-partitions partitions. It returns the running broker.
func manyPartitions(ctx context.Context, o options, b *broker, start func() (*broker, error)) (*broker, error) {
	fmt.Printf("scale: %d partitions on one node\n", o.scalePartitions)
	t0 := time.Now()
	if err := createTopic(ctx, b.addr, "many", int32(o.scalePartitions)); err != nil {
		return nil, err
	}
	fmt.Printf("  create topic with %d partitions: %v\n", o.scalePartitions, time.Since(t0).Round(time.Millisecond))
	time.Sleep(3 * time.Second)
	fmt.Printf("  idle RSS: %s\n", rss(b.pid()))

	// Produce spread over -spread partitions against 8, same record count.
	n := o.n100
	rate := map[int]float64{}
	for _, parts := range []int{8, o.spread} {
		var vs []float64
		for r := range o.runs {
			res, err := produceRun(n, 100, parts, -1, fmt.Sprintf("spread%d", parts), false)(ctx, b, r)
			if err != nil {
				return nil, err
			}
			vs = append(vs, res.values[0])
		}
		rate[parts] = median(vs)
		fmt.Printf("  produce 100B acks=all over %d partitions: %s records/s (median of %d)\n", parts, fmtNum(rate[parts]), o.runs)
	}
	fmt.Printf("  ratio %d/8 partitions: %.2fx\n", o.spread, rate[o.spread]/rate[8])

	// Clean restart.
	t0 = time.Now()
	b.stop()
	stopped := time.Since(t0)
	t0 = time.Now()
	b, err := start()
	if err != nil {
		return nil, err
	}
	if err := produceOne(ctx, b.addr, "many", int32(o.scalePartitions-1)); err != nil {
		return nil, err
	}
	fmt.Printf("  clean shutdown %v, restart until a produce to the last partition is acknowledged %v\n",
		stopped.Round(time.Millisecond), time.Since(t0).Round(time.Millisecond))
	fmt.Printf("  RSS after restart: %s\n", rss(b.pid()))

	// Without the many partitions, so that the kill -9 below measures
	// the log's recovery.
	deleteTopic(b.addr, "many")
	b.stop()
	return start()
}

// recovery: restart after kill -9 with -recovery-gb of log.
func recovery(ctx context.Context, o options, b *broker, start func() (*broker, error)) error {
	if o.recoveryGB <= 0 {
		return nil
	}
	recs := int64(o.recoveryGB * (1 << 30) / 1024)
	fmt.Printf("recovery: %.1f GiB of 1 KiB records over 8 partitions, then kill -9\n", o.recoveryGB)
	t0 := time.Now()
	if _, err := produceRun(recs, 1024, 8, 1, "big", true)(ctx, b, 0); err != nil {
		return err
	}
	fmt.Printf("  produced in %v\n", time.Since(t0).Round(time.Millisecond))
	b.cmd.Process.Signal(syscall.SIGKILL)
	<-b.done
	t0 = time.Now()
	b, err := start()
	if err != nil {
		return err
	}
	listening := time.Since(t0)
	for p := range int32(8) {
		if err := produceOne(ctx, b.addr, "big-0", p); err != nil {
			return err
		}
	}
	fmt.Printf("  restart: listening after %v, every partition acknowledging produce after %v\n",
		listening.Round(time.Millisecond), time.Since(t0).Round(time.Millisecond))
	return nil
}

// produceOne produces one record to a partition and waits for its ack,
// retrying while the broker is still loading.
func produceOne(ctx context.Context, addr, topic string, partition int32) error {
	cl, err := newClient(addr, kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.RecordRetries(10000),
		kgo.RetryBackoffFn(func(int) time.Duration { return 10 * time.Millisecond }),
		kgo.MetadataMinAge(10*time.Millisecond))
	if err != nil {
		return err
	}
	defer cl.Close()
	return cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Partition: partition, Value: []byte("x")}).FirstErr()
}

// rss is VmRSS from /proc/<pid>/status.
func rss(pid int) string {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return "?"
}
