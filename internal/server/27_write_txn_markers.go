package server

// WriteTxnMarkers, versions 0-1: a transaction coordinator asks this
// broker, leader of the partitions, to append commit/abort control batches
// (replica.Partition.AppendMarker). The coordinator appends locally
// (TxnMarkers) to partitions it leads; this API is for coordinators on
// other brokers (ClusterTxnMarkers) and for tools. A marker older than the producer's epoch gets
// INVALID_PRODUCER_EPOCH, one from an older coordinator
// TRANSACTION_COORDINATOR_FENCED. Each marker is answered once the ISR has
// it (acks=all), so a failover cannot lose it; a failed wait is answered
// with its error (NOT_LEADER_OR_FOLLOWER, REQUEST_TIMED_OUT,
// NOT_ENOUGH_REPLICAS_AFTER_APPEND) and the coordinator writes the marker
// again, which is harmless.

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
					off, err := p.AppendMarker(m.ProducerID, m.ProducerEpoch, m.Committed, m.CoordinatorEpoch)
					if err == nil && t.Topic == OffsetsTopic && s.groups != nil {
						s.groups.CompleteTxn(part, m.ProducerID, m.Committed)
					}
					if err == nil {
						err = awaitMarker(s.ctx, p, off)
					}
					rp.ErrorCode = errorCode(err)
				}
				rt.Partitions = append(rt.Partitions, rp)
			}
			rm.Topics = append(rm.Topics, rt)
		}
		resp.Markers = append(resp.Markers, rm)
	}
	return resp, nil
}
