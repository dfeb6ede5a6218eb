package server

// ACL checks for the transaction APIs and the KIP-848 group APIs, as
// Kafka's KafkaApis does them:
//
//	AddPartitionsToTxn    Write on the transactional id and on each topic
//	                      (v4+, brokers: ClusterAction on the cluster)
//	AddOffsetsToTxn       Write on the transactional id, Read on the group
//	EndTxn                Write on the transactional id
//	TxnOffsetCommit       Write on the transactional id, Read on the group
//	                      and on each topic
//	WriteTxnMarkers       ClusterAction on the cluster (brokers only)
//	DescribeProducers     Read on the topic
//	DescribeTransactions  Describe on the transactional id
//	ListTransactions      lists only ids with Describe
//	ConsumerGroupHeartbeat  Read on the group, Describe on subscribed topics
//	ConsumerGroupDescribe   Describe on the group

import (
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/quillstream/quill/internal/auth"
)

// authorizedMore covers the APIs of auth_acl_txn.go; ok is false for
// other requests.
func (s *Server) authorizedMore(h *handler, r *request) (resp kmsg.Response, ok bool, err error) {
	txnOK := func(id string) bool { return s.allowed(r, auth.OpWrite, auth.ResourceTransactionalID, id) }
	switch req := r.body.(type) {
	case *kmsg.AddPartitionsToTxnRequest:
		resp, err = s.authzAddPartitionsToTxn(h, r, req)
	case *kmsg.AddOffsetsToTxnRequest:
		code := int16(0)
		switch {
		case !txnOK(req.TransactionalID):
			code = kerr.TransactionalIDAuthorizationFailed.Code
		case !s.allowed(r, auth.OpRead, auth.ResourceGroup, req.Group):
			code = kerr.GroupAuthorizationFailed.Code
		}
		if code == 0 {
			resp, err = h.fn(r)
			break
		}
		ar := req.ResponseKind().(*kmsg.AddOffsetsToTxnResponse)
		ar.ErrorCode = code
		resp = ar
	case *kmsg.EndTxnRequest:
		if txnOK(req.TransactionalID) {
			resp, err = h.fn(r)
			break
		}
		er := req.ResponseKind().(*kmsg.EndTxnResponse)
		er.ErrorCode, er.ProducerID, er.ProducerEpoch = kerr.TransactionalIDAuthorizationFailed.Code, -1, -1
		resp = er
	case *kmsg.TxnOffsetCommitRequest:
		resp, err = s.authzTxnOffsetCommit(h, r, req, txnOK(req.TransactionalID))
	case *kmsg.WriteTxnMarkersRequest:
		if s.allowed(r, auth.OpClusterAction, auth.ResourceCluster, auth.ClusterResource) {
			resp, err = h.fn(r)
			break
		}
		wr := req.ResponseKind().(*kmsg.WriteTxnMarkersResponse)
		for _, m := range req.Markers {
			rm := kmsg.NewWriteTxnMarkersResponseMarker()
			rm.ProducerID = m.ProducerID
			for _, t := range m.Topics {
				rt := kmsg.NewWriteTxnMarkersResponseMarkerTopic()
				rt.Topic = t.Topic
				for _, p := range t.Partitions {
					rp := kmsg.NewWriteTxnMarkersResponseMarkerTopicPartition()
					rp.Partition, rp.ErrorCode = p, kerr.ClusterAuthorizationFailed.Code
					rt.Partitions = append(rt.Partitions, rp)
				}
				rm.Topics = append(rm.Topics, rt)
			}
			wr.Markers = append(wr.Markers, rm)
		}
		resp = wr
	case *kmsg.DescribeProducersRequest:
		resp, err = s.authzDescribeProducers(h, r, req)
	case *kmsg.DescribeTransactionsRequest:
		resp, err = s.authzDescribeTransactions(h, r, req)
	case *kmsg.ListTransactionsRequest:
		resp, err = h.fn(r)
		if err == nil {
			lr := resp.(*kmsg.ListTransactionsResponse)
			lr.TransactionStates = slices.DeleteFunc(lr.TransactionStates, func(t kmsg.ListTransactionsResponseTransactionState) bool {
				return !s.allowed(r, auth.OpDescribe, auth.ResourceTransactionalID, t.TransactionalID)
			})
		}
	case *kmsg.ConsumerGroupHeartbeatRequest:
		code := int16(0)
		if !s.allowed(r, auth.OpRead, auth.ResourceGroup, req.Group) {
			code = kerr.GroupAuthorizationFailed.Code
		} else {
			for _, t := range req.SubscribedTopicNames {
				if !s.topicAllowed(r, auth.OpDescribe, t) {
					code = kerr.TopicAuthorizationFailed.Code
					break
				}
			}
		}
		if code == 0 {
			resp, err = h.fn(r)
			break
		}
		hr := req.ResponseKind().(*kmsg.ConsumerGroupHeartbeatResponse)
		hr.ErrorCode = code
		resp = hr
	case *kmsg.ConsumerGroupDescribeRequest:
		resp, err = splitRun(h, r, &req.Groups, skipEmpty, func(g string) (d kmsg.ConsumerGroupDescribeResponseGroup, denied bool) {
			if s.allowed(r, auth.OpDescribe, auth.ResourceGroup, g) {
				return d, false
			}
			d = kmsg.NewConsumerGroupDescribeResponseGroup()
			d.Group, d.ErrorCode = g, kerr.GroupAuthorizationFailed.Code
			d.AuthorizedOperations = -2147483648
			return d, true
		}, func(dr *kmsg.ConsumerGroupDescribeResponse) *[]kmsg.ConsumerGroupDescribeResponseGroup {
			return &dr.Groups
		})
	default:
		return nil, false, nil
	}
	return resp, true, err
}

