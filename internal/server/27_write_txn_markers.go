package server

// WriteTxnMarkers, versions 0-1: a transaction coordinator asks this
// broker, leader of the partitions, to append commit/abort control batches
// (replica.Partition.AppendMarker). On one node the coordinator appends
// locally (TxnMarkers); this API is for coordinators on other brokers and
// for tools. A marker older than the producer's epoch gets
// INVALID_PRODUCER_EPOCH, one from an older coordinator
// TRANSACTION_COORDINATOR_FENCED.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (s *Server) handleWriteTxnMarkers(r *request, req *kmsg.WriteTxnMarkersRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.WriteTxnMarkersResponse)
	img := s.ctrl.Image()
	for _, m := range req.Markers {
		rm := kmsg.NewWriteTxnMarkersResponseMarker()
		rm.ProducerID = m.ProducerID
		for _, t := range m.Topics {
			rt := kmsg.NewWriteTxnMarkersResponseMarkerTopic()
			rt.Topic = t.Topic
			tm := img.Topics[t.Topic]
			for _, part := range t.Partitions {
				rp := kmsg.NewWriteTxnMarkersResponseMarkerTopicPartition()
				rp.Partition = part
				p := s.replicas.Get(t.Topic, part)
				switch {
				case tm == nil || part < 0 || int(part) >= len(tm.Partitions):
					rp.ErrorCode = kerr.UnknownTopicOrPartition.Code
				case p == nil || tm.Partitions[part].Leader != s.cfg.NodeID:
					rp.ErrorCode = kerr.NotLeaderForPartition.Code
				default:
					_, err := p.AppendMarker(m.ProducerID, m.ProducerEpoch, m.Committed, m.CoordinatorEpoch)
					rp.ErrorCode = errorCode(err)
					if err == nil && t.Topic == OffsetsTopic && s.groups != nil {
						s.groups.CompleteTxn(part, m.ProducerID, m.Committed)
					}
				}
				rt.Partitions = append(rt.Partitions, rp)
			}
			rm.Topics = append(rm.Topics, rt)
		}
		resp.Markers = append(resp.Markers, rm)
	}
	return resp, nil
}
