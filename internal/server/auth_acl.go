package server

// ACL checks, applied before a request reaches its handler when
// authorizer.class.name is set. Each check follows Kafka's KafkaApis
// (KAFKA-FACTS section 10): unauthorized topics, groups or resources are
// taken out of the request, the handler serves the rest, and their errors
// are added to the response:
//
//	Produce               Write on the topic; Write on the transactional id
//	Fetch                 Read on the topic (followers: ClusterAction)
//	ListOffsets, OffsetForLeaderEpoch, Metadata   Describe on the topic
//	Metadata auto-create  Create on the cluster or the topic
//	CreateTopics          Create on the cluster or the topic
//	DeleteTopics, DeleteRecords   Delete on the topic
//	CreatePartitions      Alter on the topic
//	InitProducerId        Write on the transactional id; idempotent:
//	                      IdempotentWrite on the cluster or Write on any topic
//	Describe/AlterConfigs DescribeConfigs / AlterConfigs on the topic or cluster
//	DescribeLogDirs       Describe on the cluster
//	FindCoordinator       Describe on the group or transactional id
//	Join/Sync/Heartbeat/LeaveGroup   Read on the group
//	OffsetCommit          Read on the group and the topic
//	OffsetFetch           Describe on the group and the topic
//	DescribeGroups        Describe on the group; ListGroups lists only those
//	DeleteGroups          Delete on the group
//	OffsetDelete          Delete on the group, Read on the topic
//	ACL and SCRAM APIs    checked in their handlers (cluster Describe / Alter)
//	ElectLeaders, AlterPartitionReassignments   Alter on the cluster (in
//	                      their handlers); ListPartitionReassignments:
//	                      Describe on the cluster
//	transactions, KIP-848 see auth_acl_txn.go
//
// Unauthorized topics are left out of all-topic Metadata, ListGroups and
// OffsetFetch answers. An API not listed needs nothing beyond
// authentication.

import (
	"errors"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/quillstream/quill/internal/auth"
	qlog "github.com/quillstream/quill/internal/log"
	"github.com/quillstream/quill/internal/metadata"
)

func (s *Server) authorized(h *handler, r *request) (kmsg.Response, error) {
	if resp, ok, err := s.authorizedMore(h, r); ok {
		return resp, err
	}
	switch req := r.body.(type) {
	case *kmsg.ProduceRequest:
		return s.authzProduce(h, r, req)
	case *kmsg.FetchRequest:
		return s.authzFetch(h, r, req)
	case *kmsg.ListOffsetsRequest:
		return s.authzListOffsets(h, r, req)
	case *kmsg.MetadataRequest:
		return s.authzMetadata(h, r, req)
	case *kmsg.OffsetForLeaderEpochRequest:
		return s.authzOffsetForLeaderEpoch(h, r, req)
	case *kmsg.DeleteRecordsRequest:
		return s.authzDeleteRecords(h, r, req)
	case *kmsg.CreateTopicsRequest:
		return s.authzCreateTopics(h, r, req)
	case *kmsg.DeleteTopicsRequest:
		return s.authzDeleteTopics(h, r, req)
	case *kmsg.CreatePartitionsRequest:
		return s.authzCreatePartitions(h, r, req)
	case *kmsg.InitProducerIDRequest:
		return s.authzInitProducerID(h, r, req)
	case *kmsg.DescribeConfigsRequest:
		return s.authzDescribeConfigs(h, r, req)
	case *kmsg.AlterConfigsRequest:
		return s.authzAlterConfigs(h, r, req)
	case *kmsg.IncrementalAlterConfigsRequest:
		return s.authzIncrementalAlterConfigs(h, r, req)
	case *kmsg.DescribeLogDirsRequest:
		if !s.allowed(r, auth.OpDescribe, auth.ResourceCluster, auth.ClusterResource) {
			resp := req.ResponseKind().(*kmsg.DescribeLogDirsResponse)
			resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
			return resp, nil
		}
	case *kmsg.FindCoordinatorRequest:
		return s.authzFindCoordinator(h, r, req)
	case *kmsg.JoinGroupRequest:
		if !s.allowed(r, auth.OpRead, auth.ResourceGroup, req.Group) {
			resp := req.ResponseKind().(*kmsg.JoinGroupResponse)
			resp.ErrorCode = kerr.GroupAuthorizationFailed.Code
			resp.Generation = -1
			resp.MemberID = req.MemberID
			return resp, nil
		}
	case *kmsg.SyncGroupRequest:
		if !s.allowed(r, auth.OpRead, auth.ResourceGroup, req.Group) {
			resp := req.ResponseKind().(*kmsg.SyncGroupResponse)
			resp.ErrorCode = kerr.GroupAuthorizationFailed.Code
			return resp, nil
		}
	case *kmsg.HeartbeatRequest:
		if !s.allowed(r, auth.OpRead, auth.ResourceGroup, req.Group) {
			resp := req.ResponseKind().(*kmsg.HeartbeatResponse)
			resp.ErrorCode = kerr.GroupAuthorizationFailed.Code
			return resp, nil
		}
	case *kmsg.LeaveGroupRequest:
		if !s.allowed(r, auth.OpRead, auth.ResourceGroup, req.Group) {
			resp := req.ResponseKind().(*kmsg.LeaveGroupResponse)
			resp.ErrorCode = kerr.GroupAuthorizationFailed.Code
			return resp, nil
		}
	case *kmsg.OffsetCommitRequest:
		return s.authzOffsetCommit(h, r, req)
	case *kmsg.OffsetFetchRequest:
		return s.authzOffsetFetch(h, r, req)
	case *kmsg.DescribeGroupsRequest:
		return s.authzDescribeGroups(h, r, req)
	case *kmsg.ListGroupsRequest:
		return s.authzListGroups(h, r, req)
	case *kmsg.DeleteGroupsRequest:
		return s.authzDeleteGroups(h, r, req)
	case *kmsg.OffsetDeleteRequest:
		return s.authzOffsetDelete(h, r, req)
	}
	return h.fn(r)
}

