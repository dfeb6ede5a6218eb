package server

// AlterPartitionReassignments, versions 0-1 (KIP-455): start, replace or
// cancel (null replicas) partition reassignments through the controller
// (internal/controller/reassign.go). Needs Alter on the cluster; a denied
// request fails as a whole with CLUSTER_AUTHORIZATION_FAILED, on every
// partition too, as Kafka answers. v1 (KIP-1070)
// AllowReplicationFactorChange=false refuses targets that change the
// replica count with INVALID_REPLICATION_FACTOR.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/quillstream/quill/internal/auth"
	"github.com/quillstream/quill/internal/controller"
)

func (s *Server) handleAlterPartitionReassignments(r *request, req *kmsg.AlterPartitionAssignmentsRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.AlterPartitionAssignmentsResponse)
	allowRF := r.version < 1 || req.AllowReplicationFactorChange
	resp.AllowReplicationFactorChange = allowRF
	var errs []error
	if !s.allowed(r, auth.OpAlter, auth.ResourceCluster, auth.ClusterResource) {
		resp.ErrorCode, resp.ErrorMessage = errorCodeMessage(kerr.ClusterAuthorizationFailed)
	} else {
		var reqs []controller.Reassignment
		for _, t := range req.Topics {
			for _, p := range t.Partitions {
				reqs = append(reqs, controller.Reassignment{Topic: t.Topic, Partition: p.Partition, Replicas: p.Replicas})
			}
		}
		errs = s.ctrl.AlterPartitionReassignments(reqs, allowRF)
	}
	i := 0
	for _, t := range req.Topics {
		rt := kmsg.NewAlterPartitionAssignmentsResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewAlterPartitionAssignmentsResponseTopicPartition()
			rp.Partition = p.Partition
			switch {
			case errs == nil:
				rp.ErrorCode, rp.ErrorMessage = resp.ErrorCode, resp.ErrorMessage
			case errs[i] != nil:
				rp.ErrorCode, rp.ErrorMessage = errorCodeMessage(errs[i])
			}
			i++
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp, nil
}
