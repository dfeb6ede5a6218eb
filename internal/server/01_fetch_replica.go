package server

// Fetch from a follower replica (ReplicaID >= 0; v15+ ReplicaState.ID):
// Kafka's replication fetch. It reads up to the log end offset, not the
// high watermark; its FetchOffset is the follower's log end offset, which
// moves the high watermark and the ISR (replica.Manager.FollowerFetched);
// with v12+ a LastFetchedEpoch that the leader's log does not end the same
// way is answered with DivergingEpoch, and the follower truncates.
// Sessions are not used: the follower sends every partition each time.

import (
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/quillstream/quill/internal/replica"
)

// replicaIDOf returns the fetching replica's id, or -1 for consumers.
func replicaIDOf(version int16, req *kmsg.FetchRequest) int32 {
	if version >= 15 {
		return req.ReplicaState.ID
	}
	return req.ReplicaID
}

func (s *Server) handleReplicaFetch(r *request, req *kmsg.FetchRequest, replicaID int32) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.FetchResponse)
	if r.version >= 13 {
		// Quill's followers fetch with v12 (topic names).
		resp.ErrorCode = kerr.UnsupportedVersion.Code
		return resp, nil
	}
	maxWait := time.Duration(req.MaxWaitMillis) * time.Millisecond
	var waiter *replica.Waiter
	var waitingOn []*replica.Partition
	defer func() {
		for _, p := range waitingOn {
			p.RemoveWaiter(waiter)
		}
	}()
	deadline := time.Now().Add(maxWait)
	for {
		out, bytes, urgent := s.readReplicaParts(r, req, replicaID, waiter == nil)
		if bytes > 0 || urgent || maxWait <= 0 || !time.Now().Before(deadline) {
			resp.Topics = out
			return resp, nil
		}
		if waiter == nil {
			waiter = replica.NewWaiter()
			for _, rt := range req.Topics {
				for _, rp := range rt.Partitions {
					if p := s.replicas.Get(rt.Topic, rp.Partition); p != nil {
						p.AddWaiter(waiter)
						waitingOn = append(waitingOn, p)
					}
				}
			}
			continue // re-read: an append may have come before the waiter
		}
		timer := time.NewTimer(time.Until(deadline))
		select {
		case <-waiter.C:
		case <-timer.C:
		case <-s.closing:
			deadline = time.Now()
		}
		timer.Stop()
	}
}

// readReplicaParts reads every partition once; record progress only on the
// first pass (the fetch offset does not change while the request waits).
func (s *Server) readReplicaParts(r *request, req *kmsg.FetchRequest, replicaID int32, record bool) ([]kmsg.FetchResponseTopic, int, bool) {
	img := s.ctrl.Image()
	var out []kmsg.FetchResponseTopic
	remaining := int(req.MaxBytes)
	if remaining <= 0 {
		remaining = 1 << 30
	}
	total, urgent := 0, false
	for _, rt := range req.Topics {
		st := kmsg.NewFetchResponseTopic()
		st.Topic = rt.Topic
		t := img.Topics[rt.Topic]
		for _, rp := range rt.Partitions {
			sp := kmsg.NewFetchResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.HighWatermark, sp.LastStableOffset, sp.LogStartOffset = -1, -1, -1
			sp.PreferredReadReplica = -1
			sp.RecordBatches = []byte{}
			code := func() int16 {
				if t == nil || rp.Partition < 0 || int(rp.Partition) >= len(t.Partitions) {
					return kerr.UnknownTopicOrPartition.Code
				}
				p := s.replicas.Get(rt.Topic, rp.Partition)
				if p == nil || t.Partitions[rp.Partition].Leader != s.cfg.NodeID || !p.IsLeader() {
					return kerr.NotLeaderForPartition.Code
				}
				epoch := p.LeaderEpoch()
				if rp.CurrentLeaderEpoch >= 0 && rp.CurrentLeaderEpoch < epoch {
					return kerr.FencedLeaderEpoch.Code
				}
				if rp.CurrentLeaderEpoch > epoch {
					return kerr.UnknownLeaderEpoch.Code
				}
				l := p.Log()
				if rp.LastFetchedEpoch >= 0 {
					e, end := l.EndOffsetForEpoch(rp.LastFetchedEpoch)
					if e != rp.LastFetchedEpoch || end < rp.FetchOffset {
						sp.DivergingEpoch.Epoch, sp.DivergingEpoch.EndOffset = e, end
						sp.HighWatermark, sp.LastStableOffset, sp.LogStartOffset = p.HighWatermark(), p.LastStableOffset(), l.LogStartOffset()
						return 0
					}
				}
				if rp.FetchOffset < l.LogStartOffset() || rp.FetchOffset > l.LogEndOffset() {
					sp.HighWatermark, sp.LogStartOffset = p.HighWatermark(), l.LogStartOffset()
					return kerr.OffsetOutOfRange.Code
				}
				if record {
					s.replicas.FollowerFetched(p, replicaID, rp.FetchOffset)
				}
				sp.HighWatermark, sp.LastStableOffset, sp.LogStartOffset = p.HighWatermark(), p.LastStableOffset(), l.LogStartOffset()
				limit := min(int(rp.PartitionMaxBytes), remaining)
				if limit <= 0 && total > 0 {
					return 0
				}
				slice, err := l.Read(rp.FetchOffset, max(limit, 0), l.LogEndOffset(), total == 0)
				if err != nil {
					return errorCode(err)
				}
				if slice.Size > 0 {
					b, err := slice.Bytes()
					if err != nil {
						return kerr.KafkaStorageError.Code
					}
					sp.RecordBatches = b
					total += len(b)
					remaining -= len(b)
				}
				return 0
			}()
			sp.ErrorCode = code
			if code != 0 {
				urgent = true
			}
			st.Partitions = append(st.Partitions, sp)
		}
		out = append(out, st)
	}
	return out, total, urgent
}
