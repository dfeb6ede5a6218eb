package server

// DeleteRecords, versions 0-2: advances a partition's log start offset
// (-1 means the high watermark); whole segments below it are deleted.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (s *Server) handleDeleteRecords(r *request, req *kmsg.DeleteRecordsRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.DeleteRecordsResponse)
	img := s.ctrl.Image()
	moved := false
	defer func() {
		// The new log start offsets must survive a crash: checkpoint now
		// rather than at the next periodic checkpoint.
		if moved {
			if err := s.replicas.Checkpoint(); err != nil {
				s.log.Error("checkpoint after DeleteRecords failed", "err", err)
			}
		}
	}()
	for _, rt := range req.Topics {
		st := kmsg.NewDeleteRecordsResponseTopic()
		st.Topic = rt.Topic
		t := img.Topics[rt.Topic]
		for _, rp := range rt.Partitions {
			sp := kmsg.NewDeleteRecordsResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.LowWatermark = -1
			p := s.replicas.Get(rt.Topic, rp.Partition)
			switch {
			case t == nil || rp.Partition < 0 || int(rp.Partition) >= len(t.Partitions):
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			case p == nil || t.Partitions[rp.Partition].Leader != s.cfg.NodeID:
				sp.ErrorCode = kerr.NotLeaderForPartition.Code
			default:
				low, err := p.DeleteRecords(rp.Offset)
				sp.LowWatermark = low
				sp.ErrorCode = errorCode(err)
				moved = moved || err == nil
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}