// What splitRun does when every item is denied.
const (
	runEmpty  = false // the handler still runs, on an empty list
	skipEmpty = true  // the handler is skipped; the denials fill an empty response
)

// splitRun is the common shape of an ACL check over a request's list of
// items (topics, groups, resources, ids). deny is called once per item, in
// order: it returns the item's response entry and true if the item is
// denied, or false if the handler may serve it. When nothing is denied
// the handler serves the request untouched. Otherwise *items is narrowed to
// the allowed items (nil if none) while the handler runs, then restored;
// if none is allowed and ifNone is skipEmpty, the handler is not run and
// the request's empty ResponseKind stands in for its answer. The denied
// entries are then appended, in request order, to the response's list that
// list points to. A handler error, or a nil response (acks=0 produce),
// is returned as the handler gave it, without the denied entries.
func splitRun[In, Out any, R kmsg.Response](h *handler, r *request, items *[]In, ifNone bool, deny func(In) (Out, bool), list func(R) *[]Out) (kmsg.Response, error) {
	all := *items
	var ok []In
	var denied []Out
	for _, it := range all {
		if d, no := deny(it); no {
			denied = append(denied, d)
		} else {
			ok = append(ok, it)
		}
	}
	if len(denied) == 0 {
		return h.fn(r)
	}
	var resp kmsg.Response
	if len(ok) == 0 && ifNone == skipEmpty {
		resp = r.body.ResponseKind()
	} else {
		*items = ok
		var err error
		resp, err = h.fn(r)
		*items = all
		if err != nil || resp == nil {
			return resp, err
		}
	}
	l := list(resp.(R))
	*l = append(*l, denied...)
	return resp, nil
}

// topicAllowed is allowed for a topic resource.
func (s *Server) topicAllowed(r *request, op int8, topic string) bool {
	return s.allowed(r, op, auth.ResourceTopic, topic)
}

func (s *Server) authzProduce(h *handler, r *request, req *kmsg.ProduceRequest) (kmsg.Response, error) {
	txnDenied := req.TransactionID != nil && !s.allowed(r, auth.OpWrite, auth.ResourceTransactionalID, *req.TransactionID)
	code := kerr.TopicAuthorizationFailed.Code
	if txnDenied {
		code = kerr.TransactionalIDAuthorizationFailed.Code
	}
	deny := func(t kmsg.ProduceRequestTopic) (st kmsg.ProduceResponseTopic, denied bool) {
		if !txnDenied && s.topicAllowed(r, auth.OpWrite, t.Topic) {
			return st, false
		}
		st = kmsg.NewProduceResponseTopic()
		st.Topic, st.TopicID = t.Topic, t.TopicID
		for _, p := range t.Partitions {
			sp := kmsg.NewProduceResponseTopicPartition()
			sp.Partition, sp.ErrorCode = p.Partition, code
			sp.BaseOffset, sp.LogAppendTime, sp.LogStartOffset = -1, -1, -1
			st.Partitions = append(st.Partitions, sp)
		}
		return st, true
	}
	if req.Acks == 0 {
		// No response to carry the denials: any denied topic fails the
		// request (every topic is still checked, as for acks != 0).
		anyDenied := false
		for _, t := range req.Topics {
			if _, denied := deny(t); denied {
				anyDenied = true
			}
		}
		if anyDenied {
			return nil, errors.New("acks=0 produce to a topic the principal may not write")
		}
		return h.fn(r)
	}
	return splitRun(h, r, &req.Topics, runEmpty, deny, func(pr *kmsg.ProduceResponse) *[]kmsg.ProduceResponseTopic { return &pr.Topics })
}

