package server

// CreateTopics, versions 0-7 (v5+ returns the topic's configs, v7 its id).
// DeleteTopics, versions 0-6 (v6 by id). CreatePartitions, versions 0-3.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/quillstream/quill/internal/controller"
	"github.com/quillstream/quill/internal/metadata"
)

func (s *Server) handleCreateTopics(r *request, req *kmsg.CreateTopicsRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.CreateTopicsResponse)
	specs := make([]controller.TopicSpec, 0, len(req.Topics))
	pre := make([]error, len(req.Topics))
	for i, rt := range req.Topics {
		spec := controller.TopicSpec{Name: rt.Topic, Partitions: rt.NumPartitions, ReplicationFactor: rt.ReplicationFactor}
		if len(rt.ReplicaAssignment) > 0 {
			spec.Assignments = map[int32][]int32{}
			for _, a := range rt.ReplicaAssignment {
				spec.Assignments[a.Partition] = a.Replicas
			}
		}
		spec.Configs = map[string]string{}
		for _, c := range rt.Configs {
			if c.Value == nil {
				continue
			}
			spec.Configs[c.Name] = *c.Value
		}
		if err := s.cfg.Configs.ValidateTopic(spec.Configs); err != nil {
			pre[i] = &controller.Error{Kafka: kerr.InvalidConfig, Message: err.Error()}
			spec.Name = "" // skipped below
		}
		specs = append(specs, spec)
	}
	var todo []controller.TopicSpec
	var idx []int
	for i, sp := range specs {
		if pre[i] == nil {
			todo = append(todo, sp)
			idx = append(idx, i)
		}
	}
	errs := s.ctrl.CreateTopics(todo, s.topicDefaults(), req.ValidateOnly)
	for j, e := range errs {
		pre[idx[j]] = e
	}
	img := s.ctrl.Image()
	for i, rt := range req.Topics {
		st := kmsg.NewCreateTopicsResponseTopic()
		st.Topic = rt.Topic
		st.NumPartitions, st.ReplicationFactor = -1, -1
		if pre[i] != nil {
			st.ErrorCode, st.ErrorMessage = errorCodeMessage(pre[i])
		} else if t := img.Topics[rt.Topic]; t != nil && !req.ValidateOnly {
			st.TopicID = t.ID
			st.NumPartitions = int32(len(t.Partitions))
			st.ReplicationFactor = int16(len(t.Partitions[0].Replicas))
			for _, e := range s.cfg.Configs.DescribeTopic(t.Configs) {
				c := kmsg.NewCreateTopicsResponseTopicConfig()
				c.Name, c.Value, c.ReadOnly, c.Source, c.IsSensitive = e.Name, e.Value, e.ReadOnly, e.Source, e.Sensitive
				st.Configs = append(st.Configs, c)
			}
		} else if req.ValidateOnly {
			st.NumPartitions = specs[i].Partitions
			if st.NumPartitions == -1 {
				st.NumPartitions = s.cfg.NumPartitions
			}
			st.ReplicationFactor = specs[i].ReplicationFactor
			if st.ReplicationFactor == -1 {
				st.ReplicationFactor = s.cfg.ReplicationFactor
			}
		}
		if r.version < 1 {
			st.ErrorMessage = nil
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}

func (s *Server) handleDeleteTopics(r *request, req *kmsg.DeleteTopicsRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.DeleteTopicsResponse)
	var names []string
	var ids []metadata.UUID
	if r.version >= 6 {
		for _, t := range req.Topics {
			n := ""
			if t.Topic != nil {
				n = *t.Topic
			}
			names = append(names, n)
			ids = append(ids, metadata.UUID(t.TopicID))
		}
	} else {
		names = req.TopicNames
	}
	img := s.ctrl.Image()
	errs := make([]error, len(names))
	var callNames []string
	var callIDs []metadata.UUID
	var callIdx []int
	for i, n := range names {
		var id metadata.UUID
		if i < len(ids) {
			id = ids[i]
		}
		t := img.Topics[n]
		if n == "" {
			t = img.TopicIDs[id]
		}
		if t != nil && t.Internal {
			errs[i] = &controller.Error{Kafka: kerr.InvalidRequest, Message: "internal topics cannot be deleted"}
			continue
		}
		callNames = append(callNames, n)
		callIDs = append(callIDs, id)
		callIdx = append(callIdx, i)
	}
	cerrs := s.ctrl.DeleteTopics(callNames, callIDs)
	for j, e := range cerrs {
		errs[callIdx[j]] = e
	}
	for i, n := range names {
		st := kmsg.NewDeleteTopicsResponseTopic()
		name := n
		st.Topic = &name
		if r.version >= 6 {
			st.TopicID = req.Topics[i].TopicID
			if req.Topics[i].Topic != nil {
				st.Topic = req.Topics[i].Topic
			} else if t := img.TopicIDs[metadata.UUID(st.TopicID)]; t != nil {
				tn := t.Name
				st.Topic = &tn
			}
		}
		if errs[i] != nil {
			st.ErrorCode, st.ErrorMessage = errorCodeMessage(errs[i])
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}

func (s *Server) handleCreatePartitions(r *request, req *kmsg.CreatePartitionsRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.CreatePartitionsResponse)
	for _, rt := range req.Topics {
		var assign [][]int32
		for _, a := range rt.Assignment {
			assign = append(assign, a.Replicas)
		}
		st := kmsg.NewCreatePartitionsResponseTopic()
		st.Topic = rt.Topic
		if err := s.ctrl.CreatePartitions(rt.Topic, rt.Count, assign, req.ValidateOnly); err != nil {
			st.ErrorCode, st.ErrorMessage = errorCodeMessage(err)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}
