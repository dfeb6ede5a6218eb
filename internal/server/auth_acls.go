package server

// CreateAcls (key 30, versions 0-3), DescribeAcls (key 29, versions 0-3)
// and DeleteAcls (key 31, versions 0-3). ACLs live in the metadata log
// (metadata.ACLRecord); the authorizer reads them from the current image.
// Describe needs Describe on the Cluster, Create and Delete need Alter on
// the Cluster. Without authorizer.class.name the APIs answer
// SECURITY_DISABLED, as Kafka does.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/quillstream/quill/internal/auth"
	"github.com/quillstream/quill/internal/metadata"
)

func strPtr(s string) *string { return &s }

func (s *Server) handleCreateAcls(r *request, req *kmsg.CreateACLsRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.CreateACLsResponse)
	var topErr *kerr.Error
	var topMsg string
	switch {
	case s.authz == nil:
		topErr, topMsg = kerr.SecurityDisabled, "no authorizer is configured (authorizer.class.name)"
	case !s.allowed(r, auth.OpAlter, auth.ResourceCluster, auth.ClusterResource):
		topErr, topMsg = kerr.ClusterAuthorizationFailed, "creating ACLs needs Alter on the cluster"
	}
	var acls []metadata.ACL
	var idx []int
	results := make([]kmsg.CreateACLsResponseResult, len(req.Creations))
	for i, c := range req.Creations {
		results[i] = kmsg.NewCreateACLsResponseResult()
		if topErr != nil {
			results[i].ErrorCode, results[i].ErrorMessage = topErr.Code, strPtr(topMsg)
			continue
		}
		pt := int8(c.ResourcePatternType)
		if r.version == 0 {
			pt = auth.PatternLiteral
		}
		a := metadata.ACL{
			ResourceType: int8(c.ResourceType), ResourceName: c.ResourceName, PatternType: pt,
			Principal: c.Principal, Host: c.Host, Operation: int8(c.Operation), Permission: int8(c.PermissionType),
		}
		if msg := auth.ValidACL(a); msg != "" {
			results[i].ErrorCode, results[i].ErrorMessage = kerr.InvalidRequest.Code, strPtr(msg)
			continue
		}
		acls = append(acls, a)
		idx = append(idx, i)
	}
	if len(acls) > 0 {
		if err := s.ctrl.CreateACLs(acls); err != nil {
			for _, i := range idx {
				results[i].ErrorCode, results[i].ErrorMessage = errorCodeMessage(err)
			}
		}
	}
	resp.Results = results
	return resp, nil
}

func aclFilter(rt kmsg.ACLResourceType, name *string, pt kmsg.ACLResourcePatternType, principal, host *string, op kmsg.ACLOperation, perm kmsg.ACLPermissionType, version int16) auth.ACLFilter {
	f := auth.ACLFilter{ResourceType: int8(rt), ResourceName: name, PatternType: int8(pt),
		Principal: principal, Host: host, Operation: int8(op), Permission: int8(perm)}
	if version == 0 {
		f.PatternType = auth.PatternLiteral
	}
	return f
}

func validFilter(f auth.ACLFilter) bool {
	return f.ResourceType >= auth.ResourceAny && f.ResourceType <= auth.ResourceUser &&
		f.PatternType >= auth.PatternAny && f.PatternType <= auth.PatternPrefixed &&
		f.Operation >= auth.OpAny && f.Operation <= auth.OpDescribeTokens &&
		f.Permission >= auth.PermAny && f.Permission <= auth.PermAllow
}

