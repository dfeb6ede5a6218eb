package server

// DescribeProducers, version 0 (KIP-664): the producer state of partitions
// this broker leads: id, epoch, last sequence and timestamp, the
// coordinator epoch of the last marker and the first offset of the open
// transaction (-1 if none).

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (s *Server) handleDescribeProducers(r *request, req *kmsg.DescribeProducersRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.DescribeProducersResponse)
	img := s.ctrl.Image()
	for _, t := range req.Topics {
		rt := kmsg.NewDescribeProducersResponseTopic()
		rt.Topic = t.Topic
		tm := img.Topics[t.Topic]
		for _, part := range t.Partitions {
			rp := kmsg.NewDescribeProducersResponseTopicPartition()
			rp.Partition = part
			p := s.replicas.Get(t.Topic, part)
			switch {
			case tm == nil || part < 0 || int(part) >= len(tm.Partitions):
				rp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			case p == nil || tm.Partitions[part].Leader != s.cfg.NodeID:
				rp.ErrorCode = kerr.NotLeaderForPartition.Code
			default:
				for _, ps := range p.Producers() {
					ap := kmsg.NewDescribeProducersResponseTopicPartitionActiveProducer()
					ap.ProducerID, ap.ProducerEpoch = ps.ProducerID, int32(ps.Epoch)
					ap.LastSequence, ap.LastTimestamp = ps.LastSequence, ps.LastTimestamp
					ap.CoordinatorEpoch, ap.CurrentTxnStartOffset = ps.CoordinatorEpoch, ps.TxnStartOffset
					rp.ActiveProducers = append(rp.ActiveProducers, ap)
				}
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp, nil
}
