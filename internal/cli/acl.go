package cli

import (
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// AddSecurityCommands registers `quill acl` and `quill user` on root, with
// the conventions of the other client commands.
func AddSecurityCommands(root *cobra.Command) {
	for _, c := range []*cobra.Command{newACLCmd(), newUserCmd()} {
		prepare(c)
		root.AddCommand(c)
	}
}

func newACLCmd() *cobra.Command {
	g := new(globals)
	c := &cobra.Command{
		Use:     "acl",
		Aliases: []string{"acls"},
		Short:   "Create, list and delete ACLs (brokers with authorizer.class.name set)",
		Long: `Manage access control lists. An ACL allows or denies a principal
(User:alice, or User:* for everyone) an operation on a resource: a topic, a
group, the cluster or a transactional id, named literally or by prefix.

Operations: All, Read, Write, Create, Delete, Alter, Describe, ClusterAction,
DescribeConfigs, AlterConfigs, IdempotentWrite. Read, Write, Delete and Alter
imply Describe; AlterConfigs implies DescribeConfigs; a DENY wins over any
ALLOW.`,
		Example: `  quill acl create --principal User:alice --operation Write --topic orders- --prefixed
  quill acl create --principal User:bob --operation Read --topic orders --group billing
  quill acl create --principal User:mallory --deny --operation All --topic '*'
  quill acl list
  quill acl list --principal User:bob -o json
  quill acl delete --principal User:bob --topic orders`,
	}
	g.register(c)
	c.AddCommand(newACLCreateCmd(g), newACLListCmd(g), newACLDeleteCmd(g))
	return c
}

// aclFlags are the resource and principal flags shared by the subcommands.
type aclFlags struct {
	principals []string
	hosts      []string
	operations []string
	topics     []string
	groups     []string
	txnIDs     []string
	cluster    bool
	prefixed   bool
	pattern    string
	deny       bool
	allow      bool
}

func (f *aclFlags) register(c *cobra.Command, filter bool) {
	fl := c.Flags()
	fl.StringArrayVar(&f.principals, "principal", nil, "principal, such as User:alice or User:* (repeatable)")
	fl.StringArrayVar(&f.operations, "operation", nil, "operation: All, Read, Write, Create, Delete, Alter, Describe, ClusterAction, DescribeConfigs, AlterConfigs, IdempotentWrite (repeatable)")
	fl.StringArrayVar(&f.topics, "topic", nil, "topic name, prefix with --prefixed, or * (repeatable)")
	fl.StringArrayVar(&f.groups, "group", nil, "consumer group (repeatable)")
	fl.StringArrayVar(&f.txnIDs, "transactional-id", nil, "transactional id (repeatable)")
	fl.BoolVar(&f.cluster, "cluster", false, "the cluster resource")
	fl.BoolVar(&f.prefixed, "prefixed", false, "resource names are prefixes (pattern type PREFIXED)")
	fl.BoolVar(&f.deny, "deny", false, "a DENY ACL (default ALLOW)")
	if filter {
		fl.StringArrayVar(&f.hosts, "host", nil, "client host (repeatable)")
		fl.StringVar(&f.pattern, "pattern", "", "pattern type to match: literal, prefixed, any or match (ACLs that apply to the names given)")
		fl.BoolVar(&f.allow, "allow", false, "only ALLOW ACLs")
	} else {
		fl.StringArrayVar(&f.hosts, "host", []string{"*"}, "client host the ACL applies to (repeatable)")
	}
}

var aclOperations = map[string]kmsg.ACLOperation{
	"all": kmsg.ACLOperationAll, "read": kmsg.ACLOperationRead, "write": kmsg.ACLOperationWrite,
	"create": kmsg.ACLOperationCreate, "delete": kmsg.ACLOperationDelete, "alter": kmsg.ACLOperationAlter,
	"describe": kmsg.ACLOperationDescribe, "clusteraction": kmsg.ACLOperationClusterAction,
	"describeconfigs": kmsg.ACLOperationDescribeConfigs, "alterconfigs": kmsg.ACLOperationAlterConfigs,
	"idempotentwrite": kmsg.ACLOperationIdempotentWrite,
}

func parseOperation(s string) (kmsg.ACLOperation, error) {
	k := strings.ToLower(strings.NewReplacer("_", "", "-", "").Replace(s))
	if op, ok := aclOperations[k]; ok {
		return op, nil
	}
	return 0, usageErrorf("--operation %q: must be one of All, Read, Write, Create, Delete, Alter, Describe, ClusterAction, DescribeConfigs, AlterConfigs, IdempotentWrite", s)
}

type aclResource struct {
	typ  kmsg.ACLResourceType
	name string
}

func (f *aclFlags) resources() []aclResource {
	var out []aclResource
	for _, t := range f.topics {
		out = append(out, aclResource{kmsg.ACLResourceTypeTopic, t})
	}
	for _, g := range f.groups {
		out = append(out, aclResource{kmsg.ACLResourceTypeGroup, g})
	}
	for _, x := range f.txnIDs {
		out = append(out, aclResource{kmsg.ACLResourceTypeTransactionalId, x})
	}
	if f.cluster {
		out = append(out, aclResource{kmsg.ACLResourceTypeCluster, "kafka-cluster"})
	}
	return out
}

func checkPrincipal(p string) error {
	if i := strings.Index(p, ":"); i <= 0 || i == len(p)-1 {
		return usageErrorf("--principal %q: must be Type:name, such as User:alice", p)
	}
	return nil
}

func newACLCreateCmd(g *globals) *cobra.Command {
	var f aclFlags
	c := &cobra.Command{
		Use:   "create",
		Short: "Create ACLs: every principal x operation x resource x host given",
		Example: `  quill acl create --principal User:alice --operation Write --operation Describe --topic orders
  quill acl create --principal User:bob --operation Read --topic logs- --prefixed --group logs- 
  quill acl create --principal User:ops --operation AlterConfigs --cluster`,
		Args: exactArgs(0, "no arguments (use flags)"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			res := f.resources()
			switch {
			case len(f.principals) == 0:
				return usageErrorf("give at least one --principal")
			case len(f.operations) == 0:
				return usageErrorf("give at least one --operation")
			case len(res) == 0:
				return usageErrorf("give at least one resource: --topic, --group, --transactional-id or --cluster")
			}
			var ops []kmsg.ACLOperation
			for _, o := range f.operations {
				op, err := parseOperation(o)
				if err != nil {
					return err
				}
				ops = append(ops, op)
			}
			for _, p := range f.principals {
				if err := checkPrincipal(p); err != nil {
					return err
				}
			}
			pattern := kmsg.ACLResourcePatternTypeLiteral
			if f.prefixed {
				pattern = kmsg.ACLResourcePatternTypePrefixed
			}
			perm := kmsg.ACLPermissionTypeAllow
			if f.deny {
				perm = kmsg.ACLPermissionTypeDeny
			}
			req := kmsg.NewPtrCreateACLsRequest()
			for _, r := range res {
				for _, p := range f.principals {
					for _, h := range f.hosts {
						for _, op := range ops {
							cr := kmsg.NewCreateACLsRequestCreation()
							cr.ResourceType, cr.ResourceName, cr.ResourcePatternType = r.typ, r.name, pattern
							if r.typ == kmsg.ACLResourceTypeCluster {
								cr.ResourcePatternType = kmsg.ACLResourcePatternTypeLiteral
							}
							cr.Principal, cr.Host, cr.Operation, cr.PermissionType = p, h, op, perm
							req.Creations = append(req.Creations, cr)
						}
					}
				}
			}
			s, err := g.open(cmd, true)
			if err != nil {
				return err
			}
			defer s.close()
			resp, err := req.RequestWith(s.ctx, s.cl)
			if err != nil {
				return s.explain(err)
			}
			var errs []error
			for i, r := range resp.Results {
				cr := req.Creations[i]
				desc := describeACL(cr.ResourceType, cr.ResourceName, cr.ResourcePatternType, cr.Principal, cr.Host, cr.Operation, cr.PermissionType)
				if err := kerr.ErrorForCode(r.ErrorCode); err != nil {
					msg := ""
					if r.ErrorMessage != nil {
						msg = *r.ErrorMessage
					}
					errs = append(errs, resultErr("create ACL "+desc, err, msg))
					continue
				}
				fmt.Fprintf(cmd.OutOrStdout(), "Created ACL %s\n", desc)
			}
			return reportFailures(cmd.ErrOrStderr(), "ACLs", errs, len(req.Creations))
		},
	}
	f.register(c, false)
	return c
}

func describeACL(rt kmsg.ACLResourceType, name string, pt kmsg.ACLResourcePatternType, principal, host string, op kmsg.ACLOperation, perm kmsg.ACLPermissionType) string {
	return fmt.Sprintf("%s %s %s on %s %s %q from %s", strings.ToUpper(perm.String()), principal, op, strings.ToLower(pt.String()), strings.ToLower(rt.String()), name, host)
}

// filters builds one filter per resource (or one for every resource).
func (f *aclFlags) filters() ([]kmsg.DeleteACLsRequestFilter, error) {
	pattern := kmsg.ACLResourcePatternTypeAny
	switch strings.ToLower(f.pattern) {
	case "":
		if f.prefixed {
			pattern = kmsg.ACLResourcePatternTypePrefixed
		} else if len(f.resources()) > 0 {
			pattern = kmsg.ACLResourcePatternTypeLiteral
		}
	case "literal":
		pattern = kmsg.ACLResourcePatternTypeLiteral
	case "prefixed":
		pattern = kmsg.ACLResourcePatternTypePrefixed
	case "any":
	case "match":
		pattern = kmsg.ACLResourcePatternTypeMatch
	default:
		return nil, usageErrorf("--pattern %q: must be literal, prefixed, any or match", f.pattern)
	}
	perm := kmsg.ACLPermissionTypeAny
	switch {
	case f.allow && f.deny:
		return nil, usageErrorf("--allow and --deny exclude each other")
	case f.allow:
		perm = kmsg.ACLPermissionTypeAllow
	case f.deny:
		perm = kmsg.ACLPermissionTypeDeny
	}
	ops := []kmsg.ACLOperation{kmsg.ACLOperationAny}
	if len(f.operations) > 0 {
		ops = nil
		for _, o := range f.operations {
			op, err := parseOperation(o)
			if err != nil {
				return nil, err
			}
			ops = append(ops, op)
		}
	}
	principals := []*string{nil}
	if len(f.principals) > 0 {
		principals = nil
		for _, p := range f.principals {
			principals = append(principals, &p)
		}
	}
	hosts := []*string{nil}
	if len(f.hosts) > 0 {
		hosts = nil
		for _, h := range f.hosts {
			hosts = append(hosts, &h)
		}
	}
	type res struct {
		typ  kmsg.ACLResourceType
		name *string
	}
	rs := []res{{kmsg.ACLResourceTypeAny, nil}}
	if given := f.resources(); len(given) > 0 {
		rs = nil
		for _, r := range given {
			rs = append(rs, res{r.typ, &r.name})
		}
	}
	var out []kmsg.DeleteACLsRequestFilter
	for _, r := range rs {
		for _, p := range principals {
			for _, h := range hosts {
				for _, op := range ops {
					fl := kmsg.NewDeleteACLsRequestFilter()
					fl.ResourceType, fl.ResourceName, fl.ResourcePatternType = r.typ, r.name, pattern
					fl.Principal, fl.Host, fl.Operation, fl.PermissionType = p, h, op, perm
					out = append(out, fl)
				}
			}
		}
	}
	return out, nil
}

// aclEntry is one ACL in list output; the field names are stable.
type aclEntry struct {
	ResourceType string `json:"resource_type" yaml:"resource_type"`
	Resource     string `json:"resource" yaml:"resource"`
	PatternType  string `json:"pattern_type" yaml:"pattern_type"`
	Principal    string `json:"principal" yaml:"principal"`
	Host         string `json:"host" yaml:"host"`
	Operation    string `json:"operation" yaml:"operation"`
	Permission   string `json:"permission" yaml:"permission"`
}

func newACLEntry(rt kmsg.ACLResourceType, name string, pt kmsg.ACLResourcePatternType, principal, host string, op kmsg.ACLOperation, perm kmsg.ACLPermissionType) aclEntry {
	return aclEntry{ResourceType: strings.ToLower(rt.String()), Resource: name, PatternType: strings.ToLower(pt.String()),
		Principal: principal, Host: host, Operation: op.String(), Permission: strings.ToUpper(perm.String())}
}

func printACLs(cmd *cobra.Command, output string, list []aclEntry) error {
	slices.SortFunc(list, func(a, b aclEntry) int {
		return strings.Compare(a.ResourceType+"\x00"+a.Resource+"\x00"+a.PatternType+"\x00"+a.Principal+"\x00"+a.Operation,
			b.ResourceType+"\x00"+b.Resource+"\x00"+b.PatternType+"\x00"+b.Principal+"\x00"+b.Operation)
	})
	list = slices.Compact(list)
	if output != outTable {
		if list == nil {
			list = []aclEntry{}
		}
		return emit(cmd.OutOrStdout(), output, list)
	}
	t := newTable(cmd.OutOrStdout(), "RESOURCE-TYPE", "RESOURCE", "PATTERN", "PRINCIPAL", "HOST", "OPERATION", "PERMISSION")
	for _, e := range list {
		t.row(e.ResourceType, e.Resource, e.PatternType, e.Principal, e.Host, e.Operation, e.Permission)
	}
	return t.flush()
}

func newACLListCmd(g *globals) *cobra.Command {
	var f aclFlags
	var output string
	c := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List ACLs, optionally filtered",
		Example: `  quill acl list
  quill acl list --topic orders --pattern match   # every ACL that applies to topic orders
  quill acl list --principal User:alice -o json`,
		Args: exactArgs(0, "no arguments (use flags)"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			filters, err := f.filters()
			if err != nil {
				return err
			}
			s, err := g.open(cmd, true)
			if err != nil {
				return err
			}
			defer s.close()
			var list []aclEntry
			for _, fl := range filters {
				req := kmsg.NewPtrDescribeACLsRequest()
				req.ResourceType, req.ResourceName, req.ResourcePatternType = fl.ResourceType, fl.ResourceName, fl.ResourcePatternType
				req.Principal, req.Host, req.Operation, req.PermissionType = fl.Principal, fl.Host, fl.Operation, fl.PermissionType
				resp, err := req.RequestWith(s.ctx, s.cl)
				if err != nil {
					return s.explain(err)
				}
				if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
					msg := ""
					if resp.ErrorMessage != nil {
						msg = *resp.ErrorMessage
					}
					return resultErr("list ACLs", err, msg)
				}
				for _, r := range resp.Resources {
					for _, a := range r.ACLs {
						list = append(list, newACLEntry(r.ResourceType, r.ResourceName, r.ResourcePatternType, a.Principal, a.Host, a.Operation, a.PermissionType))
					}
				}
			}
			return printACLs(cmd, output, list)
		},
	}
	f.register(c, true)
	addOutputFlag(c, &output)
	return c
}

