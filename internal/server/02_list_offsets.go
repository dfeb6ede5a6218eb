package server

// ListOffsets, versions 0-8 (v0's OldStyleOffsets answered with one
// offset). Special timestamps: -1 latest (the high watermark, or the last
// stable offset for read_committed), -2 earliest, -3 the record with the
// largest timestamp (v7+, KIP-734), -4 earliest local (v8+; all of the log
// is local). Other timestamps find the first record at or after them
// through the time index; none, or one not yet committed, gives -1. A
// follower (ReplicaId >= 0) asking for latest gets the log end offset, as
// in Kafka.
//
// A newly elected leader whose high watermark is still below the start
// offset of its leader epoch (its followers have not fetched since the
// election) answers a client's latest, and a timestamp lookup that finds
// nothing below the high watermark, with the retriable OFFSET_NOT_AVAILABLE
// rather than an end offset lower than one already acknowledged (Kafka's
// Partition.fetchOffsetForTimestamp, KIP-207). Earliest is always answered.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/quillstream/quill/internal/replica"
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
				sp.ErrorCode = s.listOffset(r.version, req.IsolationLevel == 1, req.ReplicaID < 0, rt.Topic, &rp, &sp, t.Partitions[rp.Partition].Leader)
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

func (s *Server) listOffset(version int16, committed, client bool, topic string, rp *kmsg.ListOffsetsRequestTopicPartition, sp *kmsg.ListOffsetsResponseTopicPartition, leader int32) int16 {
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
	// Kafka checks clients' requests from v1 on (v0 has no isolation level).
	lagging := client && version >= 1 && hwBelowEpochStart(p, epoch)
	hw := p.HighWatermark()
	if committed {
		hw = p.LastStableOffset()
	}
	switch ts := rp.Timestamp; {
	case ts == -1:
		if lagging {
			return kerr.OffsetNotAvailable.Code
		}
		sp.Offset = hw
		sp.LeaderEpoch = epoch
	case ts == -2 || ts == -4 && version >= 8:
		sp.Offset = l.LogStartOffset()
		sp.LeaderEpoch = epoch
	case ts == -3 && version >= 7:
		off, t, e := l.MaxTimestamp()
		if off >= 0 && off < hw {
			sp.Offset, sp.Timestamp, sp.LeaderEpoch = off, t, e
		} else if lagging {
			return kerr.OffsetNotAvailable.Code
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
		} else if lagging {
			return kerr.OffsetNotAvailable.Code
		}
	}
	if version < 4 {
		sp.LeaderEpoch = -1
	}
	return 0
}

// hwBelowEpochStart says whether the leader's high watermark is below the
// offset where its current leader epoch starts: just elected, it has not
// yet learnt how far its followers are.
func hwBelowEpochStart(p *replica.Partition, epoch int32) bool {
	l := p.Log()
	if l.LatestEpoch() != epoch {
		return false // the epoch has no entry (not a leader's epoch)
	}
	_, start := l.EndOffsetForEpoch(epoch - 1)
	return start >= 0 && p.HighWatermark() < start
}
