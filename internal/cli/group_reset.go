package cli

import (
	"context"
	"fmt"
	"sort"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
)

type resetOpts struct {
	topics     []string
	allTopics  bool
	toEarliest bool
	toLatest   bool
	toDatetime string
	toOffset   int64
	shiftBy    int64
	dryRun     bool
	execute    bool
	output     string
}

type resetRow struct {
	Topic         string `json:"topic" yaml:"topic"`
	Partition     int32  `json:"partition" yaml:"partition"`
	CurrentOffset int64  `json:"current_offset" yaml:"current_offset"` // -1: none committed
	NewOffset     int64  `json:"new_offset" yaml:"new_offset"`
}

type resetResult struct {
	Group    string     `json:"group" yaml:"group"`
	Executed bool       `json:"executed" yaml:"executed"`
	Offsets  []resetRow `json:"offsets" yaml:"offsets"`
}

func newGroupResetOffsetsCmd(g *globals) *cobra.Command {
	var o resetOpts
	c := &cobra.Command{
		Use:   "reset-offsets GROUP (--topic TOPIC[:P,P]... | --all-topics) STRATEGY [--execute]",
		Short: "Move a group's committed offsets (dry run unless --execute)",
		Long: `Compute new committed offsets for GROUP and, with --execute, commit them.
Without --execute (or with --dry-run, the default) nothing changes: the plan is
printed. The group must have no active members to execute.

Exactly one strategy:
  --to-earliest          the log start offset
  --to-latest            the log end offset
  --to-datetime TIME     the first offset at or after TIME (RFC 3339 or unix ms);
                         the log end if there is none
  --to-offset N          offset N, clamped into [log start, log end]
  --shift-by N           the committed offset plus N (negative: back), clamped;
                         partitions without a committed offset are skipped

--topic TOPIC selects all its partitions, TOPIC:0,2 only those; --all-topics
selects every partition the group has committed offsets for.`,
		Example: `  quill group reset-offsets audit --topic orders --to-earliest
  quill group reset-offsets audit --topic orders --to-earliest --execute
  quill group reset-offsets audit --all-topics --shift-by -100 --execute
  quill group reset-offsets audit --topic orders:0 --to-offset 42 --execute -o json
  quill group reset-offsets audit --topic orders --to-datetime 2026-01-02T00:00:00Z`,
		Args: exactArgs(1, "one GROUP"),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.dryRun = !o.execute
			return runResetOffsets(cmd, g, args[0], o, cmd.Flags().Changed("to-offset"), cmd.Flags().Changed("shift-by"))
		},
	}
	f := c.Flags()
	f.StringArrayVarP(&o.topics, "topic", "t", nil, "TOPIC or TOPIC:P,P (repeatable)")
	f.BoolVar(&o.allTopics, "all-topics", false, "every topic the group has committed offsets for")
	f.BoolVar(&o.toEarliest, "to-earliest", false, "reset to the log start offset")
	f.BoolVar(&o.toLatest, "to-latest", false, "reset to the log end offset")
	f.StringVar(&o.toDatetime, "to-datetime", "", "reset to the first offset at or after this time")
	f.Int64Var(&o.toOffset, "to-offset", 0, "reset to this offset")
	f.Int64Var(&o.shiftBy, "shift-by", 0, "move the committed offset by N")
	f.BoolVar(&o.dryRun, "dry-run", true, "only print the plan; on unless --execute is given")
	f.BoolVar(&o.execute, "execute", false, "commit the new offsets")
	addOutputFlag(c, &o.output)
	return c
}

