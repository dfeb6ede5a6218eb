package server

// FindCoordinator, versions 0-4 (v4+ batches keys, KIP-699), and the group
// APIs, which the group coordinator (internal/group) serves: JoinGroup,
// SyncGroup, Heartbeat, LeaveGroup, OffsetCommit, OffsetFetch,
// DescribeGroups, ListGroups, DeleteGroups, OffsetDelete. A group's
// coordinator is the leader of its __consumer_offsets partition.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/quillstream/quill/internal/group"
)

// OffsetsTopic is Kafka's internal topic for group offsets and metadata.
const OffsetsTopic = "__consumer_offsets"

func (s *Server) registerGroupHandlers() {
	handle(s, 0, 4, s.handleFindCoordinator)
	delegate[*kmsg.JoinGroupRequest](s, 0, 9).blocking = true
	delegate[*kmsg.SyncGroupRequest](s, 0, 5).blocking = true
	delegate[*kmsg.HeartbeatRequest](s, 0, 4)
	delegate[*kmsg.LeaveGroupRequest](s, 0, 5)
	delegate[*kmsg.OffsetCommitRequest](s, 0, 9)
	delegate[*kmsg.OffsetFetchRequest](s, 0, 9)
	delegate[*kmsg.DescribeGroupsRequest](s, 0, 5)
	delegate[*kmsg.ListGroupsRequest](s, 0, 5)
	delegate[*kmsg.DeleteGroupsRequest](s, 0, 2)
	delegate[*kmsg.OffsetDeleteRequest](s, 0, 0)
}

// delegate registers a group API served by the coordinator.
func delegate[T kmsg.Request](s *Server, min, max int16) *handler {
	return handle(s, min, max, func(r *request, req T) (kmsg.Response, error) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go func() {
			select {
			case <-s.closing:
				cancel()
			case <-ctx.Done():
			}
		}()
		return s.groups.Handle(ctx, req)
	})
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
		switch {
		case req.CoordinatorType != 0:
			// Transactions are not served yet.
			c.ErrorCode = kerr.CoordinatorNotAvailable.Code
		case self == nil:
			c.ErrorCode = kerr.CoordinatorNotAvailable.Code
		default:
			t := img.Topics[OffsetsTopic]
			if t == nil {
				c.ErrorCode = kerr.CoordinatorNotAvailable.Code
				break
			}
			part := group.PartitionFor(key, int32(len(t.Partitions)))
			if t.Partitions[part].Leader != s.cfg.NodeID {
				c.ErrorCode = kerr.NotCoordinator.Code
				break
			}
			c.NodeID, c.Host, c.Port = self.ID, self.Host, self.Port
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
