package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

type consumeOpts struct {
	fromBeginning bool
	offset        string
	timestamp     string
	group         string
	maxMessages   int
	isolation     string
	format        string
	partitions    []int32
}

func newConsumeCmd() *cobra.Command {
	g := new(globals)
	var o consumeOpts
	c := &cobra.Command{
		Use:   "consume TOPIC...",
		Short: "Print records of topics",
		Long: `Print records as they arrive, by default only new ones (from the end).

Start position (--from-beginning, --offset, --timestamp): without --group it
is where reading starts; with --group it applies only to partitions for
which the group has no committed offset yet (committed offsets win; move
them with ` + "`quill group reset-offsets`" + `).

--offset accepts: start, end, N (exact offset), -N (N records before the end
of each partition).

--format is a printf-like template (the default is '%v\n'):
  %t topic   %p partition   %o offset   %k key   %v value
  %h headers as k=v,k=v     %K key length   %S value length
  %T timestamp (unix ms)    %d timestamp (RFC 3339)   %% a percent sign
  \n \t \r \\ escapes
or 'json' for one JSON object per record and line.

Stops after --max-messages records, or on SIGINT/SIGTERM; with --group the
offsets of the printed records are committed before exiting.`,
		Example: `  quill consume orders --from-beginning
  quill consume orders --offset -10 --format '%k=%v p%p@%o\n'
  quill consume orders --timestamp 2026-01-02T15:04:05Z --max-messages 100
  quill consume orders payments --group audit --format json
  quill consume orders --isolation-level read_committed --partition 0 --partition 3`,
		Args: minArgs(1, "at least one TOPIC"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runConsume(cmd, g, args, o)
		},
	}
	g.register(c)
	f := c.Flags()
	f.BoolVar(&o.fromBeginning, "from-beginning", false, "start at the earliest offset (same as --offset start)")
	f.StringVar(&o.offset, "offset", "", "start at start, end, N or -N (N before the end, per partition)")
	f.StringVar(&o.timestamp, "timestamp", "", "start at the first record at or after this time (RFC 3339 or unix ms)")
	f.StringVarP(&o.group, "group", "g", "", "consume as a member of this consumer group and commit offsets")
	f.IntVarP(&o.maxMessages, "max-messages", "n", 0, "exit after this many records (0: no limit)")
	f.StringVar(&o.isolation, "isolation-level", "read_uncommitted", "read_uncommitted or read_committed")
	f.StringVar(&o.format, "format", `%v\n`, "output template (see above) or json")
	f.Int32SliceVarP(&o.partitions, "partition", "p", nil, "consume only these partitions (repeatable; not with --group)")
	return c
}

// startOffset resolves the start-position flags to a kgo offset.
func (o consumeOpts) startOffset() (kgo.Offset, error) {
	set := 0
	for _, b := range []bool{o.fromBeginning, o.offset != "", o.timestamp != ""} {
		if b {
			set++
		}
	}
	if set > 1 {
		return kgo.Offset{}, usageErrorf("use only one of --from-beginning, --offset and --timestamp")
	}
	switch {
	case o.fromBeginning:
		return kgo.NewOffset().AtStart(), nil
	case o.timestamp != "":
		ms, err := parseTimestamp(o.timestamp)
		if err != nil {
			return kgo.Offset{}, usageErrorf("--timestamp: %v", err)
		}
		return kgo.NewOffset().AfterMilli(ms), nil
	case o.offset != "":
		return parseOffset(o.offset)
	}
	return kgo.NewOffset().AtEnd(), nil
}

func parseOffset(s string) (kgo.Offset, error) {
	switch s {
	case "start", "earliest", "beginning":
		return kgo.NewOffset().AtStart(), nil
	case "end", "latest":
		return kgo.NewOffset().AtEnd(), nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return kgo.Offset{}, usageErrorf("--offset %q: want start, end, N or -N", s)
	}
	if n < 0 {
		return kgo.NewOffset().AtEnd().Relative(n), nil
	}
	return kgo.NewOffset().At(n), nil
}

// parseTimestamp accepts RFC 3339 (with or without fraction) or unix ms.
func parseTimestamp(s string) (int64, error) {
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil {
		return ms, nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UnixMilli(), nil
		}
	}
	return 0, fmt.Errorf("%q is neither RFC 3339 (2006-01-02T15:04:05Z) nor unix milliseconds", s)
}

