package server

// ListOffsets, versions 0-8 (v0's OldStyleOffsets answered with one
// offset). Special timestamps: -1 latest (the high watermark, or the last
// stable offset for read_committed), -2 earliest, -3 the record with the
// largest timestamp (v7+, KIP-734), -4 earliest local (v8+; all of the log
// is local). Other timestamps find the first record at or after them
// through the time index; none, or one not yet committed, gives -1. A
// follower (ReplicaId >= 0) asking for latest gets the log end offset, as
// in Kafka.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (s *Server) handleListOffsets(r *request, req *kmsg.ListOffsetsRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.ListOffsetsResponse)
	img := s.ctrl.Image()
	seen := map[sessKey]bool{}
	for _, rt := range req.Topics {
		st := kmsg.NewListOffsetsResponseTopic()
		st.Topic = rt.Topic
		t := img.Topics[rt.Topic]
		for _, rp := range rt.Partitions {
			sp := kmsg.NewListOffsetsResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.Offset, sp.Timestamp, sp.LeaderEpoch = -1, -1, -1
			k := sessKey{rt.Topic, rp.Partition}
			switch {
			case seen[k]:
				sp.ErrorCode = kerr.InvalidRequest.Code
			case t == nil || rp.Partition < 0 || int(rp.Partition) >= len(t.Partitions):
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			default:
				sp.ErrorCode = s.listOffset(r.version, req.IsolationLevel == 1, rt.Topic, &rp, &sp, t.Partitions[rp.Partition].Leader)
				if sp.ErrorCode == 0 && req.ReplicaID >= 0 && rp.Timestamp == -1 {
					if p := s.replicas.Get(rt.Topic, rp.Partition); p != nil {
						sp.Offset = p.Log().LogEndOffset()
					}
				}
			}
			seen[k] = true
			if r.version == 0 && sp.ErrorCode == 0 {
				sp.OldStyleOffsets = []int64{sp.Offset}
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}

func (s *Server) listOffset(version int16, committed bool, topic string, rp *kmsg.ListOffsetsRequestTopicPartition, sp *kmsg.ListOffsetsResponseTopicPartition, leader int32) int16 {
	p := s.replicas.Get(topic, rp.Partition)
	if p == nil || leader != s.cfg.NodeID {
		return kerr.NotLeaderForPartition.Code
	}
	epoch := p.LeaderEpoch()
	if rp.CurrentLeaderEpoch >= 0 {
		if rp.CurrentLeaderEpoch < epoch {
			return kerr.FencedLeaderEpoch.Code
		}
		if rp.CurrentLeaderEpoch > epoch {
			return kerr.UnknownLeaderEpoch.Code
		}
	}
	l := p.Log()
	hw := p.HighWatermark()
	if committed {
		hw = p.LastStableOffset()
	}
	switch ts := rp.Timestamp; {
	case ts == -1:
		sp.Offset = hw
		sp.LeaderEpoch = epoch
	case ts == -2 || ts == -4 && version >= 8:
		sp.Offset = l.LogStartOffset()
		sp.LeaderEpoch = epoch
	case ts == -3 && version >= 7:
		off, t, e := l.MaxTimestamp()
		if off >= 0 && off < hw {
			sp.Offset, sp.Timestamp, sp.LeaderEpoch = off, t, e
		}
	case ts < 0:
		return kerr.UnsupportedVersion.Code
	default:
		off, t, e, ok, err := l.OffsetForTimestamp(ts)
		if err != nil {
			return kerr.KafkaStorageError.Code
		}
		if ok && off < hw {
			sp.Offset, sp.Timestamp, sp.LeaderEpoch = off, t, e
		}
	}
	if version < 4 {
		sp.LeaderEpoch = -1
	}
	return 0
}