func (s *Server) authzFetch(h *handler, r *request, req *kmsg.FetchRequest) (kmsg.Response, error) {
	follower := req.ReplicaID >= 0 || (r.version >= 15 && req.ReplicaState.ID >= 0)
	if follower && s.allowed(r, auth.OpClusterAction, auth.ResourceCluster, auth.ClusterResource) {
		return h.fn(r)
	}
	resp, err := s.authzFetchTopics(h, r, req, follower)
	if err == nil && resp != nil && r.version >= 7 && req.SessionEpoch > 0 {
		// An incremental fetch serves partitions added to the session
		// earlier: check them again, in case an ACL was removed since.
		s.redactFetch(r, resp)
	}
	return resp, err
}

// redactFetch replaces the data of partitions the principal may no longer
// read with TOPIC_AUTHORIZATION_FAILED.
func (s *Server) redactFetch(r *request, resp kmsg.Response) {
	img := s.ctrl.Image()
	fr := fetchResponseOf(resp)
	frame, _ := resp.(*fetchFrame)
	i := 0 // index into frame.recs: partitions in response order
	for ti := range fr.Topics {
		t := &fr.Topics[ti]
		name := t.Topic
		if r.version >= 13 {
			if mt := img.TopicIDs[metadata.UUID(t.TopicID)]; mt != nil {
				name = mt.Name
			}
		}
		denied := name != "" && !s.topicAllowed(r, auth.OpRead, name)
		for pi := range t.Partitions {
			if p := &t.Partitions[pi]; denied && p.ErrorCode != kerr.TopicAuthorizationFailed.Code {
				p.ErrorCode = kerr.TopicAuthorizationFailed.Code
				p.HighWatermark, p.LastStableOffset, p.LogStartOffset = -1, -1, -1
				p.AbortedTransactions = nil
				p.RecordBatches = []byte{}
				if frame != nil && i < len(frame.recs) {
					frame.recs[i] = qlog.Slice{}
				}
			}
			i++
		}
	}
}

func (s *Server) authzFetchTopics(h *handler, r *request, req *kmsg.FetchRequest, follower bool) (kmsg.Response, error) {
	img := s.ctrl.Image()
	all := req.Topics
	var ok, denied []kmsg.FetchRequestTopic
	for _, t := range all {
		name := t.Topic
		if r.version >= 13 {
			if mt := img.TopicIDs[metadata.UUID(t.TopicID)]; mt != nil {
				name = mt.Name
			} else {
				ok = append(ok, t) // unknown id: the handler answers UNKNOWN_TOPIC_ID
				continue
			}
		}
		if follower || !s.topicAllowed(r, auth.OpRead, name) {
			denied = append(denied, t)
		} else {
			ok = append(ok, t)
		}
	}
	if len(denied) == 0 {
		return h.fn(r)
	}
	req.Topics = ok
	wait := req.MaxWaitMillis
	req.MaxWaitMillis = 0 // errors answer at once, as in the handler
	resp, err := h.fn(r)
	req.Topics, req.MaxWaitMillis = all, wait
	if err != nil {
		return resp, err
	}
	fr := fetchResponseOf(resp) // a zero-copy frame or a plain response
	for _, t := range denied {
		rt := kmsg.NewFetchResponseTopic()
		rt.Topic, rt.TopicID = t.Topic, t.TopicID
		for _, p := range t.Partitions {
			rp := kmsg.NewFetchResponseTopicPartition()
			rp.Partition, rp.ErrorCode = p.Partition, kerr.TopicAuthorizationFailed.Code
			rp.HighWatermark, rp.LastStableOffset, rp.LogStartOffset = -1, -1, -1
			rp.PreferredReadReplica = -1
			rp.RecordBatches = []byte{}
			rt.Partitions = append(rt.Partitions, rp)
		}
		fr.Topics = append(fr.Topics, rt)
	}
	return resp, nil
}

func (s *Server) authzListOffsets(h *handler, r *request, req *kmsg.ListOffsetsRequest) (kmsg.Response, error) {
	return splitRun(h, r, &req.Topics, runEmpty, func(t kmsg.ListOffsetsRequestTopic) (rt kmsg.ListOffsetsResponseTopic, denied bool) {
		if s.topicAllowed(r, auth.OpDescribe, t.Topic) {
			return rt, false
		}
		rt = kmsg.NewListOffsetsResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewListOffsetsResponseTopicPartition()
			rp.Partition, rp.ErrorCode = p.Partition, kerr.TopicAuthorizationFailed.Code
			rp.Timestamp, rp.Offset, rp.LeaderEpoch = -1, -1, -1
			rt.Partitions = append(rt.Partitions, rp)
		}
		return rt, true
	}, func(lr *kmsg.ListOffsetsResponse) *[]kmsg.ListOffsetsResponseTopic { return &lr.Topics })
}

