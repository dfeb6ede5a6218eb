package server

// Authorized operations (KIP-430): Metadata v8+ (topics; cluster v8-10),
// DescribeCluster, DescribeGroups v3+ and ConsumerGroupDescribe return, when
// asked, a bit field of the operations the principal may perform on each
// resource (bit n = operation code n). Without an authorizer every
// operation the resource supports is allowed, as in Kafka.

import (
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/quillstream/quill/internal/auth"
)

// supportedOps lists the operations of each resource type, as Kafka's
// AclEntry.supportedOperations.
var supportedOps = map[int8][]int8{
	auth.ResourceTopic: {auth.OpRead, auth.OpWrite, auth.OpCreate, auth.OpDescribe, auth.OpDelete,
		auth.OpAlter, auth.OpDescribeConfigs, auth.OpAlterConfigs},
	auth.ResourceGroup: {auth.OpRead, auth.OpDescribe, auth.OpDelete},
	auth.ResourceCluster: {auth.OpCreate, auth.OpClusterAction, auth.OpDescribeConfigs, auth.OpAlterConfigs,
		auth.OpIdempotentWrite, auth.OpAlter, auth.OpDescribe},
}

func (s *Server) authorizedOps(r *request, resourceType int8, name string) int32 {
	var bits int32
	for _, op := range supportedOps[resourceType] {
		if s.allowed(r, op, resourceType, name) {
			bits |= 1 << op
		}
	}
	return bits
}

// fillAuthorizedOps sets the bit fields a request asked for.
func (s *Server) fillAuthorizedOps(r *request, resp kmsg.Response) {
	switch req := r.body.(type) {
	case *kmsg.MetadataRequest:
		mr, ok := resp.(*kmsg.MetadataResponse)
		if !ok {
			return
		}
		if req.IncludeTopicAuthorizedOperations && r.version >= 8 {
			for i := range mr.Topics {
				if t := &mr.Topics[i]; t.ErrorCode == 0 && t.Topic != nil {
					t.AuthorizedOperations = s.authorizedOps(r, auth.ResourceTopic, *t.Topic)
				}
			}
		}
		if req.IncludeClusterAuthorizedOperations && r.version >= 8 && r.version <= 10 {
			mr.AuthorizedOperations = s.authorizedOps(r, auth.ResourceCluster, auth.ClusterResource)
		}
	case *kmsg.DescribeClusterRequest:
		if dr, ok := resp.(*kmsg.DescribeClusterResponse); ok && req.IncludeClusterAuthorizedOperations {
			dr.ClusterAuthorizedOperations = s.authorizedOps(r, auth.ResourceCluster, auth.ClusterResource)
		}
	case *kmsg.DescribeGroupsRequest:
		if dr, ok := resp.(*kmsg.DescribeGroupsResponse); ok && req.IncludeAuthorizedOperations && r.version >= 3 {
			for i := range dr.Groups {
				if g := &dr.Groups[i]; g.ErrorCode == 0 {
					g.AuthorizedOperations = s.authorizedOps(r, auth.ResourceGroup, g.Group)
				}
			}
		}
	case *kmsg.ConsumerGroupDescribeRequest:
		if dr, ok := resp.(*kmsg.ConsumerGroupDescribeResponse); ok && req.IncludeAuthorizedOperations {
			for i := range dr.Groups {
				if g := &dr.Groups[i]; g.ErrorCode == 0 {
					g.AuthorizedOperations = s.authorizedOps(r, auth.ResourceGroup, g.Group)
				}
			}
		}
	}
}