func runResetOffsets(cmd *cobra.Command, g *globals, group string, o resetOpts, toOffsetSet, shiftSet bool) error {
	if err := checkOutput(o.output); err != nil {
		return err
	}
	n := 0
	for _, b := range []bool{o.toEarliest, o.toLatest, o.toDatetime != "", toOffsetSet, shiftSet} {
		if b {
			n++
		}
	}
	if n != 1 {
		return usageErrorf("give exactly one of --to-earliest, --to-latest, --to-datetime, --to-offset, --shift-by")
	}
	if o.allTopics == (len(o.topics) > 0) {
		return usageErrorf("give either --topic TOPIC[:P,P] (repeatable) or --all-topics")
	}
	var dateMs int64
	if o.toDatetime != "" {
		ms, err := parseTimestamp(o.toDatetime)
		if err != nil {
			return usageErrorf("--to-datetime: %v", err)
		}
		dateMs = ms
	}
	tps, err := parseTopicPartitions(o.topics)
	if err != nil {
		return err
	}

	s, err := g.open(cmd, true)
	if err != nil {
		return err
	}
	defer s.close()

	// The broker rejects commits from outside an active group
	// (UNKNOWN_MEMBER_ID); say so before computing anything.
	dgs, err := s.adm.DescribeGroups(s.ctx, group)
	if err != nil {
		return s.explain(err)
	}
	if dg, ok := dgs[group]; ok && dg.Err == nil && len(dg.Members) > 0 && !o.dryRun {
		return &cliError{code: exitError, err: fmt.Errorf("group %s is %s with %d member(s): stop its consumers before resetting offsets (`quill group describe %s` lists them)",
			group, dg.State, len(dg.Members), group)}
	}

	committed, err := s.adm.FetchOffsets(s.ctx, group)
	if err != nil {
		return s.explain(err)
	}
	var set kadm.TopicsSet
	if o.allTopics {
		set = make(kadm.TopicsSet)
		committed.Each(func(r kadm.OffsetResponse) {
			if r.Err == nil && r.At >= 0 {
				set.Add(r.Topic, r.Partition)
			}
		})
		if len(set) == 0 {
			return &cliError{code: exitError, err: fmt.Errorf("group %s has no committed offsets; name topics with --topic", group)}
		}
	} else if set, err = resolvePartitions(s, tps); err != nil {
		return err
	}
	topics := set.Topics()
	starts, err := pollOffsets(s.ctx, func(ctx context.Context) (kadm.ListedOffsets, error) {
		return s.adm.ListStartOffsets(ctx, topics...)
	})
	if err != nil {
		return s.explain(err)
	}
	ends, err := pollOffsets(s.ctx, func(ctx context.Context) (kadm.ListedOffsets, error) {
		return s.adm.ListEndOffsets(ctx, topics...)
	})
	if err != nil {
		return s.explain(err)
	}
	var after kadm.ListedOffsets
	if o.toDatetime != "" {
		if after, err = pollOffsets(s.ctx, func(ctx context.Context) (kadm.ListedOffsets, error) {
			return s.adm.ListOffsetsAfterMilli(ctx, dateMs, topics...)
		}); err != nil {
			return s.explain(err)
		}
	}

	res := resetResult{Group: group, Offsets: []resetRow{}}
	newOffsets := make(kadm.Offsets)
	for _, tp := range set.Sorted() {
		for _, p := range tp.Partitions {
			start, err1 := lookupListed(starts, tp.Topic, p)
			end, err2 := lookupListed(ends, tp.Topic, p)
			if err1 != nil || err2 != nil {
				return resultErr(fmt.Sprintf("offsets of %s[%d]", tp.Topic, p), firstNonNil(err1, err2), "")
			}
			cur := int64(-1)
			if r, ok := committed.Lookup(tp.Topic, p); ok && r.Err == nil {
				cur = r.At
			}
			var target int64
			switch {
			case o.toEarliest:
				target = start
			case o.toLatest:
				target = end
			case o.toDatetime != "":
				target = end
				if lo, ok := after.Lookup(tp.Topic, p); ok && lo.Err == nil && lo.Offset >= 0 {
					target = lo.Offset
				}
			case toOffsetSet:
				target = o.toOffset
			case shiftSet:
				if cur < 0 {
					fmt.Fprintf(cmd.ErrOrStderr(), "skipping %s[%d]: no committed offset to shift\n", tp.Topic, p)
					continue
				}
				target = cur + o.shiftBy
			}
			target = max(start, min(end, target))
			res.Offsets = append(res.Offsets, resetRow{Topic: tp.Topic, Partition: p, CurrentOffset: cur, NewOffset: target})
			newOffsets.Add(kadm.Offset{Topic: tp.Topic, Partition: p, At: target, LeaderEpoch: -1})
		}
	}
	sort.Slice(res.Offsets, func(i, j int) bool {
		a, b := res.Offsets[i], res.Offsets[j]
		return a.Topic < b.Topic || a.Topic == b.Topic && a.Partition < b.Partition
	})

	if !o.dryRun {
		resps, err := s.adm.CommitOffsets(s.ctx, group, newOffsets)
		if err != nil {
			return s.explain(err)
		}
		if err := resps.Error(); err != nil {
			return resultErr("committing offsets of group "+group, err, "")
		}
		res.Executed = true
	}

	w := cmd.OutOrStdout()
	if o.output != outTable {
		if err := emit(w, o.output, res); err != nil {
			return err
		}
	} else {
		t := newTable(w, "TOPIC", "PARTITION", "CURRENT-OFFSET", "NEW-OFFSET")
		for _, r := range res.Offsets {
			cur := fmt.Sprint(r.CurrentOffset)
			if r.CurrentOffset < 0 {
				cur = "-"
			}
			t.row(r.Topic, r.Partition, cur, r.NewOffset)
		}
		if err := t.flush(); err != nil {
			return err
		}
	}
	if o.dryRun {
		fmt.Fprintln(cmd.ErrOrStderr(), "Dry run: nothing changed. Add --execute to commit these offsets.")
	} else {
		fmt.Fprintf(cmd.ErrOrStderr(), "Committed %d offset(s) for group %s.\n", len(res.Offsets), group)
	}
	return nil
}

func lookupListed(l kadm.ListedOffsets, t string, p int32) (int64, error) {
	o, ok := l.Lookup(t, p)
	if !ok {
		return 0, fmt.Errorf("not returned by the broker")
	}
	if o.Err != nil {
		return 0, o.Err
	}
	return o.Offset, nil
}

func firstNonNil(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}
