package auth

import (
	"slices"
	"strings"
	"sync/atomic"

	"github.com/quillstream/quill/internal/metadata"
)

// Kafka's ACL codes (org.apache.kafka.common.acl and .resource).
const (
	ResourceAny             int8 = 1
	ResourceTopic           int8 = 2
	ResourceGroup           int8 = 3
	ResourceCluster         int8 = 4
	ResourceTransactionalID int8 = 5
	ResourceDelegationToken int8 = 6
	ResourceUser            int8 = 7

	PatternAny      int8 = 1
	PatternMatch    int8 = 2
	PatternLiteral  int8 = 3
	PatternPrefixed int8 = 4

	OpAny             int8 = 1
	OpAll             int8 = 2
	OpRead            int8 = 3
	OpWrite           int8 = 4
	OpCreate          int8 = 5
	OpDelete          int8 = 6
	OpAlter           int8 = 7
	OpDescribe        int8 = 8
	OpClusterAction   int8 = 9
	OpDescribeConfigs int8 = 10
	OpAlterConfigs    int8 = 11
	OpIdempotentWrite int8 = 12
	OpCreateTokens    int8 = 13
	OpDescribeTokens  int8 = 14

	PermAny   int8 = 1
	PermDeny  int8 = 2
	PermAllow int8 = 3
)

// ClusterResource is the name of the one Cluster resource.
const ClusterResource = "kafka-cluster"

// Wildcard matches every resource name (literal "*"), principal
// ("User:*") or host ("*").
const Wildcard = "*"

// Authorizer decides requests from the ACLs of the current metadata image,
// as Kafka's StandardAuthorizer does: super users may do anything; a
// matching DENY wins over any ALLOW; Read, Write, Delete and Alter imply
// Describe, and AlterConfigs implies DescribeConfigs; a resource with no
// ACL at all is allowed only with allow.everyone.if.no.acl.found.
type Authorizer struct {
	superUsers   map[string]bool
	allowIfNoACL bool
	image        func() *metadata.Image

	// built is the index of the ACLs of the image it was built from;
	// replaced (never modified) when the image's ACLs change.
	built atomic.Pointer[builtIndex]
}

type builtIndex struct {
	acls  []metadata.ACL
	index *aclIndex
}

// NewAuthorizer returns an authorizer over the images image returns.
func NewAuthorizer(superUsers []string, allowIfNoACL bool, image func() *metadata.Image) *Authorizer {
	a := &Authorizer{superUsers: map[string]bool{}, allowIfNoACL: allowIfNoACL, image: image}
	for _, u := range superUsers {
		a.superUsers[strings.TrimSpace(u)] = true
	}
	return a
}

// IsSuperUser reports whether principal is in super.users.
func (a *Authorizer) IsSuperUser(principal string) bool { return a.superUsers[principal] }

type aclIndex struct {
	literal  map[int8]map[string][]metadata.ACL // by resource type and name ("*" included)
	prefixed map[int8][]metadata.ACL
}

func buildIndex(acls []metadata.ACL) *aclIndex {
	ix := &aclIndex{literal: map[int8]map[string][]metadata.ACL{}, prefixed: map[int8][]metadata.ACL{}}
	for _, a := range acls {
		switch a.PatternType {
		case PatternLiteral:
			m := ix.literal[a.ResourceType]
			if m == nil {
				m = map[string][]metadata.ACL{}
				ix.literal[a.ResourceType] = m
			}
			m[a.ResourceName] = append(m[a.ResourceName], a)
		case PatternPrefixed:
			ix.prefixed[a.ResourceType] = append(ix.prefixed[a.ResourceType], a)
		}
	}
	return ix
}

func (a *Authorizer) currentIndex() *aclIndex {
	acls := a.image().ACLs
	if b := a.built.Load(); b != nil && sameSlice(b.acls, acls) {
		return b.index
	}
	// ACLs are shared between images until they change, so a rebuild
	// happens once per ACL change. Two goroutines may both rebuild: the
	// results are equal.
	b := &builtIndex{acls: acls, index: buildIndex(acls)}
	a.built.Store(b)
	return b.index
}

func sameSlice(x, y []metadata.ACL) bool {
	return len(x) == len(y) && (len(x) == 0 || &x[0] == &y[0])
}

