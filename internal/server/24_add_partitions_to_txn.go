package server

// The transaction coordinator's APIs (internal/txn), for clients:
// AddPartitionsToTxn v0-3 (v4, for brokers, batches transactions and
// carries KIP-890 VerifyOnly checks; ClusterAction ACL),
// AddOffsetsToTxn v0-4, EndTxn v0-4, DescribeTransactions v0,
// ListTransactions v0-1; InitProducerId with a transactional id comes
// through 22_init_producer_id.go. Transaction version 2 (KIP-890 part 2:
// EndTxn v5, Produce v12, TxnOffsetCommit v5) is not advertised, so
// clients add partitions explicitly and markers keep the producer's epoch.
// A transactional id's coordinator is the leader of its
// __transaction_state partition (FindCoordinator key type 1).

import (
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/quillstream/quill/internal/txn"
)

func (s *Server) registerTxnHandlers() {
	for key, vr := range txn.SupportedVersions() {
		if int(key) >= len(s.handlers) || kmsg.RequestForKey(key) == nil || vr.Max > kmsg.RequestForKey(key).MaxVersion() {
			panic("server: transaction coordinator version range not encodable")
		}
		s.handlers[key] = &handler{min: vr.Min, max: vr.Max, fn: s.delegateToTxn}
	}
	handle(s, 0, 1, s.handleWriteTxnMarkers)
	handle(s, 0, 0, s.handleDescribeProducers)
}

// delegateToTxn hands a transaction API request to the coordinator.
func (s *Server) delegateToTxn(r *request) (kmsg.Response, error) {
	if s.txn == nil {
		return txnUnavailable(r.body), nil
	}
	return s.txn.Handle(s.ctx, r.body)
}

// txnUnavailable answers a transaction request with
// COORDINATOR_NOT_AVAILABLE when no coordinator runs.
func txnUnavailable(req kmsg.Request) kmsg.Response {
	code := int16(15) // COORDINATOR_NOT_AVAILABLE
	resp := req.ResponseKind()
	switch r := resp.(type) {
	case *kmsg.AddPartitionsToTxnResponse:
		q := req.(*kmsg.AddPartitionsToTxnRequest)
		if q.Version >= 4 {
			r.ErrorCode = code
			break
		}
		for _, t := range q.Topics {
			rt := kmsg.NewAddPartitionsToTxnResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewAddPartitionsToTxnResponseTopicPartition()
				rp.Partition, rp.ErrorCode = p, code
				rt.Partitions = append(rt.Partitions, rp)
			}
			r.Topics = append(r.Topics, rt)
		}
	case *kmsg.AddOffsetsToTxnResponse:
		r.ErrorCode = code
	case *kmsg.EndTxnResponse:
		r.ErrorCode = code
	case *kmsg.ListTransactionsResponse:
		r.ErrorCode = code
	case *kmsg.DescribeTransactionsResponse:
		for _, id := range req.(*kmsg.DescribeTransactionsRequest).TransactionalIDs {
			st := kmsg.NewDescribeTransactionsResponseTransactionState()
			st.TransactionalID, st.ErrorCode = id, code
			r.TransactionStates = append(r.TransactionStates, st)
		}
	}
	return resp
}
