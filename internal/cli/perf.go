package cli

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

type perfOpts struct {
	numRecords  int64
	recordSize  int
	throughput  float64
	acks        string
	compression string
	producers   int
	partitions  int32
	rf          int16
	batchMax    int32
	lingerMs    int
	idempotent  bool
	timeout     time.Duration
	interval    time.Duration
	output      string
}

// perfSummary is the final report. With -o json it is the machine-readable
// interface benchmark tooling parses: keep field names stable.
type perfSummary struct {
	Mode          string          `json:"mode" yaml:"mode"`
	Topic         string          `json:"topic" yaml:"topic"`
	Records       int64           `json:"records" yaml:"records"`
	Failed        int64           `json:"failed" yaml:"failed"`
	Bytes         int64           `json:"bytes" yaml:"bytes"`
	ElapsedSec    float64         `json:"elapsed_sec" yaml:"elapsed_sec"`
	RecordsPerSec float64         `json:"records_per_sec" yaml:"records_per_sec"`
	MBPerSec      float64         `json:"mb_per_sec" yaml:"mb_per_sec"`
	Latency       *latencySummary `json:"latency,omitempty" yaml:"latency,omitempty"`
	Interrupted   bool            `json:"interrupted" yaml:"interrupted"`
}

func newPerfCmd() *cobra.Command {
	g := new(globals)
	c := &cobra.Command{
		Use:   "perf",
		Short: "Measure produce, consume and end-to-end throughput and latency",
		Long: `Load generators in the spirit of kafka-producer-perf-test.sh, with its flag
names. Progress goes to stderr (a live line on a terminal, a line every 5s
otherwise); the summary goes to stdout, as text or, with -o json, as one JSON
object (fields: mode, topic, records, failed, bytes, elapsed_sec,
records_per_sec, mb_per_sec (MB = 1024*1024 bytes), latency {count, avg_ms,
p50_ms, p95_ms, p99_ms, p99_9_ms, max_ms}, interrupted).

Latency is the producer's acknowledgement latency for produce, and the time
from producing a record to consuming it for e2e (the send time travels in the
first 8 bytes of each value, so --record-size is at least 8 there).`,
		Example: `  quill perf produce bench --num-records 1000000 --record-size 100 --throughput -1 --partitions 6
  quill perf produce bench --num-records 100000 --record-size 1024 --throughput 10000 --acks 1 --compression lz4 -o json
  quill perf consume bench --num-records 1000000
  quill perf e2e bench --num-records 10000 --throughput 1000`,
	}
	g.register(c)
	c.AddCommand(
		newPerfSubCmd(g, "produce", "Produce records as fast as allowed and report ack latency"),
		newPerfSubCmd(g, "consume", "Consume records from the start of a topic and report throughput"),
		newPerfSubCmd(g, "e2e", "Produce and consume at once and report produce-to-consume latency"),
	)
	return c
}

func newPerfSubCmd(g *globals, mode, short string) *cobra.Command {
	var o perfOpts
	c := &cobra.Command{
		Use:   mode + " TOPIC",
		Short: short,
		Args:  exactArgs(1, "one TOPIC"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runPerf(cmd, g, mode, args[0], o)
		},
	}
	f := c.Flags()
	f.Int64Var(&o.numRecords, "num-records", 100000, "number of records to produce / consume")
	f.DurationVar(&o.interval, "reporting-interval", 0, "progress interval (default 1s on a terminal, 5s otherwise)")
	addOutputFlag(c, &o.output)
	switch mode {
	case "produce", "e2e":
		f.IntVar(&o.recordSize, "record-size", 100, "bytes per record value")
		f.Float64Var(&o.throughput, "throughput", -1, "records/s cap across all producers (-1: unlimited)")
		f.StringVar(&o.acks, "acks", "all", "all (-1), 1 or 0")
		f.StringVar(&o.compression, "compression", "none", "none, gzip, snappy, lz4 or zstd")
		f.IntVar(&o.producers, "producers", 1, "number of concurrent producer clients")
		f.Int32Var(&o.partitions, "partitions", 0, "create the topic with this many partitions if it is missing")
		f.Int16Var(&o.rf, "replication-factor", -1, "replication factor when creating the topic (-1: broker default)")
		f.Int32Var(&o.batchMax, "batch-max-bytes", 0, "maximum bytes per batch (0: client default, 1MB)")
		f.IntVar(&o.lingerMs, "linger-ms", 5, "wait up to this many ms to fill batches (Kafka's linger.ms default: 5)")
		f.BoolVar(&o.idempotent, "idempotent", false, "idempotent producers (needs --acks all)")
	}
	if mode != "produce" {
		f.DurationVar(&o.timeout, "timeout", 30*time.Second, "give up after this long without receiving a record")
	}
	switch mode {
	case "produce":
		c.Example = `  quill perf produce bench --num-records 1000000 --record-size 100 --throughput -1 --partitions 6
  quill perf produce bench --num-records 100000 --producers 4 --acks 1 --linger-ms 5 -o json`
	case "consume":
		c.Example = `  quill perf consume bench --num-records 1000000 -o json`
	case "e2e":
		c.Example = `  quill perf e2e bench --num-records 10000 --throughput 1000 --partitions 1`
	}
	return c
}

