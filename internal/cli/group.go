package cli

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

func newGroupCmd() *cobra.Command {
	g := new(globals)
	c := &cobra.Command{
		Use:     "group",
		Aliases: []string{"groups"},
		Short:   "List, describe, delete consumer groups and move their offsets",
		Example: `  quill group list
  quill group describe audit
  quill group reset-offsets audit --topic orders --to-earliest            # dry run
  quill group reset-offsets audit --topic orders --to-earliest --execute
  quill group delete-offsets audit --topic orders
  quill group delete audit`,
	}
	g.register(c)
	c.AddCommand(
		newGroupListCmd(g),
		newGroupDescribeCmd(g),
		newGroupDeleteCmd(g),
		newGroupResetOffsetsCmd(g),
		newGroupDeleteOffsetsCmd(g),
	)
	return c
}

type groupSummary struct {
	Group        string `json:"group" yaml:"group"`
	State        string `json:"state" yaml:"state"`
	ProtocolType string `json:"protocol_type" yaml:"protocol_type"`
	Coordinator  int32  `json:"coordinator" yaml:"coordinator"`
}

func newGroupListCmd(g *globals) *cobra.Command {
	var output string
	c := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List consumer groups",
		Example: `  quill group list
  quill group list -o json`,
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
			lgs, err := s.adm.ListGroups(s.ctx)
			if err != nil {
				return s.explain(err)
			}
			list := make([]groupSummary, 0, len(lgs))
			for _, lg := range lgs.Sorted() {
				list = append(list, groupSummary{Group: lg.Group, State: lg.State, ProtocolType: lg.ProtocolType, Coordinator: lg.Coordinator})
			}
			if output != outTable {
				return emit(cmd.OutOrStdout(), output, list)
			}
			t := newTable(cmd.OutOrStdout(), "GROUP", "STATE", "PROTOCOL-TYPE", "COORDINATOR")
			for _, l := range list {
				t.row(l.Group, l.State, l.ProtocolType, l.Coordinator)
			}
			return t.flush()
		},
	}
	addOutputFlag(c, &output)
	return c
}

type groupMember struct {
	MemberID   string   `json:"member_id" yaml:"member_id"`
	InstanceID string   `json:"instance_id,omitempty" yaml:"instance_id,omitempty"`
	ClientID   string   `json:"client_id" yaml:"client_id"`
	ClientHost string   `json:"client_host" yaml:"client_host"`
	Assigned   []string `json:"assigned" yaml:"assigned"` // topic:p,p
}

type groupPartitionLag struct {
	Topic           string `json:"topic" yaml:"topic"`
	Partition       int32  `json:"partition" yaml:"partition"`
	CommittedOffset int64  `json:"committed_offset" yaml:"committed_offset"` // -1: none
	LogEndOffset    int64  `json:"log_end_offset" yaml:"log_end_offset"`
	Lag             int64  `json:"lag" yaml:"lag"`
	MemberID        string `json:"member_id,omitempty" yaml:"member_id,omitempty"`
	Error           string `json:"error,omitempty" yaml:"error,omitempty"`
}

type groupDescription struct {
	Group        string              `json:"group" yaml:"group"`
	State        string              `json:"state" yaml:"state"`
	ProtocolType string              `json:"protocol_type" yaml:"protocol_type"`
	Protocol     string              `json:"protocol" yaml:"protocol"`
	Coordinator  int32               `json:"coordinator" yaml:"coordinator"`
	Members      []groupMember       `json:"members" yaml:"members"`
	Offsets      []groupPartitionLag `json:"offsets" yaml:"offsets"`
	TotalLag     int64               `json:"total_lag" yaml:"total_lag"`
}