func (s *Server) authzMetadata(h *handler, r *request, req *kmsg.MetadataRequest) (kmsg.Response, error) {
	all := req.Topics == nil || (r.version == 0 && len(req.Topics) == 0)
	if all {
		resp, err := h.fn(r)
		if err != nil {
			return resp, err
		}
		mr := resp.(*kmsg.MetadataResponse)
		mr.Topics = slices.DeleteFunc(mr.Topics, func(t kmsg.MetadataResponseTopic) bool {
			return t.Topic == nil || !s.topicAllowed(r, auth.OpDescribe, *t.Topic)
		})
		return mr, nil
	}
	img := s.ctrl.Image()
	autoCreate := s.cfg.AutoCreateTopics && (r.version < 4 || req.AllowAutoTopicCreation)
	canCreateAll := autoCreate && s.allowed(r, auth.OpCreate, auth.ResourceCluster, auth.ClusterResource)
	orig := req.Topics
	var ok []kmsg.MetadataRequestTopic
	var denied []kmsg.MetadataResponseTopic
	okNames := map[string]bool{}
	for _, t := range orig {
		var name string
		if t.Topic != nil {
			name = *t.Topic
		} else if mt := img.TopicIDs[metadata.UUID(t.TopicID)]; mt != nil {
			name = mt.Name
		} else {
			ok = append(ok, t) // unknown id: UNKNOWN_TOPIC_ID from the handler
			continue
		}
		allowed := s.topicAllowed(r, auth.OpDescribe, name)
		if allowed && img.Topics[name] == nil && autoCreate && !canCreateAll && !s.topicAllowed(r, auth.OpCreate, name) {
			allowed = false
		}
		if allowed {
			ok = append(ok, t)
			okNames[name] = true
			continue
		}
		mt := kmsg.NewMetadataResponseTopic()
		mt.Topic, mt.TopicID = t.Topic, t.TopicID
		mt.ErrorCode = kerr.TopicAuthorizationFailed.Code
		mt.AuthorizedOperations = -2147483648
		denied = append(denied, mt)
	}
	if len(denied) == 0 {
		return h.fn(r)
	}
	req.Topics = ok
	if len(ok) == 0 {
		req.Topics = []kmsg.MetadataRequestTopic{} // v1+: no topics; v0: all, removed below
	}
	resp, err := h.fn(r)
	req.Topics = orig
	if err != nil {
		return resp, err
	}
	mr := resp.(*kmsg.MetadataResponse)
	if len(ok) == 0 {
		mr.Topics = nil
	}
	mr.Topics = append(mr.Topics, denied...)
	return mr, nil
}

func (s *Server) authzOffsetForLeaderEpoch(h *handler, r *request, req *kmsg.OffsetForLeaderEpochRequest) (kmsg.Response, error) {
	if req.ReplicaID >= 0 && s.allowed(r, auth.OpClusterAction, auth.ResourceCluster, auth.ClusterResource) {
		return h.fn(r)
	}
	return splitRun(h, r, &req.Topics, runEmpty, func(t kmsg.OffsetForLeaderEpochRequestTopic) (rt kmsg.OffsetForLeaderEpochResponseTopic, denied bool) {
		if req.ReplicaID < 0 && s.topicAllowed(r, auth.OpDescribe, t.Topic) {
			return rt, false
		}
		rt = kmsg.NewOffsetForLeaderEpochResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewOffsetForLeaderEpochResponseTopicPartition()
			rp.Partition, rp.ErrorCode = p.Partition, kerr.TopicAuthorizationFailed.Code
			rp.LeaderEpoch, rp.EndOffset = -1, -1
			rt.Partitions = append(rt.Partitions, rp)
		}
		return rt, true
	}, func(or *kmsg.OffsetForLeaderEpochResponse) *[]kmsg.OffsetForLeaderEpochResponseTopic {
		return &or.Topics
	})
}

func (s *Server) authzDeleteRecords(h *handler, r *request, req *kmsg.DeleteRecordsRequest) (kmsg.Response, error) {
	return splitRun(h, r, &req.Topics, runEmpty, func(t kmsg.DeleteRecordsRequestTopic) (rt kmsg.DeleteRecordsResponseTopic, denied bool) {
		if s.topicAllowed(r, auth.OpDelete, t.Topic) {
			return rt, false
		}
		rt = kmsg.NewDeleteRecordsResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewDeleteRecordsResponseTopicPartition()
			rp.Partition, rp.ErrorCode, rp.LowWatermark = p.Partition, kerr.TopicAuthorizationFailed.Code, -1
			rt.Partitions = append(rt.Partitions, rp)
		}
		return rt, true
	}, func(dr *kmsg.DeleteRecordsResponse) *[]kmsg.DeleteRecordsResponseTopic { return &dr.Topics })
}

