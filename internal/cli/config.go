package cli

import (
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// configEntry is one config as the CLI shows it. Overridden means set on
// this resource itself (for a topic: a topic-level override; for a broker:
// anything but the built-in default).
type configEntry struct {
	Name       string `json:"name" yaml:"name"`
	Value      string `json:"value" yaml:"value"`
	Source     string `json:"source" yaml:"source"`
	Overridden bool   `json:"overridden" yaml:"overridden"`
	Sensitive  bool   `json:"sensitive" yaml:"sensitive"`
}

func configEntries(rc kadm.ResourceConfig, topic bool) []configEntry {
	out := make([]configEntry, 0, len(rc.Configs))
	for _, c := range rc.Configs {
		e := configEntry{Name: c.Key, Value: c.MaybeValue(), Source: c.Source.String(), Sensitive: c.Sensitive}
		if topic {
			e.Overridden = c.Source == kmsg.ConfigSourceDynamicTopicConfig
		} else {
			e.Overridden = c.Source != kmsg.ConfigSourceDefaultConfig
		}
		if c.Sensitive {
			e.Value = "(sensitive)"
		}
		out = append(out, e)
	}
	// Overrides first, then by name: what a user set is what they look for.
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Overridden != out[j].Overridden {
			return out[i].Overridden
		}
		return out[i].Name < out[j].Name
	})
	return out
}

func writeConfigTable(w io.Writer, entries []configEntry) error {
	t := newTable(w, "NAME", "VALUE", "SOURCE")
	for _, e := range entries {
		src := e.Source
		if e.Overridden {
			src += " (override)"
		}
		t.row(e.Name, e.Value, src)
	}
	return t.flush()
}

// parseKV parses repeated k=v arguments.
func parseKV(flag string, kvs []string) (map[string]string, error) {
	m := make(map[string]string, len(kvs))
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, usageErrorf("%s %q: want key=value", flag, kv)
		}
		m[k] = v
	}
	return m, nil
}

// alterOps turns sets and deletes into incremental alter operations.
func alterOps(sets map[string]string, deletes []string) []kadm.AlterConfig {
	var ops []kadm.AlterConfig
	keys := make([]string, 0, len(sets))
	for k := range sets {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := sets[k]
		ops = append(ops, kadm.AlterConfig{Op: kadm.SetConfig, Name: k, Value: &v})
	}
	for _, k := range deletes {
		ops = append(ops, kadm.AlterConfig{Op: kadm.DeleteConfig, Name: k})
	}
	return ops
}

func newConfigCmd() *cobra.Command {
	g := new(globals)
	c := &cobra.Command{
		Use:   "config",
		Short: "Show and change broker and topic configs",
		Long: `Show and change dynamic configs of topics and brokers.

Changes use IncrementalAlterConfigs: only the named keys change; --delete
removes an override so the key falls back to its default.`,
		Example: `  quill config get topic orders
  quill config set topic orders retention.ms=86400000 cleanup.policy=compact
  quill config set topic orders --delete retention.ms
  quill config get broker 1
  quill config set broker 1 log.cleaner.threads=2
  quill config set broker --all log.retention.ms=604800000   # cluster-wide default`,
	}
	g.register(c)
	c.AddCommand(newConfigGetCmd(g), newConfigSetCmd(g))
	return c
}

// configTarget resolves `topic NAME` / `broker ID` / `broker --all`.
type configTarget struct {
	topic  string
	broker *int32 // nil with kind broker: cluster-wide default
	kind   string
}

func parseConfigTarget(args []string, allBrokers bool) (configTarget, []string, error) {
	if len(args) == 0 {
		return configTarget{}, nil, usageErrorf("want `topic NAME` or `broker ID`")
	}
	switch args[0] {
	case "topic", "topics":
		if len(args) < 2 {
			return configTarget{}, nil, usageErrorf("want `topic NAME`")
		}
		return configTarget{kind: "topic", topic: args[1]}, args[2:], nil
	case "broker", "brokers":
		if allBrokers {
			return configTarget{kind: "broker"}, args[1:], nil
		}
		if len(args) < 2 {
			return configTarget{}, nil, usageErrorf("want `broker ID` (or `broker --all` for the cluster-wide default)")
		}
		id, err := strconv.ParseInt(args[1], 10, 32)
		if err != nil {
			return configTarget{}, nil, usageErrorf("broker ID %q is not a number", args[1])
		}
		b := int32(id)
		return configTarget{kind: "broker", broker: &b}, args[2:], nil
	}
	return configTarget{}, nil, usageErrorf("unknown resource type %q: want topic or broker", args[0])
}

func (t configTarget) name() string {
	switch {
	case t.kind == "topic":
		return "topic " + t.topic
	case t.broker == nil:
		return "cluster-wide broker default"
	}
	return fmt.Sprintf("broker %d", *t.broker)
}

