package server

// DescribeQuorum, versions 0-1 (KIP-595): the controller quorum as this
// node sees it, as the single partition __cluster_metadata-0. The leader
// epoch is the Raft term, the high watermark the last applied index;
// voters' log end offsets are known on the active controller only (-1
// elsewhere). A single node is a quorum of itself.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (s *Server) handleDescribeQuorum(r *request, req *kmsg.DescribeQuorumRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.DescribeQuorumResponse)
	q := s.ctrl.Quorum()
	for _, rt := range req.Topics {
		st := kmsg.NewDescribeQuorumResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewDescribeQuorumResponseTopicPartition()
			sp.Partition = rp.Partition
			if rt.Topic != "__cluster_metadata" || rp.Partition != 0 {
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
				st.Partitions = append(st.Partitions, sp)
				continue
			}
			sp.LeaderID = q.Leader
			sp.LeaderEpoch = int32(q.Term)
			sp.HighWatermark = int64(q.Applied)
			if q.Leader < 0 {
				sp.ErrorCode = kerr.NotLeaderForPartition.Code
			}
			voters := s.ctrl.Voters()
			if len(voters) == 0 {
				v := kmsg.NewDescribeQuorumResponseTopicPartitionReplicaState()
				v.ReplicaID = s.cfg.NodeID
				v.LogEndOffset = s.ctrl.Image().Offset + 1
				sp.CurrentVoters = append(sp.CurrentVoters, v)
			}
			for _, vt := range voters {
				v := kmsg.NewDescribeQuorumResponseTopicPartitionReplicaState()
				v.ReplicaID = vt.ID
				v.LogEndOffset = -1
				if m, ok := q.VoterApplied[vt.ID]; ok {
					v.LogEndOffset = int64(m)
				}
				sp.CurrentVoters = append(sp.CurrentVoters, v)
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}
