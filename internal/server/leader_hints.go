package server

import (
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/quillstream/quill/internal/metadata"
)

// KIP-951 leader discovery hints: a Produce (v10+) or Fetch (v16+)
// partition answered with NOT_LEADER_OR_FOLLOWER or FENCED_LEADER_EPOCH
// carries the leader and leader epoch this broker knows (CurrentLeader),
// and the response lists the endpoints of the leaders it names
// (NodeEndpoints), so the client can retry without a metadata round trip.

// leaderHint returns the partition's leader and epoch from img, ok false
// when there is nothing to tell (unknown partition, no leader).
func leaderHint(img *metadata.Image, t *metadata.Topic, partition int32) (leader, epoch int32, ok bool) {
	if t == nil || partition < 0 || int(partition) >= len(t.Partitions) {
		return -1, -1, false
	}
	p := t.Partitions[partition]
	if p.Leader < 0 || img.Brokers[p.Leader] == nil {
		return -1, -1, false
	}
	return p.Leader, p.LeaderEpoch, true
}

func wantsLeaderHint(code int16) bool {
	return code == kerr.NotLeaderForPartition.Code || code == kerr.FencedLeaderEpoch.Code
}

// produceLeaderHints adds KIP-951 hints to a Produce response (v10+).
func (s *Server) produceLeaderHints(r *request, resp *kmsg.ProduceResponse) {
	if r.version < 10 {
		return
	}
	img := s.ctrl.Image()
	var leaders []int32
	for ti := range resp.Topics {
		rt := &resp.Topics[ti]
		t := img.Topics[rt.Topic]
		for pi := range rt.Partitions {
			rp := &rt.Partitions[pi]
			if !wantsLeaderHint(rp.ErrorCode) {
				continue
			}
			if l, e, ok := leaderHint(img, t, rp.Partition); ok {
				rp.CurrentLeader.LeaderID, rp.CurrentLeader.LeaderEpoch = l, e
				leaders = append(leaders, l)
			}
		}
	}
	for _, id := range uniqueIDs(leaders) {
		b := img.Brokers[id]
		host, port, ok := r.brokerAddr(b) // the endpoint of the request's listener
		if !ok {
			continue
		}
		ep := kmsg.NewProduceResponseBroker()
		ep.NodeID, ep.Host, ep.Port = b.ID, host, port
		if b.Rack != "" {
			ep.Rack = kmsg.StringPtr(b.Rack)
		}
		resp.Brokers = append(resp.Brokers, ep)
	}
}

// fetchLeaderHints adds KIP-951 hints to a consumer's Fetch response
// (v16+; topics may be named by id).
func (s *Server) fetchLeaderHints(r *request, resp *kmsg.FetchResponse) {
	if r.version < 16 {
		return
	}
	img := s.ctrl.Image()
	var leaders []int32
	for ti := range resp.Topics {
		rt := &resp.Topics[ti]
		t := img.Topics[rt.Topic]
		if t == nil {
			t = img.TopicIDs[metadata.UUID(rt.TopicID)]
		}
		for pi := range rt.Partitions {
			rp := &rt.Partitions[pi]
			if !wantsLeaderHint(rp.ErrorCode) {
				continue
			}
			if l, e, ok := leaderHint(img, t, rp.Partition); ok {
				rp.CurrentLeader.LeaderID, rp.CurrentLeader.LeaderEpoch = l, e
				leaders = append(leaders, l)
			}
		}
	}
	for _, id := range uniqueIDs(leaders) {
		b := img.Brokers[id]
		host, port, ok := r.brokerAddr(b) // the endpoint of the request's listener
		if !ok {
			continue
		}
		ep := kmsg.NewFetchResponseBroker()
		ep.NodeID, ep.Host, ep.Port = b.ID, host, port
		if b.Rack != "" {
			ep.Rack = kmsg.StringPtr(b.Rack)
		}
		resp.Brokers = append(resp.Brokers, ep)
	}
}

func uniqueIDs(ids []int32) []int32 {
	slices.Sort(ids)
	return slices.Compact(ids)
}