func runPerf(cmd *cobra.Command, g *globals, mode, topic string, o perfOpts) error {
	if err := checkOutput(o.output); err != nil {
		return err
	}
	if o.numRecords <= 0 {
		return usageErrorf("--num-records must be positive")
	}
	var popts []kgo.Opt
	if mode != "consume" {
		if o.producers <= 0 {
			return usageErrorf("--producers must be positive")
		}
		if o.recordSize < 0 || (mode == "e2e" && o.recordSize < 8) {
			return usageErrorf("--record-size must be at least %d", map[bool]int{true: 8, false: 0}[mode == "e2e"])
		}
		if o.throughput == 0 || o.throughput < -1 {
			return usageErrorf("--throughput must be positive or -1 (unlimited)")
		}
		var err error
		if popts, err = producerOpts(o.acks, o.compression, o.idempotent, o.lingerMs, o.batchMax); err != nil {
			return err
		}
	}
	interval := o.interval
	tty := isTerminal(cmd.ErrOrStderr())
	if interval <= 0 {
		interval = 5 * time.Second
		if tty {
			interval = time.Second
		}
	}

	admin, err := g.open(cmd, true)
	if err != nil {
		return err
	}
	defer admin.close()
	if err := ensurePerfTopic(admin, topic, o.partitions, o.rf); err != nil {
		return err
	}
	parent := cmd.Context()
	if parent == nil {
		parent = context.Background()
	}
	ctx, stop := signal.NotifyContext(parent, os.Interrupt, syscall.SIGTERM)
	defer stop()

	run := &perfRun{mode: mode, topic: topic, o: o, g: g, cmd: cmd, hist: new(histogram)}
	prog := startProgress(cmd.ErrOrStderr(), tty, interval, run)
	var sum perfSummary
	switch mode {
	case "produce":
		sum, err = run.produce(ctx, popts)
	case "consume":
		sum, err = run.consume(ctx, admin)
	case "e2e":
		sum, err = run.e2e(ctx, admin, popts)
	}
	prog.stop()
	if err != nil {
		return err
	}
	sum.Interrupted = ctx.Err() != nil
	w := cmd.OutOrStdout()
	if o.output != outTable {
		if err := emit(w, o.output, sum); err != nil {
			return err
		}
	} else {
		writePerfText(w, sum)
	}
	if sum.Failed > 0 {
		return &cliError{code: exitError, err: fmt.Errorf("%d record(s) failed; first error: %v", sum.Failed, run.firstErr())}
	}
	if mode != "produce" && sum.Records < o.numRecords && !sum.Interrupted {
		return &cliError{code: exitError, err: fmt.Errorf("received only %d of %d records before --timeout %s passed without progress", sum.Records, o.numRecords, o.timeout)}
	}
	return nil
}

// ensurePerfTopic creates the topic when it is missing and --partitions is
// given, and explains what to do when it is missing and not.
func ensurePerfTopic(s *session, topic string, partitions int32, rf int16) error {
	tds, err := s.adm.ListTopics(s.ctx, topic)
	if err != nil {
		return s.explain(err)
	}
	if td, ok := tds[topic]; ok && td.Err == nil {
		return nil
	} else if ok && td.Err != nil && !errors.Is(td.Err, kerr.UnknownTopicOrPartition) {
		return resultErr("topic "+topic, td.Err, "")
	}
	if partitions <= 0 {
		return &cliError{code: exitError, err: fmt.Errorf("topic %s does not exist: create it with `quill topic create` (perf produce and e2e: or pass --partitions N)", topic)}
	}
	r, err := s.adm.CreateTopic(s.ctx, partitions, rf, nil, topic)
	if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		return resultErr("creating topic "+topic, err, r.ErrMessage)
	}
	return nil
}

// perfRun holds the counters the progress reporter reads while a run goes.
type perfRun struct {
	mode, topic string
	o           perfOpts
	g           *globals
	cmd         *cobra.Command
	hist        *histogram

	records atomic.Int64 // acknowledged (produce) or received (consume, e2e)
	bytes   atomic.Int64
	failed  atomic.Int64
	errMu   sync.Mutex
	err     error
	started time.Time
}