func newACLDeleteCmd(g *globals) *cobra.Command {
	var f aclFlags
	var output string
	var all bool
	c := &cobra.Command{
		Use:   "delete",
		Short: "Delete the ACLs that match the filter flags",
		Example: `  quill acl delete --principal User:bob --topic orders
  quill acl delete --topic logs- --prefixed
  quill acl delete --all`,
		Args: exactArgs(0, "no arguments (use flags)"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			if !all && len(f.principals) == 0 && len(f.resources()) == 0 && len(f.operations) == 0 && len(f.hosts) == 0 {
				return usageErrorf("give a filter (--principal, --topic, --group, --cluster, --operation, ...) or --all to delete every ACL")
			}
			filters, err := f.filters()
			if err != nil {
				return err
			}
			s, err := g.open(cmd, true)
			if err != nil {
				return err
			}
			defer s.close()
			req := kmsg.NewPtrDeleteACLsRequest()
			req.Filters = filters
			resp, err := req.RequestWith(s.ctx, s.cl)
			if err != nil {
				return s.explain(err)
			}
			var list []aclEntry
			for _, r := range resp.Results {
				if err := kerr.ErrorForCode(r.ErrorCode); err != nil {
					msg := ""
					if r.ErrorMessage != nil {
						msg = *r.ErrorMessage
					}
					return resultErr("delete ACLs", err, msg)
				}
				for _, a := range r.MatchingACLs {
					list = append(list, newACLEntry(a.ResourceType, a.ResourceName, a.ResourcePatternType, a.Principal, a.Host, a.Operation, a.PermissionType))
				}
			}
			if output == outTable {
				uniq := map[aclEntry]bool{}
				for _, e := range list {
					uniq[e] = true
				}
				fmt.Fprintf(cmd.OutOrStdout(), "Deleted %d ACLs\n", len(uniq))
				if len(list) == 0 {
					return nil
				}
			}
			return printACLs(cmd, output, list)
		},
	}
	f.register(c, true)
	addOutputFlag(c, &output)
	c.Flags().BoolVar(&all, "all", false, "delete every ACL (no filter)")
	return c
}
