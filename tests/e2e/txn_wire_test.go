package e2e

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/quillstream/quill/internal/record"
	"github.com/quillstream/quill/internal/testutil"
)

// TestTxnWireRules drives the transaction APIs with hand-built requests:
// KIP-890 part 1 (a transactional batch for a partition not added to the
// transaction is refused: INVALID_TXN_STATE, TRANSACTION_ABORTABLE from
// Produce v11), the happy path after AddPartitionsToTxn, EndTxn errors,
// WriteTxnMarkers fencing and DescribeProducers.
func TestTxnWireRules(t *testing.T) {
	t.Parallel()
	b := testutil.StartBroker(t)
	topic := topicName(t)
	createTopic(t, b.Admin(t), topic, 1, nil)
	rc := testutil.DialRaw(t, b.Addr())
	txnID := topic + "-txn"

	fc := kmsg.NewPtrFindCoordinatorRequest()
	fc.SetVersion(3)
	fc.CoordinatorKey, fc.CoordinatorType = txnID, 1
	if resp := rc.Request(fc).(*kmsg.FindCoordinatorResponse); resp.ErrorCode != 0 || resp.NodeID < 0 {
		t.Fatalf("FindCoordinator(transaction): %+v", resp)
	}

	ip := kmsg.NewPtrInitProducerIDRequest()
	ip.SetVersion(4)
	ip.TransactionalID, ip.TransactionTimeoutMillis = &txnID, 30000
	ip.ProducerID, ip.ProducerEpoch = -1, -1
	ipr := rc.Request(ip).(*kmsg.InitProducerIDResponse)
	if ipr.ErrorCode != 0 {
		t.Fatalf("InitProducerId: %v", kerr.ErrorForCode(ipr.ErrorCode))
	}
	pid, epoch := ipr.ProducerID, ipr.ProducerEpoch

	produce := func(version int16, seq int32) int16 {
		t.Helper()
		batch, err := record.Build(record.BatchSpec{
			Attributes: record.AttrTransactional, BaseTimestamp: time.Now().UnixMilli(),
			ProducerID: pid, ProducerEpoch: epoch, BaseSequence: seq,
		}, []record.Record{{Value: []byte("x")}})
		if err != nil {
			t.Fatal(err)
		}
		req := kmsg.NewPtrProduceRequest()
		req.SetVersion(version)
		req.TransactionID, req.Acks, req.TimeoutMillis = &txnID, -1, 10000
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic = topic
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Records = batch
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		return rc.Request(req).(*kmsg.ProduceResponse).Topics[0].Partitions[0].ErrorCode
	}
	if code := produce(11, 0); code != kerr.TransactionAbortable.Code {
		t.Fatalf("Produce v11 outside the transaction: %v, want TRANSACTION_ABORTABLE", kerr.ErrorForCode(code))
	}
	if code := produce(9, 0); code != kerr.InvalidTxnState.Code {
		t.Fatalf("Produce v9 outside the transaction: %v, want INVALID_TXN_STATE", kerr.ErrorForCode(code))
	}

	end := func(commit bool) int16 {
		req := kmsg.NewPtrEndTxnRequest()
		req.SetVersion(3)
		req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Commit = txnID, pid, epoch, commit
		return rc.Request(req).(*kmsg.EndTxnResponse).ErrorCode
	}
	if code := end(true); code != kerr.InvalidTxnState.Code {
		t.Fatalf("EndTxn without a transaction: %v", kerr.ErrorForCode(code))
	}

	ap := kmsg.NewPtrAddPartitionsToTxnRequest()
	ap.SetVersion(3)
	ap.TransactionalID, ap.ProducerID, ap.ProducerEpoch = txnID, pid, epoch
	apt := kmsg.NewAddPartitionsToTxnRequestTopic()
	apt.Topic, apt.Partitions = topic, []int32{0}
	ap.Topics = append(ap.Topics, apt)
	if code := rc.Request(ap).(*kmsg.AddPartitionsToTxnResponse).Topics[0].Partitions[0].ErrorCode; code != 0 {
		t.Fatalf("AddPartitionsToTxn: %v", kerr.ErrorForCode(code))
	}
	if code := produce(11, 0); code != 0 {
		t.Fatalf("Produce in the transaction: %v", kerr.ErrorForCode(code))
	}

	dp := kmsg.NewPtrDescribeProducersRequest()
	dpt := kmsg.NewDescribeProducersRequestTopic()
	dpt.Topic, dpt.Partitions = topic, []int32{0}
	dp.Topics = append(dp.Topics, dpt)
	dpr := rc.Request(dp).(*kmsg.DescribeProducersResponse).Topics[0].Partitions[0]
	if len(dpr.ActiveProducers) != 1 || dpr.ActiveProducers[0].ProducerID != pid || dpr.ActiveProducers[0].CurrentTxnStartOffset != 0 {
		t.Fatalf("DescribeProducers: %+v", dpr)
	}

	// A marker from an older coordinator epoch than one already seen is
	// fenced; WriteTxnMarkers with the current one ends the transaction.
	marker := func(coordEpoch int32) int16 {
		req := kmsg.NewPtrWriteTxnMarkersRequest()
		req.SetVersion(1)
		m := kmsg.NewWriteTxnMarkersRequestMarker()
		m.ProducerID, m.ProducerEpoch, m.Committed, m.CoordinatorEpoch = pid, epoch, false, coordEpoch
		mt := kmsg.NewWriteTxnMarkersRequestMarkerTopic()
		mt.Topic, mt.Partitions = topic, []int32{0}
		m.Topics = append(m.Topics, mt)
		req.Markers = append(req.Markers, m)
		return rc.Request(req).(*kmsg.WriteTxnMarkersResponse).Markers[0].Topics[0].Partitions[0].ErrorCode
	}
	if code := marker(100); code != 0 {
		t.Fatalf("WriteTxnMarkers: %v", kerr.ErrorForCode(code))
	}
	if code := marker(99); code != kerr.TransactionCoordinatorFenced.Code {
		t.Fatalf("WriteTxnMarkers from an older coordinator: %v", kerr.ErrorForCode(code))
	}
	dpr = rc.Request(dp).(*kmsg.DescribeProducersResponse).Topics[0].Partitions[0]
	if len(dpr.ActiveProducers) != 1 || dpr.ActiveProducers[0].CurrentTxnStartOffset != -1 || dpr.ActiveProducers[0].CoordinatorEpoch != 100 {
		t.Fatalf("DescribeProducers after the marker: %+v", dpr)
	}
}