func (r *perfRun) fail(err error) {
	r.failed.Add(1)
	r.errMu.Lock()
	if r.err == nil {
		r.err = err
	}
	r.errMu.Unlock()
}

func (r *perfRun) firstErr() error {
	r.errMu.Lock()
	defer r.errMu.Unlock()
	return r.err
}

func (r *perfRun) summary(latency bool) perfSummary {
	el := time.Since(r.started).Seconds()
	s := perfSummary{Mode: r.mode, Topic: r.topic, Records: r.records.Load(), Failed: r.failed.Load(),
		Bytes: r.bytes.Load(), ElapsedSec: el}
	if el > 0 {
		s.RecordsPerSec = float64(s.Records) / el
		s.MBPerSec = float64(s.Bytes) / el / (1 << 20)
	}
	if latency {
		l := r.hist.summary()
		s.Latency = &l
	}
	return s
}

// produceLoad runs --producers clients producing --num-records in total at
// up to --throughput records/s. stamp, if set, writes the send time into
// each record's value (e2e); otherwise one random payload is shared.
func (r *perfRun) produceLoad(ctx context.Context, popts []kgo.Opt, stamp bool) error {
	payload := make([]byte, r.o.recordSize)
	_, _ = rand.Read(payload)
	opts := append([]kgo.Opt{kgo.DefaultProduceTopic(r.topic)}, popts...)
	var wg sync.WaitGroup
	errs := make(chan error, 2*r.o.producers)
	per := r.o.numRecords / int64(r.o.producers)
	// Connect every producer before any starts, so a failure leaves
	// nothing running.
	sessions := make([]*session, 0, r.o.producers)
	for i := 0; i < r.o.producers; i++ {
		s, err := r.g.open(r.cmd, false, opts...)
		if err != nil {
			for _, s := range sessions {
				s.close()
			}
			return err
		}
		sessions = append(sessions, s)
	}
	for i, s := range sessions {
		n := per
		if i == 0 {
			n += r.o.numRecords % int64(r.o.producers)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer s.close()
			rate := r.o.throughput / float64(r.o.producers)
			start := time.Now()
			for j := int64(0); j < n && ctx.Err() == nil && s.ctx.Err() == nil; j++ {
				if rate > 0 {
					due := start.Add(time.Duration(float64(j) / rate * float64(time.Second)))
					if d := time.Until(due); d > time.Millisecond {
						select {
						case <-time.After(d):
						case <-ctx.Done():
						}
					}
				}
				value := payload
				if stamp {
					value = make([]byte, len(payload))
					copy(value, payload)
					binary.BigEndian.PutUint64(value, uint64(time.Now().UnixNano()))
				}
				sent := time.Now()
				s.cl.Produce(ctx, &kgo.Record{Value: value}, func(rec *kgo.Record, err error) {
					if err != nil {
						if !errors.Is(err, context.Canceled) {
							r.fail(s.explain(err))
						}
						return
					}
					if !stamp {
						r.hist.record(time.Since(sent))
						r.records.Add(1)
						r.bytes.Add(int64(len(rec.Value)))
					}
				})
			}
			if err := s.cl.Flush(context.Background()); err != nil {
				errs <- s.explain(err)
			}
			var de *dialError
			if cause := context.Cause(s.ctx); errors.As(cause, &de) {
				errs <- s.explain(cause)
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}

func (r *perfRun) produce(ctx context.Context, popts []kgo.Opt) (perfSummary, error) {
	r.started = time.Now()
	if err := r.produceLoad(ctx, popts, false); err != nil {
		return perfSummary{}, err
	}
	return r.summary(true), nil
}

// consumeLoad reads until want records arrived, ctx ends, or timeout passes
// without a record. onRecord sees each record.
func (r *perfRun) consumeLoad(ctx context.Context, s *session, want int64, onRecord func(*kgo.Record)) error {
	idle := time.NewTimer(r.o.timeout)
	defer idle.Stop()
	pollCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-idle.C:
			cancel()
		case <-pollCtx.Done():
		}
	}()
	for r.records.Load() < want {
		fetches := s.cl.PollRecords(pollCtx, int(min(want-r.records.Load(), 10000)))
		if pollCtx.Err() != nil || fetches.IsClientClosed() {
			break
		}
		n := 0
		fetches.EachRecord(func(rec *kgo.Record) {
			n++
			if onRecord != nil {
				onRecord(rec)
			}
			r.records.Add(1)
			r.bytes.Add(int64(len(rec.Value) + len(rec.Key)))
		})
		if n > 0 {
			idle.Reset(r.o.timeout)
		}
	}
	var de *dialError
	if cause := context.Cause(s.ctx); errors.As(cause, &de) {
		return s.explain(cause)
	}
	return nil
}

func (r *perfRun) consume(ctx context.Context, admin *session) (perfSummary, error) {
	s, err := r.g.open(r.cmd, false, kgo.ConsumeTopics(r.topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		return perfSummary{}, err
	}
	defer s.close()
	r.started = time.Now()
	if err := r.consumeLoad(ctx, s, r.o.numRecords, nil); err != nil {
		return perfSummary{}, err
	}
	return r.summary(false), nil
}

// e2e starts a consumer at the current end of every partition, then
// produces; latency is consume time minus the send time in the value.
func (r *perfRun) e2e(ctx context.Context, admin *session, popts []kgo.Opt) (perfSummary, error) {
	ends, err := pollOffsets(admin.ctx, func(ctx context.Context) (kadm.ListedOffsets, error) {
		return admin.adm.ListEndOffsets(ctx, r.topic)
	})
	if err != nil {
		return perfSummary{}, admin.explain(err)
	}
	if err := ends.Error(); err != nil {
		return perfSummary{}, resultErr("end offsets of "+r.topic, err, "")
	}
	parts := make(map[int32]kgo.Offset)
	ends.Each(func(lo kadm.ListedOffset) {
		parts[lo.Partition] = kgo.NewOffset().At(lo.Offset)
	})
	s, err := r.g.open(r.cmd, false, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{r.topic: parts}))
	if err != nil {
		return perfSummary{}, err
	}
	defer s.close()
	r.started = time.Now()
	prodErr := make(chan error, 1)
	go func() { prodErr <- r.produceLoad(ctx, popts, true) }()
	cerr := r.consumeLoad(ctx, s, r.o.numRecords, func(rec *kgo.Record) {
		if len(rec.Value) >= 8 {
			sent := int64(binary.BigEndian.Uint64(rec.Value))
			r.hist.record(time.Duration(time.Now().UnixNano() - sent))
		}
	})
	if perr := <-prodErr; perr != nil {
		return perfSummary{}, perr
	}
	if cerr != nil {
		return perfSummary{}, cerr
	}
	return r.summary(true), nil
}

func writePerfText(w io.Writer, s perfSummary) {
	verb := map[string]string{"produce": "sent", "consume": "received", "e2e": "received"}[s.Mode]
	fmt.Fprintf(w, "%d records %s, %.1f records/sec (%.2f MB/sec) in %.2fs", s.Records, verb, s.RecordsPerSec, s.MBPerSec, s.ElapsedSec)
	if s.Failed > 0 {
		fmt.Fprintf(w, ", %d failed", s.Failed)
	}
	if l := s.Latency; l != nil {
		kind := "ack"
		if s.Mode == "e2e" {
			kind = "end-to-end"
		}
		fmt.Fprintf(w, "\n%s latency: %.2f ms avg, %.2f ms p50, %.2f ms p95, %.2f ms p99, %.2f ms p99.9, %.2f ms max",
			kind, l.Avg, l.P50, l.P95, l.P99, l.P999, l.Max)
	}
	if s.Interrupted {
		fmt.Fprint(w, " (interrupted)")
	}
	fmt.Fprintln(w)
}

// progress prints the windowed rate while a run goes: on a terminal it
// rewrites one line, otherwise it prints a line per interval.
type progress struct {
	done chan struct{}
	wg   sync.WaitGroup
}

func startProgress(w io.Writer, tty bool, every time.Duration, r *perfRun) *progress {
	p := &progress{done: make(chan struct{})}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		var lastRecs, lastBytes int64
		last := time.Now()
		printed := false
		for {
			select {
			case <-p.done:
				if tty && printed {
					fmt.Fprint(w, "\r\033[K")
				}
				return
			case now := <-t.C:
				recs, bytes := r.records.Load(), r.bytes.Load()
				sec := now.Sub(last).Seconds()
				line := fmt.Sprintf("%d records, %.1f records/sec (%.2f MB/sec)", recs,
					float64(recs-lastRecs)/sec, float64(bytes-lastBytes)/sec/(1<<20))
				if r.hist.total.Load() > 0 {
					line += fmt.Sprintf(", p50 %.2f ms, p99 %.2f ms, max %.2f ms",
						float64(r.hist.quantile(0.5))/1000, float64(r.hist.quantile(0.99))/1000, float64(r.hist.maxUs.Load())/1000)
				}
				if f := r.failed.Load(); f > 0 {
					line += fmt.Sprintf(", %d failed", f)
				}
				if tty {
					fmt.Fprint(w, "\r\033[K"+line)
				} else {
					fmt.Fprintln(w, line)
				}
				printed = true
				lastRecs, lastBytes, last = recs, bytes, now
			}
		}
	}()
	return p
}

func (p *progress) stop() {
	close(p.done)
	p.wg.Wait()
}
