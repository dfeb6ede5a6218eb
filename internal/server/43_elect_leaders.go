package server

// ElectLeaders, versions 0-2 (KIP-183, KIP-460): preferred (type 0) and
// unclean (type 1) leader elections through the controller. Needs Alter on
// the cluster. A null topic list means every partition; then only the
// partitions that were elected are listed, as Kafka does.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/quillstream/quill/internal/auth"
	"github.com/quillstream/quill/internal/controller"
)

func (s *Server) handleElectLeaders(r *request, req *kmsg.ElectLeadersRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.ElectLeadersResponse)
	allowed := s.allowed(r, auth.OpAlter, auth.ResourceCluster, auth.ClusterResource)
	if req.ElectionType > 1 {
		resp.ErrorCode = kerr.InvalidRequest.Code
		return resp, nil
	}
	var parts controller.TopicPartitions
	if req.Topics != nil {
		parts = controller.TopicPartitions{}
		for _, t := range req.Topics {
			parts[t.Topic] = append(parts[t.Topic], t.Partitions...)
		}
	}
	var results map[string]map[int32]error
	if allowed {
		results = s.ctrl.ElectLeaders(req.ElectionType == 1, parts)
	}
	add := func(topic string, p int32, err error) {
		var rt *kmsg.ElectLeadersResponseTopic
		for i := range resp.Topics {
			if resp.Topics[i].Topic == topic {
				rt = &resp.Topics[i]
			}
		}
		if rt == nil {
			resp.Topics = append(resp.Topics, kmsg.NewElectLeadersResponseTopic())
			rt = &resp.Topics[len(resp.Topics)-1]
			rt.Topic = topic
		}
		rp := kmsg.NewElectLeadersResponseTopicPartition()
		rp.Partition = p
		if err != nil {
			rp.ErrorCode, rp.ErrorMessage = errorCodeMessage(err)
		}
		rt.Partitions = append(rt.Partitions, rp)
	}
	if !allowed {
		if r.version >= 1 {
			resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		}
		for _, t := range req.Topics {
			for _, p := range t.Partitions {
				add(t.Topic, p, kerr.ClusterAuthorizationFailed)
			}
		}
		return resp, nil
	}
	if req.Topics == nil {
		for topic, ps := range results {
			for p, err := range ps {
				if err == nil {
					add(topic, p, nil)
				}
			}
		}
		return resp, nil
	}
	for _, t := range req.Topics {
		for _, p := range t.Partitions {
			add(t.Topic, p, results[t.Topic][p])
		}
	}
	return resp, nil
}
