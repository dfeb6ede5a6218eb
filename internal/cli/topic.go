package cli

import (
	"context"
	"fmt"
	"sort"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
)

func newTopicCmd() *cobra.Command {
	g := new(globals)
	c := &cobra.Command{
		Use:     "topic",
		Aliases: []string{"topics"},
		Short:   "Create, list, describe, alter and delete topics",
		Example: `  quill topic create orders --partitions 6 --replication-factor 3 --config retention.ms=86400000
  quill topic list
  quill topic describe orders
  quill topic alter-config orders --config cleanup.policy=compact --delete retention.ms
  quill topic add-partitions orders --partitions 12
  quill topic reassign orders --partition 0 --replicas 3,1,2
  quill topic reassignments
  quill topic delete orders`,
	}
	g.register(c)
	c.AddCommand(
		newTopicCreateCmd(g),
		newTopicListCmd(g),
		newTopicDescribeCmd(g),
		newTopicDeleteCmd(g),
		newTopicAlterConfigCmd(g),
		newTopicAddPartitionsCmd(g),
		newTopicReassignCmd(g), // reassign.go
		newTopicReassignmentsCmd(g),
	)
	return c
}

func newTopicCreateCmd(g *globals) *cobra.Command {
	var partitions int32
	var rf int16
	var configs []string
	var ifNotExists bool
	c := &cobra.Command{
		Use:   "create TOPIC...",
		Short: "Create topics",
		Long: `Create one or more topics. Without --partitions or --replication-factor
the broker's defaults (num.partitions, default.replication.factor) apply.`,
		Example: `  quill topic create orders
  quill topic create orders payments --partitions 6 --replication-factor 3
  quill topic create compacted --config cleanup.policy=compact --config min.insync.replicas=2`,
		Args: minArgs(1, "at least one TOPIC"),
		RunE: func(cmd *cobra.Command, args []string) error {
			kv, err := parseKV("--config", configs)
			if err != nil {
				return err
			}
			if partitions == 0 || partitions < -1 {
				return usageErrorf("--partitions must be positive (or -1 for the broker default)")
			}
			if rf == 0 || rf < -1 {
				return usageErrorf("--replication-factor must be positive (or -1 for the broker default)")
			}
			cfg := make(map[string]*string, len(kv))
			for k, v := range kv {
				cfg[k] = &v
			}
			s, err := g.open(cmd, true)
			if err != nil {
				return err
			}
			defer s.close()
			resps, err := s.adm.CreateTopics(s.ctx, partitions, rf, cfg, args...)
			if err != nil {
				return s.explain(err)
			}
			var errs []error
			for _, r := range resps.Sorted() {
				if r.Err != nil {
					if ifNotExists && isTopicExists(r.Err) {
						fmt.Fprintf(cmd.OutOrStdout(), "Topic %s already exists\n", r.Topic)
						continue
					}
					errs = append(errs, resultErr("creating topic "+r.Topic, r.Err, r.ErrMessage))
					continue
				}
				fmt.Fprintf(cmd.OutOrStdout(), "Created topic %s (partitions: %d, replication factor: %d)\n", r.Topic, r.NumPartitions, r.ReplicationFactor)
			}
			return reportFailures(cmd.ErrOrStderr(), "topics", errs, len(resps))
		},
	}
	c.Flags().Int32VarP(&partitions, "partitions", "p", -1, "number of partitions (-1: broker default)")
	c.Flags().Int16VarP(&rf, "replication-factor", "r", -1, "replicas per partition (-1: broker default)")
	c.Flags().StringArrayVarP(&configs, "config", "c", nil, "topic config KEY=VALUE (repeatable)")
	c.Flags().BoolVar(&ifNotExists, "if-not-exists", false, "succeed if the topic already exists")
	return c
}

type topicSummary struct {
	Name              string `json:"name" yaml:"name"`
	ID                string `json:"id" yaml:"id"`
	Partitions        int    `json:"partitions" yaml:"partitions"`
	ReplicationFactor int    `json:"replication_factor" yaml:"replication_factor"`
	Internal          bool   `json:"internal" yaml:"internal"`
	Error             string `json:"error,omitempty" yaml:"error,omitempty"`
}

