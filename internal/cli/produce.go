package cli

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kgo"
)

// maxReportedFailures bounds how many per-record failures produce prints;
// the summary always has the total.
const maxReportedFailures = 10

type produceOpts struct {
	file         string
	keySep       string
	headers      []string
	partition    int32
	acks         string
	compression  string
	idempotent   bool
	lingerMs     int
	maxBatchSize int32
}

func newProduceCmd() *cobra.Command {
	g := new(globals)
	var o produceOpts
	c := &cobra.Command{
		Use:   "produce TOPIC",
		Short: "Write one record per input line to a topic",
		Long: `Read lines from stdin (or --file) and produce each as one record.

With --key-separator, a line is split at the first separator into key and
value; lines without the separator get no key. Trailing "\n" or "\r\n" is
stripped. A summary goes to stderr; the exit status is 1 if any record was not
acknowledged, with the first failures printed.`,
		Example: `  echo 'hello' | quill produce orders
  printf 'k1:v1\nk2:v2\n' | quill produce orders --key-separator :
  quill produce orders --file records.txt --acks 1 --compression zstd
  quill produce orders --header source=cli --header trace=abc --partition 0`,
		Args: exactArgs(1, "one TOPIC"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runProduce(cmd, g, args[0], o)
		},
	}
	g.register(c)
	f := c.Flags()
	f.StringVarP(&o.file, "file", "f", "", "read lines from FILE instead of stdin")
	f.StringVarP(&o.keySep, "key-separator", "K", "", "split each line at the first SEP into key and value")
	f.StringArrayVarP(&o.headers, "header", "H", nil, "record header KEY=VALUE added to every record (repeatable)")
	f.Int32VarP(&o.partition, "partition", "p", -1, "produce to this partition (-1: hash the key; keyless records are spread)")
	f.StringVar(&o.acks, "acks", "all", "acknowledgement: all (-1), 1 (leader) or 0 (none)")
	f.StringVarP(&o.compression, "compression", "z", "none", "compression: none, gzip, snappy, lz4 or zstd")
	f.BoolVar(&o.idempotent, "idempotent", false, "idempotent producer (needs --acks all)")
	f.IntVar(&o.lingerMs, "linger-ms", 10, "wait up to this many ms to fill batches (0: send at once)")
	f.Int32Var(&o.maxBatchSize, "batch-max-bytes", 0, "maximum bytes per batch (0: client default, 1MB)")
	return c
}

// producerOpts translates the flags shared by produce and perf produce.
func producerOpts(acks, compression string, idempotent bool, lingerMs int, batchMax int32) ([]kgo.Opt, error) {
	var opts []kgo.Opt
	switch acks {
	case "all", "-1":
		opts = append(opts, kgo.RequiredAcks(kgo.AllISRAcks()))
	case "1":
		opts = append(opts, kgo.RequiredAcks(kgo.LeaderAck()))
	case "0":
		opts = append(opts, kgo.RequiredAcks(kgo.NoAck()))
	default:
		return nil, usageErrorf("--acks %q: must be all, -1, 1 or 0", acks)
	}
	if idempotent {
		if acks != "all" && acks != "-1" {
			return nil, usageErrorf("--idempotent needs --acks all (got --acks %s)", acks)
		}
	} else {
		opts = append(opts, kgo.DisableIdempotentWrite())
	}
	codec, err := compressionCodec(compression)
	if err != nil {
		return nil, err
	}
	opts = append(opts, kgo.ProducerBatchCompression(codec))
	if lingerMs < 0 {
		return nil, usageErrorf("--linger-ms must not be negative")
	}
	opts = append(opts, kgo.ProducerLinger(time.Duration(lingerMs)*time.Millisecond))
	if batchMax < 0 {
		return nil, usageErrorf("--batch-max-bytes must not be negative")
	}
	if batchMax > 0 {
		opts = append(opts, kgo.ProducerBatchMaxBytes(batchMax))
	}
	return opts, nil
}

func compressionCodec(name string) (kgo.CompressionCodec, error) {
	switch strings.ToLower(name) {
	case "none", "":
		return kgo.NoCompression(), nil
	case "gzip":
		return kgo.GzipCompression(), nil
	case "snappy":
		return kgo.SnappyCompression(), nil
	case "lz4":
		return kgo.Lz4Compression(), nil
	case "zstd":
		return kgo.ZstdCompression(), nil
	}
	return kgo.CompressionCodec{}, usageErrorf("--compression %q: must be none, gzip, snappy, lz4 or zstd", name)
}