func runConsume(cmd *cobra.Command, g *globals, topics []string, o consumeOpts) error {
	start, err := o.startOffset()
	if err != nil {
		return err
	}
	formatter, err := newRecordFormatter(o.format)
	if err != nil {
		return err
	}
	if o.maxMessages < 0 {
		return usageErrorf("--max-messages must not be negative")
	}
	var opts []kgo.Opt
	switch o.isolation {
	case "read_uncommitted":
	case "read_committed":
		opts = append(opts, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	default:
		return usageErrorf("--isolation-level %q: must be read_committed or read_uncommitted", o.isolation)
	}
	switch {
	case len(o.partitions) > 0 && o.group != "":
		return usageErrorf("--partition cannot be used with --group: the group assigns partitions")
	case len(o.partitions) > 0:
		m := make(map[string]map[int32]kgo.Offset, len(topics))
		for _, t := range topics {
			m[t] = make(map[int32]kgo.Offset, len(o.partitions))
			for _, p := range o.partitions {
				m[t][p] = start
			}
		}
		opts = append(opts, kgo.ConsumePartitions(m))
	default:
		opts = append(opts, kgo.ConsumeTopics(topics...), kgo.ConsumeResetOffset(start))
	}
	if o.group != "" {
		// Commit only what was printed: marks, not polls, decide.
		opts = append(opts, kgo.ConsumerGroup(o.group), kgo.AutoCommitMarks())
	}
	s, err := g.open(cmd, false, opts...)
	if err != nil {
		return err
	}
	defer s.close()
	// A misspelt topic would otherwise wait silently forever.
	tds, err := s.adm.ListTopics(s.ctx, topics...)
	if err != nil {
		return s.explain(err)
	}
	for _, t := range topics {
		if td, ok := tds[t]; !ok || td.Err != nil {
			var terr error = kerr.UnknownTopicOrPartition
			if ok {
				terr = td.Err
			}
			return resultErr("topic "+t, terr, "")
		}
	}
	ctx, stop := signal.NotifyContext(s.ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	out := bufio.NewWriterSize(cmd.OutOrStdout(), 64<<10)
	defer out.Flush()
	stderr := cmd.ErrOrStderr()
	seenErrs := make(map[string]bool)
	printed := 0
	var runErr error
loop:
	for {
		want := -1
		if o.maxMessages > 0 {
			want = o.maxMessages - printed
		}
		fetches := s.cl.PollRecords(ctx, want)
		if ctx.Err() != nil || fetches.IsClientClosed() {
			break
		}
		for _, fe := range fetches.Errors() {
			if errors.Is(fe.Err, context.Canceled) || errors.Is(fe.Err, context.DeadlineExceeded) {
				continue
			}
			if isAuthError(fe.Err) { // retrying cannot help
				runErr = &cliError{code: exitError, err: fmt.Errorf("%s: %w", fe.Topic, withHint(fe.Err))}
				break loop
			}
			msg := fmt.Sprintf("%s[%d]: %v", fe.Topic, fe.Partition, withHint(fe.Err))
			if !seenErrs[msg] {
				seenErrs[msg] = true
				fmt.Fprintln(stderr, "warning:", msg)
			}
		}
		var writeErr error
		fetches.EachRecord(func(r *kgo.Record) {
			if writeErr != nil {
				return
			}
			if writeErr = formatter.write(out, r); writeErr == nil {
				printed++
				if o.group != "" {
					s.cl.MarkCommitRecords(r)
				}
			}
		})
		if writeErr == nil {
			writeErr = out.Flush()
		}
		if writeErr != nil {
			runErr = &cliError{code: exitError, err: fmt.Errorf("writing output: %w", writeErr)}
			break loop
		}
		if o.maxMessages > 0 && printed >= o.maxMessages {
			break
		}
	}
	stop()
	var de *dialError
	if cause := context.Cause(s.ctx); errors.As(cause, &de) {
		return s.explain(cause)
	}
	if o.group != "" {
		commitCtx, cancel := context.WithTimeout(context.Background(), s.settings.requestTimeout)
		defer cancel()
		if err := s.cl.CommitMarkedOffsets(commitCtx); err != nil && runErr == nil {
			runErr = s.explain(fmt.Errorf("committing offsets of group %s: %w", o.group, err))
		}
		// Leave the group now so the next member gets the partitions
		// without waiting for the session timeout.
		s.cl.LeaveGroupContext(commitCtx)
	}
	return runErr
}