func newTopicListCmd(g *globals) *cobra.Command {
	var output string
	var internal bool
	c := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List topics",
		Example: `  quill topic list
  quill topic list --internal -o json`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			s, err := g.open(cmd, true)
			if err != nil {
				return err
			}
			defer s.close()
			var tds kadm.TopicDetails
			if internal {
				tds, err = s.adm.ListTopicsWithInternal(s.ctx)
			} else {
				tds, err = s.adm.ListTopics(s.ctx)
			}
			if err != nil {
				return s.explain(err)
			}
			list := make([]topicSummary, 0, len(tds))
			for _, td := range tds.Sorted() {
				ts := topicSummary{Name: td.Topic, ID: td.ID.String(), Partitions: len(td.Partitions),
					ReplicationFactor: td.Partitions.NumReplicas(), Internal: td.IsInternal}
				if td.Err != nil {
					ts.Error = td.Err.Error()
				}
				list = append(list, ts)
			}
			if output != outTable {
				return emit(cmd.OutOrStdout(), output, list)
			}
			t := newTable(cmd.OutOrStdout(), "NAME", "PARTITIONS", "REPLICAS", "ERROR")
			for _, ts := range list {
				t.row(ts.Name, ts.Partitions, ts.ReplicationFactor, ts.Error)
			}
			return t.flush()
		},
	}
	addOutputFlag(c, &output)
	c.Flags().BoolVar(&internal, "internal", false, "include internal topics such as __consumer_offsets")
	return c
}

type partitionDescription struct {
	Partition      int32   `json:"partition" yaml:"partition"`
	Leader         int32   `json:"leader" yaml:"leader"`
	LeaderEpoch    int32   `json:"leader_epoch" yaml:"leader_epoch"`
	Replicas       []int32 `json:"replicas" yaml:"replicas"`
	ISR            []int32 `json:"isr" yaml:"isr"`
	Offline        []int32 `json:"offline_replicas" yaml:"offline_replicas"`
	LogStartOffset int64   `json:"log_start_offset" yaml:"log_start_offset"`
	LogEndOffset   int64   `json:"log_end_offset" yaml:"log_end_offset"`
	SizeBytes      int64   `json:"size_bytes" yaml:"size_bytes"` // leader replica; -1 if unknown
	Error          string  `json:"error,omitempty" yaml:"error,omitempty"`
}

type topicDescription struct {
	Name       string                 `json:"name" yaml:"name"`
	ID         string                 `json:"id" yaml:"id"`
	Internal   bool                   `json:"internal" yaml:"internal"`
	Partitions []partitionDescription `json:"partitions" yaml:"partitions"`
	Configs    []configEntry          `json:"configs" yaml:"configs"`
	Warnings   []string               `json:"warnings,omitempty" yaml:"warnings,omitempty"`
}

func newTopicDescribeCmd(g *globals) *cobra.Command {
	var output string
	var overridesOnly bool
	c := &cobra.Command{
		Use:   "describe TOPIC...",
		Short: "Show partitions, leaders, replicas, ISR, offsets, sizes and configs of topics",
		Long: `Show each partition's leader, replicas, in-sync replicas, log start and end
offsets and on-disk size (of the leader's replica, from DescribeLogDirs), and
the topic's configs with their source: DYNAMIC_TOPIC_CONFIG values are
overrides set on the topic, anything else is inherited.`,
		Example: `  quill topic describe orders
  quill topic describe orders --overrides-only
  quill topic describe orders payments -o yaml`,
		Args: minArgs(1, "at least one TOPIC"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			s, err := g.open(cmd, true)
			if err != nil {
				return err
			}
			defer s.close()
			descs, err := describeTopics(s, args)
			if err != nil {
				return err
			}
			if overridesOnly {
				for i := range descs {
					kept := descs[i].Configs[:0]
					for _, e := range descs[i].Configs {
						if e.Overridden {
							kept = append(kept, e)
						}
					}
					descs[i].Configs = kept
				}
			}
			w := cmd.OutOrStdout()
			if output != outTable {
				if len(descs) == 1 {
					return emit(w, output, descs[0])
				}
				return emit(w, output, descs)
			}
			for i, d := range descs {
				if i > 0 {
					fmt.Fprintln(w)
				}
				fmt.Fprintf(w, "Topic: %s  ID: %s  Partitions: %d  Internal: %v\n", d.Name, d.ID, len(d.Partitions), d.Internal)
				for _, warn := range d.Warnings {
					fmt.Fprintf(w, "Warning: %s\n", warn)
				}
				fmt.Fprintln(w)
				t := newTable(w, "PARTITION", "LEADER", "EPOCH", "REPLICAS", "ISR", "LOG-START", "LOG-END", "SIZE", "ERROR")
				for _, p := range d.Partitions {
					t.row(p.Partition, p.Leader, p.LeaderEpoch, joinInt32s(p.Replicas), joinInt32s(p.ISR),
						p.LogStartOffset, p.LogEndOffset, humanBytes(p.SizeBytes), p.Error)
				}
				if err := t.flush(); err != nil {
					return err
				}
				fmt.Fprintln(w)
				fmt.Fprintln(w, "Configs:")
				if err := writeConfigTable(w, d.Configs); err != nil {
					return err
				}
			}
			return nil
		},
	}
	addOutputFlag(c, &output)
	c.Flags().BoolVar(&overridesOnly, "overrides-only", false, "show only configs overridden on the topic")
	return c
}