func (s *Server) authzCreateTopics(h *handler, r *request, req *kmsg.CreateTopicsRequest) (kmsg.Response, error) {
	if s.allowed(r, auth.OpCreate, auth.ResourceCluster, auth.ClusterResource) {
		return h.fn(r)
	}
	return splitRun(h, r, &req.Topics, runEmpty, func(t kmsg.CreateTopicsRequestTopic) (st kmsg.CreateTopicsResponseTopic, denied bool) {
		if s.topicAllowed(r, auth.OpCreate, t.Topic) {
			return st, false
		}
		st = kmsg.NewCreateTopicsResponseTopic()
		st.Topic = t.Topic
		st.NumPartitions, st.ReplicationFactor = -1, -1
		st.ErrorCode = kerr.TopicAuthorizationFailed.Code
		if r.version >= 1 {
			st.ErrorMessage = strPtr("creating topic " + t.Topic + " needs Create on the topic or the cluster")
		}
		return st, true
	}, func(cr *kmsg.CreateTopicsResponse) *[]kmsg.CreateTopicsResponseTopic { return &cr.Topics })
}

func (s *Server) authzDeleteTopics(h *handler, r *request, req *kmsg.DeleteTopicsRequest) (kmsg.Response, error) {
	list := func(dr *kmsg.DeleteTopicsResponse) *[]kmsg.DeleteTopicsResponseTopic { return &dr.Topics }
	if r.version < 6 {
		return splitRun(h, r, &req.TopicNames, runEmpty, func(n string) (st kmsg.DeleteTopicsResponseTopic, denied bool) {
			if s.topicAllowed(r, auth.OpDelete, n) {
				return st, false
			}
			st = kmsg.NewDeleteTopicsResponseTopic()
			st.Topic, st.ErrorCode = strPtr(n), kerr.TopicAuthorizationFailed.Code
			return st, true
		}, list)
	}
	img := s.ctrl.Image()
	return splitRun(h, r, &req.Topics, runEmpty, func(t kmsg.DeleteTopicsRequestTopic) (st kmsg.DeleteTopicsResponseTopic, denied bool) {
		name := ""
		if t.Topic != nil {
			name = *t.Topic
		} else if mt := img.TopicIDs[metadata.UUID(t.TopicID)]; mt != nil {
			name = mt.Name
		}
		if name == "" || s.topicAllowed(r, auth.OpDelete, name) {
			return st, false
		}
		st = kmsg.NewDeleteTopicsResponseTopic()
		st.Topic, st.TopicID, st.ErrorCode = t.Topic, t.TopicID, kerr.TopicAuthorizationFailed.Code
		return st, true
	}, list)
}

func (s *Server) authzCreatePartitions(h *handler, r *request, req *kmsg.CreatePartitionsRequest) (kmsg.Response, error) {
	return splitRun(h, r, &req.Topics, runEmpty, func(t kmsg.CreatePartitionsRequestTopic) (st kmsg.CreatePartitionsResponseTopic, denied bool) {
		if s.topicAllowed(r, auth.OpAlter, t.Topic) {
			return st, false
		}
		st = kmsg.NewCreatePartitionsResponseTopic()
		st.Topic, st.ErrorCode = t.Topic, kerr.TopicAuthorizationFailed.Code
		return st, true
	}, func(cr *kmsg.CreatePartitionsResponse) *[]kmsg.CreatePartitionsResponseTopic { return &cr.Topics })
}

func (s *Server) authzInitProducerID(h *handler, r *request, req *kmsg.InitProducerIDRequest) (kmsg.Response, error) {
	var code int16
	if req.TransactionalID != nil {
		if !s.allowed(r, auth.OpWrite, auth.ResourceTransactionalID, *req.TransactionalID) {
			code = kerr.TransactionalIDAuthorizationFailed.Code
		}
	} else if !s.allowed(r, auth.OpIdempotentWrite, auth.ResourceCluster, auth.ClusterResource) && !s.anyTopicWritable(r) {
		// Kafka 3.0+ (KIP-679): Write on any topic is enough.
		code = kerr.ClusterAuthorizationFailed.Code
	}
	if code == 0 {
		return h.fn(r)
	}
	resp := req.ResponseKind().(*kmsg.InitProducerIDResponse)
	resp.ErrorCode, resp.ProducerID, resp.ProducerEpoch = code, -1, -1
	return resp, nil
}

func (s *Server) anyTopicWritable(r *request) bool {
	for name := range s.ctrl.Image().Topics {
		if s.topicAllowed(r, auth.OpWrite, name) {
			return true
		}
	}
	return false
}

