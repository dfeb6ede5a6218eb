package server

// DescribeCluster, versions 0-1, and DescribeLogDirs, versions 0-4.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (s *Server) handleDescribeCluster(r *request, req *kmsg.DescribeClusterRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.DescribeClusterResponse)
	img := s.ctrl.Image()
	if req.EndpointType > 1 {
		resp.ErrorCode = kerr.UnsupportedEndpointType.Code
		return resp, nil
	}
	resp.EndpointType = 1
	resp.ClusterID = img.ClusterID
	resp.ControllerID = s.cfg.NodeID
	resp.ClusterAuthorizedOperations = -2147483648
	for _, b := range img.SortedBrokers() {
		rb := kmsg.NewDescribeClusterResponseBroker()
		rb.NodeID = b.ID
		var ok bool
		if rb.Host, rb.Port, ok = r.brokerAddr(b); !ok {
			continue // no endpoint on this listener
		}
		if b.Rack != "" {
			rack := b.Rack
			rb.Rack = &rack
		}
		resp.Brokers = append(resp.Brokers, rb)
	}
	return resp, nil
}

func (s *Server) handleDescribeLogDirs(r *request, req *kmsg.DescribeLogDirsRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.DescribeLogDirsResponse)
	dir := kmsg.NewDescribeLogDirsResponseDir()
	dir.Dir = s.cfg.DataDir
	dir.TotalBytes, dir.UsableBytes = diskSpace(s.cfg.DataDir)
	want := map[sessKey]bool{}
	all := req.Topics == nil
	for _, t := range req.Topics {
		for _, p := range t.Partitions {
			want[sessKey{t.Topic, p}] = true
		}
	}
	byTopic := map[string]int{}
	for _, p := range s.replicas.All() {
		if !all && !want[sessKey{p.Topic, p.ID}] {
			continue
		}
		i, ok := byTopic[p.Topic]
		if !ok {
			i = len(dir.Topics)
			byTopic[p.Topic] = i
			t := kmsg.NewDescribeLogDirsResponseDirTopic()
			t.Topic = p.Topic
			dir.Topics = append(dir.Topics, t)
		}
		dp := kmsg.NewDescribeLogDirsResponseDirTopicPartition()
		dp.Partition = p.ID
		dp.Size = p.Log().Size()
		dp.OffsetLag = 0
		dir.Topics[i].Partitions = append(dir.Topics[i].Partitions, dp)
	}
	resp.Dirs = append(resp.Dirs, dir)
	return resp, nil
}
