package server

// ListPartitionReassignments, version 0 (KIP-455): the in-flight
// reassignments, of every partition (null topics) or of the named ones;
// partitions with none in flight, and unknown ones, are left out. Needs
// Describe on the cluster (CLUSTER_AUTHORIZATION_FAILED otherwise).

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/quillstream/quill/internal/auth"
	"github.com/quillstream/quill/internal/controller"
)

func (s *Server) handleListPartitionReassignments(r *request, req *kmsg.ListPartitionReassignmentsRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.ListPartitionReassignmentsResponse)
	if !s.allowed(r, auth.OpDescribe, auth.ResourceCluster, auth.ClusterResource) {
		resp.ErrorCode, resp.ErrorMessage = errorCodeMessage(kerr.ClusterAuthorizationFailed)
		return resp, nil
	}
	var parts controller.TopicPartitions
	if req.Topics != nil {
		parts = controller.TopicPartitions{}
		for _, t := range req.Topics {
			parts[t.Topic] = append(parts[t.Topic], t.Partitions...)
		}
	}
	for _, st := range s.ctrl.ListPartitionReassignments(parts) {
		if n := len(resp.Topics); n == 0 || resp.Topics[n-1].Topic != st.Topic {
			rt := kmsg.NewListPartitionReassignmentsResponseTopic()
			rt.Topic = st.Topic
			resp.Topics = append(resp.Topics, rt)
		}
		rt := &resp.Topics[len(resp.Topics)-1]
		rp := kmsg.NewListPartitionReassignmentsResponseTopicPartition()
		rp.Partition = st.Partition
		rp.Replicas = nonNilInt32(st.Replicas)
		rp.AddingReplicas = nonNilInt32(st.Adding)
		rp.RemovingReplicas = nonNilInt32(st.Removing)
		rt.Partitions = append(rt.Partitions, rp)
	}
	return resp, nil
}

func nonNilInt32(xs []int32) []int32 {
	if xs == nil {
		return []int32{}
	}
	return xs
}
