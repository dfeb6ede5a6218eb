package cli

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Partition reassignments (AlterPartitionReassignments and
// ListPartitionReassignments, KIP-455), as kafka-reassign-partitions.sh
// --execute / --cancel / --list do, one topic at a time.

func newTopicReassignCmd(g *globals) *cobra.Command {
	var topic, replicas string
	var partitions []int32
	var cancel bool
	c := &cobra.Command{
		Use:   "reassign TOPIC --partition N --replicas ID,ID,... | --cancel",
		Short: "Move partitions to other brokers, or cancel a move",
		Long: `Move partitions to new replicas (broker ids, the first is the preferred
leader). The new replicas copy the partition from its leader while
producers and consumers keep working; once they are in sync the old ones
are dropped and their data deleted. The command returns when the move has
started: follow it with 'quill topic reassignments'. --cancel reverts a
move in progress to the original replicas.`,
		Example: `  quill topic reassign orders --partition 0 --replicas 3,1,2
  quill topic reassign orders --partition 0 --partition 1 --replicas 2,3
  quill topic reassign --topic orders --partition 0 --cancel`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				if topic != "" && topic != args[0] {
					return usageErrorf("give the topic once: as TOPIC or as --topic")
				}
				topic = args[0]
			}
			switch {
			case topic == "":
				return usageErrorf("a TOPIC (or --topic) is required")
			case len(partitions) == 0:
				return usageErrorf("--partition N is required (repeatable)")
			case cancel == (replicas != ""):
				return usageErrorf("give either --replicas ID,ID,... or --cancel")
			}
			var ids []int32
			if !cancel {
				var err error
				if ids, err = parseBrokerIDs(replicas); err != nil {
					return usageErrorf("--replicas %q: %v", replicas, err)
				}
			}
			s, err := g.open(cmd, true)
			if err != nil {
				return err
			}
			defer s.close()
			var req kadm.AlterPartitionAssignmentsReq
			for _, p := range partitions {
				req.Assign(topic, p, ids)
			}
			resps, err := s.adm.AlterPartitionAssignments(s.ctx, req)
			if err != nil {
				return s.explain(err)
			}
			var errs []error
			for _, r := range resps.Sorted() {
				what := fmt.Sprintf("reassigning %s-%d", r.Topic, r.Partition)
				if cancel {
					what = fmt.Sprintf("cancelling the reassignment of %s-%d", r.Topic, r.Partition)
				}
				if r.Err != nil {
					errs = append(errs, resultErr(what, r.Err, r.ErrMessage))
					continue
				}
				if cancel {
					fmt.Fprintf(cmd.OutOrStdout(), "Cancelled the reassignment of %s-%d\n", r.Topic, r.Partition)
				} else {
					fmt.Fprintf(cmd.OutOrStdout(), "Reassigning %s-%d to replicas %s\n", r.Topic, r.Partition, joinInt32s(ids))
				}
			}
			return reportFailures(cmd.ErrOrStderr(), "reassignments", errs, len(partitions))
		},
	}
	c.Flags().StringVar(&topic, "topic", "", "topic to reassign (instead of TOPIC)")
	c.Flags().Int32SliceVarP(&partitions, "partition", "p", nil, "partition to reassign (repeatable, or comma-separated)")
	c.Flags().StringVar(&replicas, "replicas", "", "comma-separated broker ids of the new replicas, preferred leader first")
	c.Flags().BoolVar(&cancel, "cancel", false, "cancel the reassignment in progress")
	return c
}

// parseBrokerIDs parses "3,1,2".
func parseBrokerIDs(s string) ([]int32, error) {
	var ids []int32
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		id, err := strconv.ParseInt(f, 10, 32)
		if err != nil || id < 0 {
			return nil, fmt.Errorf("%q is not a broker id", f)
		}
		ids = append(ids, int32(id))
	}
	return ids, nil
}

type reassignmentInfo struct {
	Topic     string  `json:"topic" yaml:"topic"`
	Partition int32   `json:"partition" yaml:"partition"`
	Replicas  []int32 `json:"replicas" yaml:"replicas"`
	Adding    []int32 `json:"adding_replicas" yaml:"adding_replicas"`
	Removing  []int32 `json:"removing_replicas" yaml:"removing_replicas"`
}

func newTopicReassignmentsCmd(g *globals) *cobra.Command {
	var output string
	c := &cobra.Command{
		Use:   "reassignments [TOPIC...]",
		Short: "List partition reassignments in progress",
		Long: `List the partition reassignments in progress, of every topic or of the
given ones: the replicas (old and new while the move runs), those being
added and those being removed. Nothing listed: no move is running.`,
		Example: `  quill topic reassignments
  quill topic reassignments orders -o json`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			s, err := g.open(cmd, true)
			if err != nil {
				return err
			}
			defer s.close()
			req := kmsg.NewPtrListPartitionReassignmentsRequest()
			if len(args) > 0 {
				// Every partition of the named topics.
				tds, err := s.adm.ListTopicsWithInternal(s.ctx, args...)
				if err != nil {
					return s.explain(err)
				}
				for _, name := range args {
					td, ok := tds[name]
					if !ok || td.Err != nil {
						return resultErr("listing reassignments of "+name, kerr.UnknownTopicOrPartition, "")
					}
					rt := kmsg.NewListPartitionReassignmentsRequestTopic()
					rt.Topic = name
					rt.Partitions = slices.Sorted(func(yield func(int32) bool) {
						for p := range td.Partitions {
							if !yield(p) {
								return
							}
						}
					})
					req.Topics = append(req.Topics, rt)
				}
			}
			resp, err := req.RequestWith(s.ctx, s.cl)
			if err != nil {
				return s.explain(err)
			}
			if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
				msg := ""
				if resp.ErrorMessage != nil {
					msg = *resp.ErrorMessage
				}
				return resultErr("listing reassignments", err, msg)
			}
			list := []reassignmentInfo{}
			for _, t := range resp.Topics {
				for _, p := range t.Partitions {
					list = append(list, reassignmentInfo{Topic: t.Topic, Partition: p.Partition,
						Replicas: nonNil(p.Replicas), Adding: nonNil(p.AddingReplicas), Removing: nonNil(p.RemovingReplicas)})
				}
			}
			slices.SortFunc(list, func(a, b reassignmentInfo) int {
				if c := strings.Compare(a.Topic, b.Topic); c != 0 {
					return c
				}
				return int(a.Partition - b.Partition)
			})
			if output != outTable {
				return emit(cmd.OutOrStdout(), output, list)
			}
			t := newTable(cmd.OutOrStdout(), "TOPIC", "PARTITION", "REPLICAS", "ADDING", "REMOVING")
			for _, r := range list {
				t.row(r.Topic, r.Partition, joinInt32s(r.Replicas), joinInt32s(r.Adding), joinInt32s(r.Removing))
			}
			return t.flush()
		},
	}
	addOutputFlag(c, &output)
	return c
}