func describeGroupLag(l kadm.DescribedGroupLag) groupDescription {
	d := groupDescription{Group: l.Group, State: l.State, ProtocolType: l.ProtocolType, Protocol: l.Protocol,
		Coordinator: l.Coordinator.NodeID, Members: []groupMember{}, Offsets: []groupPartitionLag{}}
	for _, m := range l.Members {
		gm := groupMember{MemberID: m.MemberID, ClientID: m.ClientID, ClientHost: m.ClientHost, Assigned: []string{}}
		if m.InstanceID != nil {
			gm.InstanceID = *m.InstanceID
		}
		if ca, ok := m.Assigned.AsConsumer(); ok {
			for _, t := range ca.Topics {
				ps := append([]int32(nil), t.Partitions...)
				sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
				gm.Assigned = append(gm.Assigned, t.Topic+":"+joinInt32s(ps))
			}
			sort.Strings(gm.Assigned)
		}
		d.Members = append(d.Members, gm)
	}
	for _, ml := range l.Lag.Sorted() {
		pl := groupPartitionLag{Topic: ml.Topic, Partition: ml.Partition, CommittedOffset: ml.Commit.At,
			LogEndOffset: ml.End.Offset, Lag: ml.Lag}
		if ml.Member != nil {
			pl.MemberID = ml.Member.MemberID
		}
		if ml.Err != nil {
			pl.Error = ml.Err.Error()
		}
		if pl.Lag > 0 {
			d.TotalLag += pl.Lag
		}
		d.Offsets = append(d.Offsets, pl)
	}
	return d
}

func newGroupDescribeCmd(g *globals) *cobra.Command {
	var output string
	c := &cobra.Command{
		Use:   "describe GROUP...",
		Short: "Show a group's members, assignments, committed offsets, end offsets and lag",
		Example: `  quill group describe audit
  quill group describe audit billing -o json`,
		Args: minArgs(1, "at least one GROUP"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			s, err := g.open(cmd, true)
			if err != nil {
				return err
			}
			defer s.close()
			lags, err := pollLag(s.ctx, s.adm, args...)
			if err != nil {
				return s.explain(err)
			}
			var descs []groupDescription
			for _, name := range args {
				l, ok := lags[name]
				if !ok {
					return resultErr("group "+name, fmt.Errorf("not returned by the broker"), "")
				}
				if err := l.Error(); err != nil {
					return resultErr("describing group "+name, err, "")
				}
				if l.State == "Dead" && len(l.Members) == 0 && len(l.Lag) == 0 {
					return resultErr("group "+name, kerr.GroupIDNotFound, "")
				}
				descs = append(descs, describeGroupLag(l))
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
				proto := d.ProtocolType
				if d.Protocol != "" {
					proto += " (" + d.Protocol + ")"
				}
				fmt.Fprintf(w, "Group: %s  State: %s  Protocol: %s  Coordinator: %d  Members: %d  Total lag: %d\n\n",
					d.Group, d.State, proto, d.Coordinator, len(d.Members), d.TotalLag)
				if len(d.Members) > 0 {
					t := newTable(w, "MEMBER-ID", "CLIENT-ID", "HOST", "ASSIGNED")
					for _, m := range d.Members {
						t.row(m.MemberID, m.ClientID, m.ClientHost, strings.Join(m.Assigned, " "))
					}
					if err := t.flush(); err != nil {
						return err
					}
					fmt.Fprintln(w)
				}
				t := newTable(w, "TOPIC", "PARTITION", "COMMITTED", "LOG-END", "LAG", "MEMBER-ID", "ERROR")
				for _, o := range d.Offsets {
					committed := strconv.FormatInt(o.CommittedOffset, 10)
					if o.CommittedOffset < 0 {
						committed = "-"
					}
					t.row(o.Topic, o.Partition, committed, o.LogEndOffset, o.Lag, o.MemberID, o.Error)
				}
				if err := t.flush(); err != nil {
					return err
				}
			}
			return nil
		},
	}
	addOutputFlag(c, &output)
	return c
}

func newGroupDeleteCmd(g *globals) *cobra.Command {
	c := &cobra.Command{
		Use:     "delete GROUP...",
		Aliases: []string{"rm"},
		Short:   "Delete empty consumer groups and their committed offsets",
		Example: `  quill group delete audit`,
		Args:    minArgs(1, "at least one GROUP"),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := g.open(cmd, true)
			if err != nil {
				return err
			}
			defer s.close()
			resps, err := s.adm.DeleteGroups(s.ctx, args...)
			if err != nil {
				return s.explain(err)
			}
			var errs []error
			for _, name := range args {
				r, ok := resps[name]
				if !ok {
					errs = append(errs, resultErr("deleting group "+name, fmt.Errorf("not in the broker's response"), ""))
					continue
				}
				if r.Err != nil {
					errs = append(errs, resultErr("deleting group "+name, r.Err, ""))
					continue
				}
				fmt.Fprintf(cmd.OutOrStdout(), "Deleted group %s\n", name)
			}
			return reportFailures(cmd.ErrOrStderr(), "groups", errs, len(args))
		},
	}
	return c
}