func newConfigGetCmd(g *globals) *cobra.Command {
	var output string
	var all, overridesOnly bool
	c := &cobra.Command{
		Use:   "get (topic NAME | broker ID | broker --all)",
		Short: "Show the configs of a topic or broker, with where each value comes from",
		Example: `  quill config get topic orders
  quill config get topic orders --overrides-only
  quill config get broker 1 -o json`,
		Args: minArgs(1, "`topic NAME` or `broker ID`"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			tgt, rest, err := parseConfigTarget(args, all)
			if err != nil {
				return err
			}
			if len(rest) > 0 {
				return usageErrorf("unexpected arguments %q", rest)
			}
			s, err := g.open(cmd, true)
			if err != nil {
				return err
			}
			defer s.close()
			var rcs kadm.ResourceConfigs
			if tgt.kind == "topic" {
				rcs, err = s.adm.DescribeTopicConfigs(s.ctx, tgt.topic)
			} else if tgt.broker != nil {
				rcs, err = s.adm.DescribeBrokerConfigs(s.ctx, *tgt.broker)
			} else {
				rcs, err = s.adm.DescribeBrokerConfigs(s.ctx)
			}
			if err != nil {
				return s.explain(err)
			}
			if len(rcs) == 0 {
				return resultErr(tgt.name(), fmt.Errorf("no configs returned"), "")
			}
			rc := rcs[0]
			if rc.Err != nil {
				return resultErr(tgt.name(), rc.Err, rc.ErrMessage)
			}
			entries := configEntries(rc, tgt.kind == "topic")
			if overridesOnly {
				kept := entries[:0]
				for _, e := range entries {
					if e.Overridden {
						kept = append(kept, e)
					}
				}
				entries = kept
			}
			if output != outTable {
				return emit(cmd.OutOrStdout(), output, entries)
			}
			return writeConfigTable(cmd.OutOrStdout(), entries)
		},
	}
	addOutputFlag(c, &output)
	c.Flags().BoolVar(&all, "all", false, "with broker: the cluster-wide default instead of one broker")
	c.Flags().BoolVar(&overridesOnly, "overrides-only", false, "show only values set on this resource")
	return c
}

func newConfigSetCmd(g *globals) *cobra.Command {
	var deletes []string
	var all bool
	c := &cobra.Command{
		Use:   "set (topic NAME | broker ID | broker --all) [KEY=VALUE...] [--delete KEY...]",
		Short: "Set or remove config overrides on a topic or broker",
		Example: `  quill config set topic orders retention.ms=86400000
  quill config set topic orders --delete retention.ms
  quill config set broker 1 log.cleaner.threads=2
  quill config set broker --all log.retention.ms=604800000`,
		Args: minArgs(1, "`topic NAME` or `broker ID` and KEY=VALUE pairs"),
		RunE: func(cmd *cobra.Command, args []string) error {
			tgt, rest, err := parseConfigTarget(args, all)
			if err != nil {
				return err
			}
			sets, err := parseKV("config", rest)
			if err != nil {
				return err
			}
			return alterConfigs(cmd, g, tgt, sets, deletes)
		},
	}
	c.Flags().StringArrayVar(&deletes, "delete", nil, "remove the override of KEY (repeatable)")
	c.Flags().BoolVar(&all, "all", false, "with broker: change the cluster-wide default")
	return c
}

// alterConfigs applies sets and deletes to one resource and reports it.
func alterConfigs(cmd *cobra.Command, g *globals, tgt configTarget, sets map[string]string, deletes []string) error {
	if len(sets) == 0 && len(deletes) == 0 {
		return usageErrorf("nothing to change: give KEY=VALUE pairs and/or --delete KEY")
	}
	s, err := g.open(cmd, true)
	if err != nil {
		return err
	}
	defer s.close()
	ops := alterOps(sets, deletes)
	var resps kadm.AlterConfigsResponses
	if tgt.kind == "topic" {
		resps, err = s.adm.AlterTopicConfigs(s.ctx, ops, tgt.topic)
	} else if tgt.broker != nil {
		resps, err = s.adm.AlterBrokerConfigs(s.ctx, ops, *tgt.broker)
	} else {
		resps, err = s.adm.AlterBrokerConfigs(s.ctx, ops)
	}
	if err != nil {
		return s.explain(err)
	}
	for _, r := range resps {
		if r.Err != nil {
			return resultErr("altering configs of "+tgt.name(), r.Err, r.ErrMessage)
		}
	}
	w := cmd.OutOrStdout()
	for _, op := range ops {
		if op.Op == kadm.DeleteConfig {
			fmt.Fprintf(w, "Deleted %s on %s\n", op.Name, tgt.name())
		} else {
			fmt.Fprintf(w, "Set %s=%s on %s\n", op.Name, *op.Value, tgt.name())
		}
	}
	return nil
}