// configAllowed checks op on a config resource (topic 2, broker 4, broker
// logger 8): topics by name, brokers as the cluster.
func (s *Server) configAllowed(r *request, op int8, rt kmsg.ConfigResourceType, name string) (bool, int16) {
	if rt == kmsg.ConfigResourceTypeTopic {
		return s.topicAllowed(r, op, name), kerr.TopicAuthorizationFailed.Code
	}
	return s.allowed(r, op, auth.ResourceCluster, auth.ClusterResource), kerr.ClusterAuthorizationFailed.Code
}

func (s *Server) authzDescribeConfigs(h *handler, r *request, req *kmsg.DescribeConfigsRequest) (kmsg.Response, error) {
	return splitRun(h, r, &req.Resources, runEmpty, func(res kmsg.DescribeConfigsRequestResource) (d kmsg.DescribeConfigsResponseResource, denied bool) {
		allowed, code := s.configAllowed(r, auth.OpDescribeConfigs, res.ResourceType, res.ResourceName)
		if allowed {
			return d, false
		}
		d = kmsg.NewDescribeConfigsResponseResource()
		d.ResourceType, d.ResourceName, d.ErrorCode = res.ResourceType, res.ResourceName, code
		return d, true
	}, func(dr *kmsg.DescribeConfigsResponse) *[]kmsg.DescribeConfigsResponseResource { return &dr.Resources })
}

func (s *Server) authzAlterConfigs(h *handler, r *request, req *kmsg.AlterConfigsRequest) (kmsg.Response, error) {
	return splitRun(h, r, &req.Resources, runEmpty, func(res kmsg.AlterConfigsRequestResource) (d kmsg.AlterConfigsResponseResource, denied bool) {
		allowed, code := s.configAllowed(r, auth.OpAlterConfigs, res.ResourceType, res.ResourceName)
		if allowed {
			return d, false
		}
		d = kmsg.NewAlterConfigsResponseResource()
		d.ResourceType, d.ResourceName, d.ErrorCode = res.ResourceType, res.ResourceName, code
		return d, true
	}, func(ar *kmsg.AlterConfigsResponse) *[]kmsg.AlterConfigsResponseResource { return &ar.Resources })
}

func (s *Server) authzIncrementalAlterConfigs(h *handler, r *request, req *kmsg.IncrementalAlterConfigsRequest) (kmsg.Response, error) {
	return splitRun(h, r, &req.Resources, runEmpty, func(res kmsg.IncrementalAlterConfigsRequestResource) (d kmsg.IncrementalAlterConfigsResponseResource, denied bool) {
		allowed, code := s.configAllowed(r, auth.OpAlterConfigs, res.ResourceType, res.ResourceName)
		if allowed {
			return d, false
		}
		d = kmsg.NewIncrementalAlterConfigsResponseResource()
		d.ResourceType, d.ResourceName, d.ErrorCode = res.ResourceType, res.ResourceName, code
		return d, true
	}, func(ar *kmsg.IncrementalAlterConfigsResponse) *[]kmsg.IncrementalAlterConfigsResponseResource {
		return &ar.Resources
	})
}

func (s *Server) coordinatorAllowed(r *request, typ int8, key string) (bool, int16) {
	if typ == 1 {
		return s.allowed(r, auth.OpDescribe, auth.ResourceTransactionalID, key), kerr.TransactionalIDAuthorizationFailed.Code
	}
	return s.allowed(r, auth.OpDescribe, auth.ResourceGroup, key), kerr.GroupAuthorizationFailed.Code
}

func (s *Server) authzFindCoordinator(h *handler, r *request, req *kmsg.FindCoordinatorRequest) (kmsg.Response, error) {
	if r.version < 4 {
		if ok, code := s.coordinatorAllowed(r, req.CoordinatorType, req.CoordinatorKey); !ok {
			resp := req.ResponseKind().(*kmsg.FindCoordinatorResponse)
			resp.ErrorCode, resp.NodeID, resp.Port = code, -1, -1
			return resp, nil
		}
		return h.fn(r)
	}
	return splitRun(h, r, &req.CoordinatorKeys, runEmpty, func(k string) (c kmsg.FindCoordinatorResponseCoordinator, denied bool) {
		allowed, code := s.coordinatorAllowed(r, req.CoordinatorType, k)
		if allowed {
			return c, false
		}
		c = kmsg.NewFindCoordinatorResponseCoordinator()
		c.Key, c.ErrorCode, c.NodeID, c.Port = k, code, -1, -1
		return c, true
	}, func(fr *kmsg.FindCoordinatorResponse) *[]kmsg.FindCoordinatorResponseCoordinator {
		return &fr.Coordinators
	})
}