// parseTopicPartitions parses --topic values: TOPIC or TOPIC:P,P,...
func parseTopicPartitions(specs []string) (map[string][]int32, error) {
	out := make(map[string][]int32)
	for _, spec := range specs {
		t, ps, hasPs := strings.Cut(spec, ":")
		if t == "" {
			return nil, usageErrorf("--topic %q: want TOPIC or TOPIC:P,P", spec)
		}
		if !hasPs {
			out[t] = nil
			continue
		}
		for _, p := range strings.Split(ps, ",") {
			n, err := strconv.ParseInt(strings.TrimSpace(p), 10, 32)
			if err != nil || n < 0 {
				return nil, usageErrorf("--topic %q: partition %q is not a partition number", spec, p)
			}
			out[t] = append(out[t], int32(n))
		}
	}
	return out, nil
}

func newGroupDeleteOffsetsCmd(g *globals) *cobra.Command {
	var topics []string
	c := &cobra.Command{
		Use:   "delete-offsets GROUP --topic TOPIC[:P,P]...",
		Short: "Delete a group's committed offsets for topics or partitions",
		Long: `Delete committed offsets of GROUP (OffsetDelete). The broker refuses while
members of the group are subscribed to the topic.`,
		Example: `  quill group delete-offsets audit --topic orders
  quill group delete-offsets audit --topic orders:0,1 --topic payments`,
		Args: exactArgs(1, "one GROUP"),
		RunE: func(cmd *cobra.Command, args []string) error {
			tps, err := parseTopicPartitions(topics)
			if err != nil {
				return err
			}
			if len(tps) == 0 {
				return usageErrorf("give at least one --topic TOPIC[:P,P]")
			}
			s, err := g.open(cmd, true)
			if err != nil {
				return err
			}
			defer s.close()
			set, err := resolvePartitions(s, tps)
			if err != nil {
				return err
			}
			resps, err := s.adm.DeleteOffsets(s.ctx, args[0], set)
			if err != nil {
				return s.explain(err)
			}
			var errs []error
			total := 0
			for _, tp := range set.Sorted() {
				for _, p := range tp.Partitions {
					total++
					if perr, ok := resps.Lookup(tp.Topic, p); ok && perr != nil {
						errs = append(errs, resultErr(fmt.Sprintf("deleting offset of %s[%d]", tp.Topic, p), perr, ""))
						continue
					}
					fmt.Fprintf(cmd.OutOrStdout(), "Deleted offset of group %s for %s[%d]\n", args[0], tp.Topic, p)
				}
			}
			return reportFailures(cmd.ErrOrStderr(), "partitions", errs, total)
		},
	}
	c.Flags().StringArrayVarP(&topics, "topic", "t", nil, "TOPIC or TOPIC:P,P (repeatable)")
	return c
}

// resolvePartitions fills in all partitions of topics given without a list.
func resolvePartitions(s *session, tps map[string][]int32) (kadm.TopicsSet, error) {
	set := make(kadm.TopicsSet)
	var need []string
	for t, ps := range tps {
		if ps == nil {
			need = append(need, t)
			continue
		}
		set.Add(t, ps...)
	}
	if len(need) > 0 {
		tds, err := s.adm.ListTopics(s.ctx, need...)
		if err != nil {
			return nil, s.explain(err)
		}
		for _, t := range need {
			td, ok := tds[t]
			if !ok || td.Err != nil {
				var terr error = fmt.Errorf("not returned by the broker")
				if ok {
					terr = td.Err
				}
				return nil, resultErr("topic "+t, terr, "")
			}
			set.Add(t, td.Partitions.Numbers()...)
		}
	}
	return set, nil
}