func (s *Server) handleDescribeAcls(r *request, req *kmsg.DescribeACLsRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.DescribeACLsResponse)
	switch {
	case s.authz == nil:
		resp.ErrorCode, resp.ErrorMessage = kerr.SecurityDisabled.Code, strPtr("no authorizer is configured (authorizer.class.name)")
		return resp, nil
	case !s.allowed(r, auth.OpDescribe, auth.ResourceCluster, auth.ClusterResource):
		resp.ErrorCode, resp.ErrorMessage = kerr.ClusterAuthorizationFailed.Code, strPtr("describing ACLs needs Describe on the cluster")
		return resp, nil
	}
	f := aclFilter(req.ResourceType, req.ResourceName, req.ResourcePatternType, req.Principal, req.Host, req.Operation, req.PermissionType, r.version)
	if !validFilter(f) {
		resp.ErrorCode, resp.ErrorMessage = kerr.InvalidRequest.Code, strPtr("invalid ACL filter")
		return resp, nil
	}
	var matched []metadata.ACL
	for _, a := range s.ctrl.Image().ACLs {
		if f.Matches(a) {
			matched = append(matched, a)
		}
	}
	auth.SortACLs(matched)
	for _, a := range matched {
		n := len(resp.Resources)
		if n == 0 || resp.Resources[n-1].ResourceType != kmsg.ACLResourceType(a.ResourceType) ||
			resp.Resources[n-1].ResourceName != a.ResourceName || resp.Resources[n-1].ResourcePatternType != kmsg.ACLResourcePatternType(a.PatternType) {
			res := kmsg.NewDescribeACLsResponseResource()
			res.ResourceType, res.ResourceName, res.ResourcePatternType = kmsg.ACLResourceType(a.ResourceType), a.ResourceName, kmsg.ACLResourcePatternType(a.PatternType)
			resp.Resources = append(resp.Resources, res)
			n++
		}
		e := kmsg.NewDescribeACLsResponseResourceACL()
		e.Principal, e.Host, e.Operation, e.PermissionType = a.Principal, a.Host, kmsg.ACLOperation(a.Operation), kmsg.ACLPermissionType(a.Permission)
		resp.Resources[n-1].ACLs = append(resp.Resources[n-1].ACLs, e)
	}
	return resp, nil
}

func (s *Server) handleDeleteAcls(r *request, req *kmsg.DeleteACLsRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.DeleteACLsResponse)
	var topErr *kerr.Error
	var topMsg string
	switch {
	case s.authz == nil:
		topErr, topMsg = kerr.SecurityDisabled, "no authorizer is configured (authorizer.class.name)"
	case !s.allowed(r, auth.OpAlter, auth.ResourceCluster, auth.ClusterResource):
		topErr, topMsg = kerr.ClusterAuthorizationFailed, "deleting ACLs needs Alter on the cluster"
	}
	results := make([]kmsg.DeleteACLsResponseResult, len(req.Filters))
	var fns []func(metadata.ACL) bool
	var idx []int
	for i, rf := range req.Filters {
		results[i] = kmsg.NewDeleteACLsResponseResult()
		if topErr != nil {
			results[i].ErrorCode, results[i].ErrorMessage = topErr.Code, strPtr(topMsg)
			continue
		}
		f := aclFilter(rf.ResourceType, rf.ResourceName, rf.ResourcePatternType, rf.Principal, rf.Host, rf.Operation, rf.PermissionType, r.version)
		if !validFilter(f) {
			results[i].ErrorCode, results[i].ErrorMessage = kerr.InvalidRequest.Code, strPtr("invalid ACL filter")
			continue
		}
		fns = append(fns, f.Matches)
		idx = append(idx, i)
	}
	if len(fns) > 0 {
		deleted, err := s.ctrl.DeleteACLs(fns)
		for j, i := range idx {
			if err != nil {
				results[i].ErrorCode, results[i].ErrorMessage = errorCodeMessage(err)
				continue
			}
			for _, a := range deleted[j] {
				m := kmsg.NewDeleteACLsResponseResultMatchingACL()
				m.ResourceType, m.ResourceName, m.ResourcePatternType = kmsg.ACLResourceType(a.ResourceType), a.ResourceName, kmsg.ACLResourcePatternType(a.PatternType)
				m.Principal, m.Host = a.Principal, a.Host
				m.Operation, m.PermissionType = kmsg.ACLOperation(a.Operation), kmsg.ACLPermissionType(a.Permission)
				results[i].MatchingACLs = append(results[i].MatchingACLs, m)
			}
		}
	}
	resp.Results = results
	return resp, nil
}