func (s *Server) authzOffsetCommit(h *handler, r *request, req *kmsg.OffsetCommitRequest) (kmsg.Response, error) {
	groupOK := s.allowed(r, auth.OpRead, auth.ResourceGroup, req.Group)
	code := kerr.TopicAuthorizationFailed.Code
	if !groupOK {
		code = kerr.GroupAuthorizationFailed.Code
	}
	return splitRun(h, r, &req.Topics, skipEmpty, func(t kmsg.OffsetCommitRequestTopic) (rt kmsg.OffsetCommitResponseTopic, denied bool) {
		if groupOK && s.topicAllowed(r, auth.OpRead, t.Topic) {
			return rt, false
		}
		rt = kmsg.NewOffsetCommitResponseTopic()
		rt.Topic, rt.TopicID = t.Topic, t.TopicID
		for _, p := range t.Partitions {
			rp := kmsg.NewOffsetCommitResponseTopicPartition()
			rp.Partition, rp.ErrorCode = p.Partition, code
			rt.Partitions = append(rt.Partitions, rp)
		}
		return rt, true
	}, func(cr *kmsg.OffsetCommitResponse) *[]kmsg.OffsetCommitResponseTopic { return &cr.Topics })
}

func (s *Server) authzOffsetFetch(h *handler, r *request, req *kmsg.OffsetFetchRequest) (kmsg.Response, error) {
	if r.version < 8 {
		if !s.allowed(r, auth.OpDescribe, auth.ResourceGroup, req.Group) {
			resp := req.ResponseKind().(*kmsg.OffsetFetchResponse)
			resp.ErrorCode = kerr.GroupAuthorizationFailed.Code
			for _, t := range req.Topics {
				rt := kmsg.NewOffsetFetchResponseTopic()
				rt.Topic = t.Topic
				for _, p := range t.Partitions {
					rp := kmsg.NewOffsetFetchResponseTopicPartition()
					rp.Partition, rp.Offset, rp.LeaderEpoch, rp.ErrorCode = p, -1, -1, kerr.GroupAuthorizationFailed.Code
					rt.Partitions = append(rt.Partitions, rp)
				}
				resp.Topics = append(resp.Topics, rt)
			}
			return resp, nil
		}
		allTopics := req.Topics == nil
		orig := req.Topics
		var ok, denied []kmsg.OffsetFetchRequestTopic
		for _, t := range orig {
			if s.topicAllowed(r, auth.OpDescribe, t.Topic) {
				ok = append(ok, t)
			} else {
				denied = append(denied, t)
			}
		}
		if !allTopics {
			if len(denied) == 0 {
				return h.fn(r)
			}
			req.Topics = ok
			if ok == nil {
				req.Topics = []kmsg.OffsetFetchRequestTopic{}
			}
		}
		resp, err := h.fn(r)
		req.Topics = orig
		if err != nil {
			return resp, err
		}
		fr := resp.(*kmsg.OffsetFetchResponse)
		if allTopics {
			fr.Topics = slices.DeleteFunc(fr.Topics, func(t kmsg.OffsetFetchResponseTopic) bool {
				return !s.topicAllowed(r, auth.OpDescribe, t.Topic)
			})
		}
		for _, t := range denied {
			rt := kmsg.NewOffsetFetchResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewOffsetFetchResponseTopicPartition()
				rp.Partition, rp.Offset, rp.LeaderEpoch, rp.ErrorCode = p, -1, -1, kerr.TopicAuthorizationFailed.Code
				rt.Partitions = append(rt.Partitions, rp)
			}
			fr.Topics = append(fr.Topics, rt)
		}
		return fr, nil
	}
	// v8+: several groups.
	orig := req.Groups
	var okGroups []kmsg.OffsetFetchRequestGroup
	var deniedGroups []kmsg.OffsetFetchResponseGroup
	deniedTopics := map[string][]kmsg.OffsetFetchRequestGroupTopic{}
	allTopics := map[string]bool{}
	for _, g := range orig {
		if !s.allowed(r, auth.OpDescribe, auth.ResourceGroup, g.Group) {
			rg := kmsg.NewOffsetFetchResponseGroup()
			rg.Group, rg.ErrorCode = g.Group, kerr.GroupAuthorizationFailed.Code
			deniedGroups = append(deniedGroups, rg)
			continue
		}
		if g.Topics == nil {
			allTopics[g.Group] = true
			okGroups = append(okGroups, g)
			continue
		}
		var ok []kmsg.OffsetFetchRequestGroupTopic
		for _, t := range g.Topics {
			if s.topicAllowed(r, auth.OpDescribe, t.Topic) {
				ok = append(ok, t)
			} else {
				deniedTopics[g.Group] = append(deniedTopics[g.Group], t)
			}
		}
		if ok == nil {
			ok = []kmsg.OffsetFetchRequestGroupTopic{}
		}
		g.Topics = ok
		okGroups = append(okGroups, g)
	}
	if len(deniedGroups) == 0 && len(deniedTopics) == 0 && len(allTopics) == 0 {
		return h.fn(r)
	}
	var fr *kmsg.OffsetFetchResponse
	if len(okGroups) > 0 {
		req.Groups = okGroups
		resp, err := h.fn(r)
		req.Groups = orig
		if err != nil {
			return resp, err
		}
		fr = resp.(*kmsg.OffsetFetchResponse)
	} else {
		fr = req.ResponseKind().(*kmsg.OffsetFetchResponse)
	}
	for i := range fr.Groups {
		g := &fr.Groups[i]
		if allTopics[g.Group] {
			g.Topics = slices.DeleteFunc(g.Topics, func(t kmsg.OffsetFetchResponseGroupTopic) bool {
				return !s.topicAllowed(r, auth.OpDescribe, t.Topic)
			})
		}
		for _, t := range deniedTopics[g.Group] {
			rt := kmsg.NewOffsetFetchResponseGroupTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewOffsetFetchResponseGroupTopicPartition()
				rp.Partition, rp.Offset, rp.LeaderEpoch, rp.ErrorCode = p, -1, -1, kerr.TopicAuthorizationFailed.Code
				rt.Partitions = append(rt.Partitions, rp)
			}
			g.Topics = append(g.Topics, rt)
		}
	}
	fr.Groups = append(fr.Groups, deniedGroups...)
	return fr, nil
}