func (s *Server) authzAddPartitionsToTxn(h *handler, r *request, req *kmsg.AddPartitionsToTxnRequest) (kmsg.Response, error) {
	if req.Version >= 4 { // brokers' batched form (KIP-890)
		if s.allowed(r, auth.OpClusterAction, auth.ResourceCluster, auth.ClusterResource) {
			return h.fn(r)
		}
		resp := req.ResponseKind().(*kmsg.AddPartitionsToTxnResponse)
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return resp, nil
	}
	txnDenied := !s.allowed(r, auth.OpWrite, auth.ResourceTransactionalID, req.TransactionalID)
	var deniedTopics []string
	for _, t := range req.Topics {
		if !s.topicAllowed(r, auth.OpWrite, t.Topic) {
			deniedTopics = append(deniedTopics, t.Topic)
		}
	}
	if !txnDenied && len(deniedTopics) == 0 {
		return h.fn(r)
	}
	// Nothing is added: unauthorized partitions get the authorization
	// error, the others OPERATION_NOT_ATTEMPTED, as in Kafka.
	resp := req.ResponseKind().(*kmsg.AddPartitionsToTxnResponse)
	for _, t := range req.Topics {
		code := kerr.OperationNotAttempted.Code
		switch {
		case txnDenied:
			code = kerr.TransactionalIDAuthorizationFailed.Code
		case slices.Contains(deniedTopics, t.Topic):
			code = kerr.TopicAuthorizationFailed.Code
		}
		rt := kmsg.NewAddPartitionsToTxnResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewAddPartitionsToTxnResponseTopicPartition()
			rp.Partition, rp.ErrorCode = p, code
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp, nil
}

func (s *Server) authzTxnOffsetCommit(h *handler, r *request, req *kmsg.TxnOffsetCommitRequest, txnOK bool) (kmsg.Response, error) {
	groupOK := s.allowed(r, auth.OpRead, auth.ResourceGroup, req.Group)
	code := kerr.TopicAuthorizationFailed.Code
	switch {
	case !txnOK:
		code = kerr.TransactionalIDAuthorizationFailed.Code
	case !groupOK:
		code = kerr.GroupAuthorizationFailed.Code
	}
	return splitRun(h, r, &req.Topics, skipEmpty, func(t kmsg.TxnOffsetCommitRequestTopic) (rt kmsg.TxnOffsetCommitResponseTopic, denied bool) {
		if txnOK && groupOK && s.topicAllowed(r, auth.OpRead, t.Topic) {
			return rt, false
		}
		rt = kmsg.NewTxnOffsetCommitResponseTopic()
		rt.Topic, rt.TopicID = t.Topic, t.TopicID
		for _, p := range t.Partitions {
			rp := kmsg.NewTxnOffsetCommitResponseTopicPartition()
			rp.Partition, rp.ErrorCode = p.Partition, code
			rt.Partitions = append(rt.Partitions, rp)
		}
		return rt, true
	}, func(tr *kmsg.TxnOffsetCommitResponse) *[]kmsg.TxnOffsetCommitResponseTopic { return &tr.Topics })
}

func (s *Server) authzDescribeProducers(h *handler, r *request, req *kmsg.DescribeProducersRequest) (kmsg.Response, error) {
	return splitRun(h, r, &req.Topics, runEmpty, func(t kmsg.DescribeProducersRequestTopic) (rt kmsg.DescribeProducersResponseTopic, denied bool) {
		if s.topicAllowed(r, auth.OpRead, t.Topic) {
			return rt, false
		}
		rt = kmsg.NewDescribeProducersResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewDescribeProducersResponseTopicPartition()
			rp.Partition, rp.ErrorCode = p, kerr.TopicAuthorizationFailed.Code
			rt.Partitions = append(rt.Partitions, rp)
		}
		return rt, true
	}, func(dr *kmsg.DescribeProducersResponse) *[]kmsg.DescribeProducersResponseTopic { return &dr.Topics })
}

func (s *Server) authzDescribeTransactions(h *handler, r *request, req *kmsg.DescribeTransactionsRequest) (kmsg.Response, error) {
	return splitRun(h, r, &req.TransactionalIDs, skipEmpty, func(id string) (d kmsg.DescribeTransactionsResponseTransactionState, denied bool) {
		if s.allowed(r, auth.OpDescribe, auth.ResourceTransactionalID, id) {
			return d, false
		}
		d = kmsg.NewDescribeTransactionsResponseTransactionState()
		d.TransactionalID, d.ErrorCode = id, kerr.TransactionalIDAuthorizationFailed.Code
		d.ProducerID, d.ProducerEpoch, d.StartTimestamp = -1, -1, -1
		return d, true
	}, func(dr *kmsg.DescribeTransactionsResponse) *[]kmsg.DescribeTransactionsResponseTransactionState {
		return &dr.TransactionStates
	})
}
