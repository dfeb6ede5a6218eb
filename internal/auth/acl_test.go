package auth

import (
	"testing"

	"github.com/quillstream/quill/internal/metadata"
)

func acl(rt int8, name string, pt int8, principal string, op, perm int8) metadata.ACL {
	return metadata.ACL{ResourceType: rt, ResourceName: name, PatternType: pt, Principal: principal, Host: "*", Operation: op, Permission: perm}
}

func TestAuthorize(t *testing.T) {
	img := metadata.Empty()
	img.ACLs = []metadata.ACL{
		acl(ResourceTopic, "orders", PatternLiteral, "User:alice", OpWrite, PermAllow),
		acl(ResourceTopic, "orders", PatternLiteral, "User:bob", OpRead, PermAllow),
		acl(ResourceTopic, "logs-", PatternPrefixed, "User:bob", OpAll, PermAllow),
		acl(ResourceTopic, "logs-secret", PatternLiteral, "User:bob", OpRead, PermDeny),
		acl(ResourceTopic, "*", PatternLiteral, "User:carol", OpDescribe, PermAllow),
		acl(ResourceTopic, "public", PatternLiteral, "User:*", OpRead, PermAllow),
		acl(ResourceGroup, "g", PatternLiteral, "User:bob", OpRead, PermAllow),
		acl(ResourceCluster, ClusterResource, PatternLiteral, "User:ops", OpAlterConfigs, PermAllow),
		{ResourceType: ResourceTopic, ResourceName: "hosted", PatternType: PatternLiteral, Principal: "User:dave", Host: "10.0.0.1", Operation: OpRead, Permission: PermAllow},
	}
	a := NewAuthorizer([]string{"User:admin"}, false, func() *metadata.Image { return img })
	open := NewAuthorizer(nil, true, func() *metadata.Image { return img })
	for _, c := range []struct {
		a         *Authorizer
		principal string
		host      string
		op, rt    int8
		name      string
		want      bool
	}{
		{a, "User:alice", "1.2.3.4", OpWrite, ResourceTopic, "orders", true},
		{a, "User:alice", "1.2.3.4", OpRead, ResourceTopic, "orders", false},
		{a, "User:alice", "1.2.3.4", OpDescribe, ResourceTopic, "orders", true}, // Write implies Describe
		{a, "User:bob", "1.2.3.4", OpDescribe, ResourceTopic, "orders", true},   // Read implies Describe
		{a, "User:bob", "1.2.3.4", OpWrite, ResourceTopic, "orders", false},
		{a, "User:bob", "1.2.3.4", OpWrite, ResourceTopic, "logs-app", true},      // prefixed, All
		{a, "User:bob", "1.2.3.4", OpRead, ResourceTopic, "logs-secret", false},   // deny overrides allow
		{a, "User:bob", "1.2.3.4", OpWrite, ResourceTopic, "logs-secret", true},   // deny is for Read only
		{a, "User:bob", "1.2.3.4", OpRead, ResourceTopic, "logs", false},          // prefix longer than name
		{a, "User:carol", "1.2.3.4", OpDescribe, ResourceTopic, "anything", true}, // wildcard name
		{a, "User:carol", "1.2.3.4", OpRead, ResourceTopic, "anything", false},
		{a, "User:eve", "1.2.3.4", OpRead, ResourceTopic, "public", true}, // wildcard principal
		{a, "User:eve", "1.2.3.4", OpRead, ResourceTopic, "nothing", false},
		{a, "User:admin", "1.2.3.4", OpDelete, ResourceCluster, ClusterResource, true}, // super user
		{a, "User:bob", "1.2.3.4", OpRead, ResourceGroup, "g", true},
		{a, "User:bob", "1.2.3.4", OpRead, ResourceGroup, "h", false},
		{a, "User:ops", "1.2.3.4", OpDescribeConfigs, ResourceCluster, ClusterResource, true}, // AlterConfigs implies DescribeConfigs
		{a, "User:ops", "1.2.3.4", OpAlter, ResourceCluster, ClusterResource, false},
		{a, "User:dave", "10.0.0.1", OpRead, ResourceTopic, "hosted", true},
		{a, "User:dave", "10.0.0.2", OpRead, ResourceTopic, "hosted", false},
		{open, "User:eve", "1.2.3.4", OpRead, ResourceGroup, "no-acls-here", true},  // allow.everyone.if.no.acl.found
		{open, "User:eve", "1.2.3.4", OpRead, ResourceTopic, "no-acls-here", false}, // the "*" ACL of carol applies to every topic
		{open, "User:eve", "1.2.3.4", OpRead, ResourceTopic, "orders", false},       // ACLs exist for orders
		{open, "User:eve", "1.2.3.4", OpRead, ResourceTopic, "logs-x", false},       // prefixed ACL applies
	} {
		if got := c.a.Authorize(c.principal, c.host, c.op, c.rt, c.name); got != c.want {
			t.Errorf("%s@%s op %d on %d/%s = %v, want %v", c.principal, c.host, c.op, c.rt, c.name, got, c.want)
		}
	}

	// A new image with other ACLs is seen at once.
	next := *img
	next.ACLs = append([]metadata.ACL(nil), img.ACLs[1:]...)
	img = &next
	if a.Authorize("User:alice", "1.2.3.4", OpWrite, ResourceTopic, "orders") {
		t.Error("removed ACL still applies")
	}
}