func (s *Server) authzDescribeGroups(h *handler, r *request, req *kmsg.DescribeGroupsRequest) (kmsg.Response, error) {
	return splitRun(h, r, &req.Groups, skipEmpty, func(g string) (d kmsg.DescribeGroupsResponseGroup, denied bool) {
		if s.allowed(r, auth.OpDescribe, auth.ResourceGroup, g) {
			return d, false
		}
		d = kmsg.NewDescribeGroupsResponseGroup()
		d.Group, d.ErrorCode = g, kerr.GroupAuthorizationFailed.Code
		d.AuthorizedOperations = -2147483648
		return d, true
	}, func(dr *kmsg.DescribeGroupsResponse) *[]kmsg.DescribeGroupsResponseGroup { return &dr.Groups })
}

func (s *Server) authzListGroups(h *handler, r *request, req *kmsg.ListGroupsRequest) (kmsg.Response, error) {
	resp, err := h.fn(r)
	if err != nil || s.allowed(r, auth.OpDescribe, auth.ResourceCluster, auth.ClusterResource) {
		return resp, err
	}
	lr := resp.(*kmsg.ListGroupsResponse)
	lr.Groups = slices.DeleteFunc(lr.Groups, func(g kmsg.ListGroupsResponseGroup) bool {
		return !s.allowed(r, auth.OpDescribe, auth.ResourceGroup, g.Group)
	})
	return lr, nil
}

func (s *Server) authzDeleteGroups(h *handler, r *request, req *kmsg.DeleteGroupsRequest) (kmsg.Response, error) {
	return splitRun(h, r, &req.Groups, skipEmpty, func(g string) (d kmsg.DeleteGroupsResponseGroup, denied bool) {
		if s.allowed(r, auth.OpDelete, auth.ResourceGroup, g) {
			return d, false
		}
		d = kmsg.NewDeleteGroupsResponseGroup()
		d.Group, d.ErrorCode = g, kerr.GroupAuthorizationFailed.Code
		return d, true
	}, func(dr *kmsg.DeleteGroupsResponse) *[]kmsg.DeleteGroupsResponseGroup { return &dr.Groups })
}

func (s *Server) authzOffsetDelete(h *handler, r *request, req *kmsg.OffsetDeleteRequest) (kmsg.Response, error) {
	if !s.allowed(r, auth.OpDelete, auth.ResourceGroup, req.Group) {
		resp := req.ResponseKind().(*kmsg.OffsetDeleteResponse)
		resp.ErrorCode = kerr.GroupAuthorizationFailed.Code
		return resp, nil
	}
	return splitRun(h, r, &req.Topics, runEmpty, func(t kmsg.OffsetDeleteRequestTopic) (rt kmsg.OffsetDeleteResponseTopic, denied bool) {
		if s.topicAllowed(r, auth.OpRead, t.Topic) {
			return rt, false
		}
		rt = kmsg.NewOffsetDeleteResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewOffsetDeleteResponseTopicPartition()
			rp.Partition, rp.ErrorCode = p.Partition, kerr.TopicAuthorizationFailed.Code
			rt.Partitions = append(rt.Partitions, rp)
		}
		return rt, true
	}, func(or *kmsg.OffsetDeleteResponse) *[]kmsg.OffsetDeleteResponseTopic { return &or.Topics })
}