// Authorize reports whether principal, connected from host, may perform op
// on the resource.
func (a *Authorizer) Authorize(principal, host string, op, resourceType int8, name string) bool {
	if a.superUsers[principal] {
		return true
	}
	ix := a.currentIndex()
	var matching []metadata.ACL
	matching = append(matching, ix.literal[resourceType][name]...)
	if name != Wildcard {
		matching = append(matching, ix.literal[resourceType][Wildcard]...)
	}
	for _, acl := range ix.prefixed[resourceType] {
		if strings.HasPrefix(name, acl.ResourceName) {
			matching = append(matching, acl)
		}
	}
	if len(matching) == 0 {
		return a.allowIfNoACL
	}
	allowed := false
	for _, acl := range matching {
		if !principalMatches(acl.Principal, principal) || (acl.Host != Wildcard && acl.Host != host) {
			continue
		}
		switch acl.Permission {
		case PermDeny:
			if acl.Operation == OpAll || acl.Operation == op {
				return false
			}
		case PermAllow:
			if acl.Operation == OpAll || acl.Operation == op || implies(acl.Operation, op) {
				allowed = true
			}
		}
	}
	return allowed
}

func principalMatches(aclPrincipal, principal string) bool {
	return aclPrincipal == principal || aclPrincipal == "User:*"
}

// implies reports whether an ALLOW for granted also allows op.
func implies(granted, op int8) bool {
	switch op {
	case OpDescribe:
		return granted == OpRead || granted == OpWrite || granted == OpDelete || granted == OpAlter
	case OpDescribeConfigs:
		return granted == OpAlterConfigs
	}
	return false
}

// ACLFilter selects ACLs as DescribeAcls and DeleteAcls filters do: Any
// (code 1) in a code field matches everything; a nil name, principal or
// host matches everything; pattern type Match selects the literal,
// wildcard and prefixed ACLs that would apply to the literal name.
type ACLFilter struct {
	ResourceType int8
	ResourceName *string
	PatternType  int8
	Principal    *string
	Host         *string
	Operation    int8
	Permission   int8
}

// Matches reports whether the filter selects acl.
func (f ACLFilter) Matches(acl metadata.ACL) bool {
	if f.ResourceType != ResourceAny && f.ResourceType != acl.ResourceType {
		return false
	}
	if f.Operation != OpAny && f.Operation != acl.Operation {
		return false
	}
	if f.Permission != PermAny && f.Permission != acl.Permission {
		return false
	}
	if f.Principal != nil && *f.Principal != acl.Principal {
		return false
	}
	if f.Host != nil && *f.Host != acl.Host {
		return false
	}
	switch f.PatternType {
	case PatternAny:
		return f.ResourceName == nil || *f.ResourceName == acl.ResourceName
	case PatternMatch:
		if f.ResourceName == nil {
			return true
		}
		n := *f.ResourceName
		switch acl.PatternType {
		case PatternLiteral:
			return acl.ResourceName == n || acl.ResourceName == Wildcard
		case PatternPrefixed:
			return strings.HasPrefix(n, acl.ResourceName)
		}
		return false
	default:
		return f.PatternType == acl.PatternType && (f.ResourceName == nil || *f.ResourceName == acl.ResourceName)
	}
}

// ValidACL checks an ACL to create, returning a message for
// INVALID_REQUEST, or "".
func ValidACL(a metadata.ACL) string {
	switch {
	case a.ResourceType < ResourceTopic || a.ResourceType > ResourceUser:
		return "invalid resource type"
	case a.PatternType != PatternLiteral && a.PatternType != PatternPrefixed:
		return "pattern type must be LITERAL or PREFIXED"
	case a.Operation < OpAll || a.Operation > OpDescribeTokens:
		return "invalid operation"
	case a.Permission != PermAllow && a.Permission != PermDeny:
		return "permission must be ALLOW or DENY"
	case a.ResourceName == "":
		return "resource name is empty"
	case a.ResourceType == ResourceCluster && a.ResourceName != ClusterResource:
		return "the cluster resource is named kafka-cluster"
	case a.PatternType == PatternPrefixed && a.ResourceName == Wildcard:
		return "a prefixed pattern cannot be \"*\""
	case !strings.Contains(a.Principal, ":") || strings.HasSuffix(a.Principal, ":"):
		return "principal must be Type:name, such as User:alice"
	case a.Host == "":
		return "host is empty; use * for any host"
	}
	return ""
}

// SortACLs orders ACLs for stable listings.
func SortACLs(acls []metadata.ACL) {
	slices.SortFunc(acls, func(x, y metadata.ACL) int {
		if c := int(x.ResourceType) - int(y.ResourceType); c != 0 {
			return c
		}
		if c := strings.Compare(x.ResourceName, y.ResourceName); c != 0 {
			return c
		}
		if c := int(x.PatternType) - int(y.PatternType); c != 0 {
			return c
		}
		if c := strings.Compare(x.Principal, y.Principal); c != 0 {
			return c
		}
		if c := strings.Compare(x.Host, y.Host); c != 0 {
			return c
		}
		if c := int(x.Operation) - int(y.Operation); c != 0 {
			return c
		}
		return int(x.Permission) - int(y.Permission)
	})
}