// describeTopics gathers metadata, offsets, sizes and configs. Metadata is
// required; offsets, sizes and configs degrade to warnings so a broker that
// lacks one API still gives the rest.
func describeTopics(s *session, topics []string) ([]topicDescription, error) {
	tds, err := s.adm.ListTopics(s.ctx, topics...)
	if err != nil {
		return nil, s.explain(err)
	}
	for _, t := range topics {
		if td, ok := tds[t]; !ok || td.Err != nil {
			var terr error = fmt.Errorf("not returned by the broker")
			if ok {
				terr = td.Err
			}
			return nil, resultErr("topic "+t, terr, "")
		}
	}
	var warnings []string
	starts, err := pollOffsets(s.ctx, func(ctx context.Context) (kadm.ListedOffsets, error) {
		return s.adm.ListStartOffsets(ctx, topics...)
	})
	if err != nil {
		warnings = append(warnings, "log start offsets unavailable: "+err.Error())
	}
	ends, err := pollOffsets(s.ctx, func(ctx context.Context) (kadm.ListedOffsets, error) {
		return s.adm.ListEndOffsets(ctx, topics...)
	})
	if err != nil {
		warnings = append(warnings, "log end offsets unavailable: "+err.Error())
	}
	set := make(kadm.TopicsSet)
	for _, t := range topics {
		set.Add(t, tds[t].Partitions.Numbers()...)
	}
	dirs, err := s.adm.DescribeAllLogDirs(s.ctx, set)
	if err != nil {
		warnings = append(warnings, "sizes unavailable (DescribeLogDirs): "+err.Error())
	}
	cfgs, err := s.adm.DescribeTopicConfigs(s.ctx, topics...)
	if err != nil {
		warnings = append(warnings, "configs unavailable: "+err.Error())
	}

	var out []topicDescription
	for _, t := range topics {
		td := tds[t]
		d := topicDescription{Name: t, ID: td.ID.String(), Internal: td.IsInternal, Warnings: warnings, Configs: []configEntry{}}
		for _, p := range td.Partitions.Sorted() {
			pd := partitionDescription{
				Partition: p.Partition, Leader: p.Leader, LeaderEpoch: p.LeaderEpoch,
				Replicas: nonNil(p.Replicas), ISR: nonNil(p.ISR), Offline: nonNil(p.OfflineReplicas),
				LogStartOffset: -1, LogEndOffset: -1, SizeBytes: -1,
			}
			if p.Err != nil {
				pd.Error = p.Err.Error()
			}
			if o, ok := starts.Lookup(t, p.Partition); ok && o.Err == nil {
				pd.LogStartOffset = o.Offset
			}
			if o, ok := ends.Lookup(t, p.Partition); ok && o.Err == nil {
				pd.LogEndOffset = o.Offset
			}
			pd.SizeBytes = leaderSize(dirs, t, p.Partition, p.Leader)
			d.Partitions = append(d.Partitions, pd)
		}
		if rc, err := cfgs.On(t, nil); err == nil && rc.Err == nil {
			d.Configs = configEntries(rc, true)
		}
		out = append(out, d)
	}
	return out, nil
}