func TestACLFilter(t *testing.T) {
	lit := acl(ResourceTopic, "orders", PatternLiteral, "User:alice", OpWrite, PermAllow)
	wild := acl(ResourceTopic, "*", PatternLiteral, "User:alice", OpWrite, PermAllow)
	pre := acl(ResourceTopic, "ord", PatternPrefixed, "User:bob", OpRead, PermDeny)
	name := func(s string) *string { return &s }
	for _, c := range []struct {
		f    ACLFilter
		want []bool // lit, wild, pre
	}{
		{ACLFilter{ResourceType: ResourceAny, PatternType: PatternAny, Operation: OpAny, Permission: PermAny}, []bool{true, true, true}},
		{ACLFilter{ResourceType: ResourceTopic, ResourceName: name("orders"), PatternType: PatternMatch, Operation: OpAny, Permission: PermAny}, []bool{true, true, true}},
		{ACLFilter{ResourceType: ResourceTopic, ResourceName: name("orders"), PatternType: PatternLiteral, Operation: OpAny, Permission: PermAny}, []bool{true, false, false}},
		{ACLFilter{ResourceType: ResourceTopic, PatternType: PatternPrefixed, Operation: OpAny, Permission: PermAny}, []bool{false, false, true}},
		{ACLFilter{ResourceType: ResourceAny, PatternType: PatternAny, Principal: name("User:bob"), Operation: OpAny, Permission: PermAny}, []bool{false, false, true}},
		{ACLFilter{ResourceType: ResourceAny, PatternType: PatternAny, Operation: OpWrite, Permission: PermAny}, []bool{true, true, false}},
		{ACLFilter{ResourceType: ResourceGroup, PatternType: PatternAny, Operation: OpAny, Permission: PermAny}, []bool{false, false, false}},
	} {
		for i, a := range []metadata.ACL{lit, wild, pre} {
			if got := c.f.Matches(a); got != c.want[i] {
				t.Errorf("filter %+v on %+v = %v, want %v", c.f, a, got, c.want[i])
			}
		}
	}
}

func TestValidACL(t *testing.T) {
	good := acl(ResourceTopic, "t", PatternLiteral, "User:a", OpRead, PermAllow)
	if m := ValidACL(good); m != "" {
		t.Errorf("valid ACL rejected: %s", m)
	}
	for _, mod := range []func(*metadata.ACL){
		func(a *metadata.ACL) { a.ResourceType = ResourceAny },
		func(a *metadata.ACL) { a.PatternType = PatternMatch },
		func(a *metadata.ACL) { a.Operation = OpAny },
		func(a *metadata.ACL) { a.Permission = PermAny },
		func(a *metadata.ACL) { a.ResourceName = "" },
		func(a *metadata.ACL) { a.Principal = "alice" },
		func(a *metadata.ACL) { a.ResourceType, a.ResourceName = ResourceCluster, "c" },
		func(a *metadata.ACL) { a.PatternType, a.ResourceName = PatternPrefixed, "*" },
	} {
		a := good
		mod(&a)
		if ValidACL(a) == "" {
			t.Errorf("invalid ACL %+v accepted", a)
		}
	}
}
