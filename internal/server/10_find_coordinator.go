package server

// FindCoordinator, versions 0-4 (v4+ batches keys, KIP-699), and the group
// APIs, which the group coordinator (internal/group) serves: JoinGroup,
// SyncGroup, Heartbeat, LeaveGroup, OffsetCommit, OffsetFetch,
// DescribeGroups, ListGroups, DeleteGroups, OffsetDelete. A group's
// coordinator is the leader of its __consumer_offsets partition.

import (
	"net"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/quillstream/quill/internal/group"
)

// OffsetsTopic is Kafka's internal topic for group offsets and metadata.
const OffsetsTopic = "__consumer_offsets"

func (s *Server) registerGroupHandlers() {
	handle(s, 0, 4, s.handleFindCoordinator)
	for key, vr := range group.SupportedVersions() {
		if int(key) >= len(s.handlers) || kmsg.RequestForKey(key) == nil || vr.Max > kmsg.RequestForKey(key).MaxVersion() {
			panic("server: group coordinator version range not encodable")
		}
		s.handlers[key] = &handler{
			min: vr.Min, max: vr.Max,
			fn: s.delegateToGroups,
			// JoinGroup and SyncGroup wait for the rebalance.
			blocking: key == 11 || key == 14,
		}
	}
}

// delegateToGroups hands a group API request to the coordinator. Requests
// waiting in a rebalance are cancelled when the server shuts down.
func (s *Server) delegateToGroups(r *request) (kmsg.Response, error) {
	host, _, _ := net.SplitHostPort(r.c.remote)
	ctx := group.WithClient(s.ctx, r.clientID, host)
	return s.groups.Handle(ctx, r.body)
}

func (s *Server) handleFindCoordinator(r *request, req *kmsg.FindCoordinatorRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.FindCoordinatorResponse)
	keys := req.CoordinatorKeys
	if r.version < 4 {
		keys = []string{req.CoordinatorKey}
	}
	img := s.ctrl.Image()
	self := img.Brokers[s.cfg.NodeID]
	for _, key := range keys {
		c := kmsg.NewFindCoordinatorResponseCoordinator()
		c.Key = key
		c.NodeID, c.Port = -1, -1
		topic := OffsetsTopic
		if req.CoordinatorType == 1 {
			topic = TxnStateTopic // both use the same hash (txn.PartitionFor)
		}
		switch {
		case req.CoordinatorType != 0 && req.CoordinatorType != 1:
			c.ErrorCode = kerr.InvalidRequest.Code
		case self == nil:
			c.ErrorCode = kerr.CoordinatorNotAvailable.Code
		default:
			t := img.Topics[topic]
			if t == nil || (req.CoordinatorType == 1 && s.txn == nil) {
				c.ErrorCode = kerr.CoordinatorNotAvailable.Code
				break
			}
			part := group.PartitionFor(key, int32(len(t.Partitions)))
			if l := t.Partitions[part].Leader; l != s.cfg.NodeID {
				// Cluster mode: the coordinator is the partition's leader.
				if lb := img.Brokers[l]; lb != nil && !lb.Fenced {
					var ok bool
					if c.Host, c.Port, ok = r.brokerAddr(lb); ok {
						c.NodeID = lb.ID
					} else {
						// No endpoint on this listener: Kafka answers
						// COORDINATOR_NOT_AVAILABLE.
						c.Host, c.Port = "", -1
						c.ErrorCode = kerr.CoordinatorNotAvailable.Code
					}
				} else {
					c.ErrorCode = kerr.CoordinatorNotAvailable.Code
				}
				break
			}
			c.NodeID = self.ID
			c.Host, c.Port, _ = r.brokerAddr(self)
		}
		if c.ErrorCode != 0 {
			msg := kerr.ErrorForCode(c.ErrorCode).Error()
			c.ErrorMessage = &msg
		}
		resp.Coordinators = append(resp.Coordinators, c)
	}
	if r.version < 4 {
		c := resp.Coordinators[0]
		resp.ErrorCode, resp.ErrorMessage = c.ErrorCode, c.ErrorMessage
		resp.NodeID, resp.Host, resp.Port = c.NodeID, c.Host, c.Port
		resp.Coordinators = nil
	}
	return resp, nil
}