// leaderSize is the size of the leader's replica, or of the largest replica
// if the leader reported none; -1 if no broker reported the partition.
func leaderSize(dirs kadm.DescribedAllLogDirs, topic string, p, leader int32) int64 {
	best := int64(-1)
	for broker, bd := range dirs {
		for _, dir := range bd {
			dp, ok := dir.Topics.Lookup(topic, p)
			if !ok || dp.IsFuture {
				continue
			}
			if broker == leader {
				return dp.Size
			}
			best = max(best, dp.Size)
		}
	}
	return best
}

func nonNil(xs []int32) []int32 {
	if xs == nil {
		return []int32{}
	}
	out := append([]int32(nil), xs...)
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

func newTopicDeleteCmd(g *globals) *cobra.Command {
	var ifExists bool
	c := &cobra.Command{
		Use:     "delete TOPIC...",
		Aliases: []string{"rm"},
		Short:   "Delete topics and all their data",
		Example: `  quill topic delete orders
  quill topic delete old-1 old-2 --if-exists`,
		Args: minArgs(1, "at least one TOPIC"),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := g.open(cmd, true)
			if err != nil {
				return err
			}
			defer s.close()
			resps, err := s.adm.DeleteTopics(s.ctx, args...)
			if err != nil {
				return s.explain(err)
			}
			var errs []error
			for _, r := range resps.Sorted() {
				if r.Err != nil {
					if ifExists && isUnknownTopic(r.Err) {
						continue
					}
					errs = append(errs, resultErr("deleting topic "+r.Topic, r.Err, r.ErrMessage))
					continue
				}
				fmt.Fprintf(cmd.OutOrStdout(), "Deleted topic %s\n", r.Topic)
			}
			return reportFailures(cmd.ErrOrStderr(), "topics", errs, len(resps))
		},
	}
	c.Flags().BoolVar(&ifExists, "if-exists", false, "succeed if a topic does not exist")
	return c
}

func newTopicAlterConfigCmd(g *globals) *cobra.Command {
	var configs, deletes []string
	c := &cobra.Command{
		Use:   "alter-config TOPIC --config KEY=VALUE... [--delete KEY...]",
		Short: "Set or remove config overrides of a topic",
		Long:  `Same as ` + "`quill config set topic TOPIC`" + `: only the named keys change.`,
		Example: `  quill topic alter-config orders --config retention.ms=86400000
  quill topic alter-config orders --delete retention.ms`,
		Args: exactArgs(1, "one TOPIC"),
		RunE: func(cmd *cobra.Command, args []string) error {
			sets, err := parseKV("--config", configs)
			if err != nil {
				return err
			}
			return alterConfigs(cmd, g, configTarget{kind: "topic", topic: args[0]}, sets, deletes)
		},
	}
	c.Flags().StringArrayVarP(&configs, "config", "c", nil, "config KEY=VALUE to set (repeatable)")
	c.Flags().StringArrayVar(&deletes, "delete", nil, "config KEY whose override to remove (repeatable)")
	return c
}

func newTopicAddPartitionsCmd(g *globals) *cobra.Command {
	var total int
	c := &cobra.Command{
		Use:   "add-partitions TOPIC --partitions N",
		Short: "Grow a topic to N partitions in total",
		Long: `Grow a topic to N partitions in total (as kafka-topics.sh --alter
--partitions does). Partitions cannot be removed; keys of existing records
may map to other partitions afterwards.`,
		Example: `  quill topic add-partitions orders --partitions 12`,
		Args:    exactArgs(1, "one TOPIC"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if total <= 0 {
				return usageErrorf("--partitions N (the new total) is required and must be positive")
			}
			s, err := g.open(cmd, true)
			if err != nil {
				return err
			}
			defer s.close()
			resps, err := s.adm.UpdatePartitions(s.ctx, total, args[0])
			if err != nil {
				return s.explain(err)
			}
			for _, r := range resps {
				if r.Err != nil {
					return resultErr("adding partitions to "+r.Topic, r.Err, r.ErrMessage)
				}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Topic %s now has %d partitions\n", args[0], total)
			return nil
		},
	}
	c.Flags().IntVarP(&total, "partitions", "p", 0, "new total number of partitions")
	return c
}
