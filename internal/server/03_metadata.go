package server

// Metadata, versions 0-12. Topics are asked for by name (all versions) or
// by id (v12+); a null list (v1+) or an empty one (v0) means all topics.
// Named topics that do not exist are created when the request allows it
// (v4+ AllowAutoTopicCreation, always before v4) and
// auto.create.topics.enable is set; the new topic is returned at once.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/quillstream/quill/internal/controller"
	"github.com/quillstream/quill/internal/metadata"
)

func (s *Server) handleMetadata(r *request, req *kmsg.MetadataRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.MetadataResponse)
	img := s.ctrl.Image()
	for _, b := range img.SortedBrokers() {
		if b.Fenced {
			continue // as KRaft: fenced brokers are not listed
		}
		var rack *string
		if b.Rack != "" {
			rack = &b.Rack
		}
		host, port, ok := r.brokerAddr(b)
		if !ok {
			continue // no endpoint on this listener: left out, as in Kafka
		}
		resp.Brokers = append(resp.Brokers, kmsg.MetadataResponseBroker{NodeID: b.ID, Host: host, Port: port, Rack: rack})
	}
	cid := img.ClusterID
	resp.ClusterID = &cid
	resp.ControllerID = s.cfg.NodeID

	all := req.Topics == nil || (r.version == 0 && len(req.Topics) == 0)
	if all {
		for _, t := range img.SortedTopics() {
			resp.Topics = append(resp.Topics, topicMetadata(img, t, req))
		}
		return resp, nil
	}
	autoCreate := s.cfg.AutoCreateTopics && (r.version < 4 || req.AllowAutoTopicCreation)
	var missing []string
	for _, rt := range req.Topics {
		if rt.Topic != nil && img.Topics[*rt.Topic] == nil && autoCreate && controller.ValidTopicName(*rt.Topic) == nil {
			missing = append(missing, *rt.Topic)
		}
	}
	if len(missing) > 0 {
		s.autoCreate(missing)
		img = s.ctrl.Image()
	}
	for _, rt := range req.Topics {
		var t *metadata.Topic
		if rt.Topic != nil {
			t = img.Topics[*rt.Topic]
		} else {
			t = img.TopicIDs[metadata.UUID(rt.TopicID)]
		}
		if t != nil {
			resp.Topics = append(resp.Topics, topicMetadata(img, t, req))
			continue
		}
		mt := kmsg.NewMetadataResponseTopic()
		mt.Topic = rt.Topic
		mt.TopicID = rt.TopicID
		switch {
		case rt.Topic == nil:
			mt.ErrorCode = kerr.UnknownTopicID.Code
		case controller.ValidTopicName(*rt.Topic) != nil:
			mt.ErrorCode = kerr.InvalidTopicException.Code
		default:
			mt.ErrorCode = kerr.UnknownTopicOrPartition.Code
		}
		resp.Topics = append(resp.Topics, mt)
	}
	return resp, nil
}

// autoCreate creates topics with the broker defaults; failures (say, a
// race with another creator) leave the topic to be reported as unknown.
func (s *Server) autoCreate(names []string) {
	specs := make([]controller.TopicSpec, len(names))
	for i, n := range names {
		specs[i] = controller.TopicSpec{Name: n, Partitions: -1, ReplicationFactor: -1}
	}
	s.ctrl.CreateTopics(specs, s.topicDefaults(), false)
}

func (s *Server) topicDefaults() controller.Defaults {
	return controller.Defaults{Partitions: s.cfg.NumPartitions, ReplicationFactor: s.cfg.ReplicationFactor}
}

func topicMetadata(img *metadata.Image, t *metadata.Topic, req *kmsg.MetadataRequest) kmsg.MetadataResponseTopic {
	mt := kmsg.NewMetadataResponseTopic()
	name := t.Name
	mt.Topic = &name
	mt.TopicID = t.ID
	mt.IsInternal = t.Internal
	mt.AuthorizedOperations = -2147483648
	for _, p := range t.Partitions {
		mp := kmsg.NewMetadataResponseTopicPartition()
		mp.Partition = p.ID
		mp.Leader = p.Leader
		mp.LeaderEpoch = p.LeaderEpoch
		mp.Replicas = p.Replicas
		mp.ISR = p.ISR
		mp.OfflineReplicas = offlineReplicas(img, p.Replicas) // cluster.go
		if p.Leader < 0 {
			mp.ErrorCode = kerr.LeaderNotAvailable.Code
		}
		mt.Partitions = append(mt.Partitions, mp)
	}
	return mt
}