func parseHeaders(hs []string) ([]kgo.RecordHeader, error) {
	var out []kgo.RecordHeader
	for _, h := range hs {
		k, v, ok := strings.Cut(h, "=")
		if !ok || k == "" {
			return nil, usageErrorf("--header %q: want KEY=VALUE", h)
		}
		out = append(out, kgo.RecordHeader{Key: k, Value: []byte(v)})
	}
	return out, nil
}

func runProduce(cmd *cobra.Command, g *globals, topic string, o produceOpts) error {
	headers, err := parseHeaders(o.headers)
	if err != nil {
		return err
	}
	opts, err := producerOpts(o.acks, o.compression, o.idempotent, o.lingerMs, o.maxBatchSize)
	if err != nil {
		return err
	}
	opts = append(opts, kgo.DefaultProduceTopic(topic))
	if o.partition >= 0 {
		opts = append(opts, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	} else if o.partition < -1 {
		return usageErrorf("--partition must be a partition number or -1")
	}
	var in io.Reader = cmd.InOrStdin()
	if o.file != "" {
		f, err := os.Open(o.file)
		if err != nil {
			return usageErrorf("--file: %v", err)
		}
		defer f.Close()
		in = f
	}
	s, err := g.open(cmd, false, opts...)
	if err != nil {
		return err
	}
	defer s.close()
	ctx, stop := signal.NotifyContext(s.ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	var (
		sent, acked, failed atomic.Int64
		mu                  sync.Mutex
		firstErr            error
	)
	stderr := cmd.ErrOrStderr()
	start := time.Now()
	var sep []byte
	if o.keySep != "" {
		sep = []byte(o.keySep)
	}
	// Lines are read on their own goroutine so that a signal ends the
	// loop even while a read from a terminal blocks.
	lines := make(chan []byte, 1024)
	readErrs := make(chan error, 1)
	go func() {
		defer close(lines)
		r := bufio.NewReaderSize(in, 64<<10)
		for {
			b, err := r.ReadBytes('\n')
			if len(b) > 0 || err == nil {
				b = bytes.TrimSuffix(b, []byte("\n"))
				b = bytes.TrimSuffix(b, []byte("\r"))
				select {
				case lines <- b:
				case <-ctx.Done():
					return
				}
			}
			if err != nil {
				if !errors.Is(err, io.EOF) {
					readErrs <- err
				}
				return
			}
		}
	}()
	line := int64(0)
loop:
	for {
		var b []byte
		var ok bool
		select {
		case b, ok = <-lines:
			if !ok {
				break loop
			}
		case <-ctx.Done():
			break loop
		}
		line++
		rec := &kgo.Record{Value: b, Headers: headers}
		if o.partition >= 0 {
			rec.Partition = o.partition
		}
		if sep != nil {
			if k, v, ok := bytes.Cut(b, sep); ok {
				rec.Key, rec.Value = k, v
			}
		}
		sent.Add(1)
		lineNo := line
		// s.ctx, not ctx: an interrupt stops reading, but records
		// already handed over are still delivered and counted.
		s.cl.Produce(s.ctx, rec, func(r *kgo.Record, err error) {
			if err == nil {
				acked.Add(1)
				return
			}
			n := failed.Add(1)
			err = s.explain(err)
			mu.Lock()
			if firstErr == nil {
				firstErr = err
			}
			mu.Unlock()
			if n <= maxReportedFailures {
				fmt.Fprintf(stderr, "error: line %d not acknowledged: %v\n", lineNo, err)
			} else if n == maxReportedFailures+1 {
				fmt.Fprintln(stderr, "error: further failures not shown")
			}
		})
	}
	// Flush what was handed over even when interrupted, so acknowledged
	// counts are exact; a second signal ends the process by default.
	stop()
	flushCtx, cancel := context.WithTimeout(s.ctx, s.settings.requestTimeout+10*time.Second)
	defer cancel()
	if err := s.cl.Flush(flushCtx); err != nil && firstErr == nil {
		firstErr = s.explain(err)
	}
	var readErr error
	select {
	case readErr = <-readErrs:
	default:
	}
	elapsed := time.Since(start)
	fmt.Fprintf(stderr, "Produced %d record(s) to %s: %d acknowledged, %d failed, in %s\n",
		sent.Load(), topic, acked.Load(), failed.Load(), elapsed.Round(time.Millisecond))
	switch {
	case readErr != nil:
		return &cliError{code: exitError, err: fmt.Errorf("reading input: %w", readErr)}
	case failed.Load() > 0 || acked.Load() < sent.Load():
		mu.Lock()
		defer mu.Unlock()
		if firstErr == nil {
			firstErr = errors.New("interrupted before all records were acknowledged")
		}
		return &cliError{code: exitError, err: fmt.Errorf("%d of %d record(s) not acknowledged; first error: %w",
			sent.Load()-acked.Load(), sent.Load(), firstErr)}
	}
	return nil
}
