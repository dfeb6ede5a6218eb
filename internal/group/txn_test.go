package group

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func txnCommit(h *harness, group string, pid int64, epoch int16, topic string, partition int32, offset int64) int16 {
	h.t.Helper()
	req := kmsg.NewPtrTxnOffsetCommitRequest()
	req.SetVersion(3)
	req.TransactionalID, req.Group, req.ProducerID, req.ProducerEpoch = "tx", group, pid, epoch
	req.Generation = -1
	rt := kmsg.NewTxnOffsetCommitRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewTxnOffsetCommitRequestTopicPartition()
	rp.Partition, rp.Offset, rp.LeaderEpoch = partition, offset, -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp := h.do(req).(*kmsg.TxnOffsetCommitResponse)
	return resp.Topics[0].Partitions[0].ErrorCode
}

// fetchStable returns the offset and error of one partition with
// RequireStable (OffsetFetch v7).
func fetchStable(h *harness, group, topic string, partition int32) (int64, int16) {
	h.t.Helper()
	req := kmsg.NewPtrOffsetFetchRequest()
	req.SetVersion(7)
	req.Group, req.RequireStable = group, true
	rt := kmsg.NewOffsetFetchRequestTopic()
	rt.Topic, rt.Partitions = topic, []int32{partition}
	req.Topics = append(req.Topics, rt)
	resp := h.do(req).(*kmsg.OffsetFetchResponse)
	p := resp.Topics[0].Partitions[0]
	return p.Offset, p.ErrorCode
}

// KIP-98/447: transactional offsets are invisible (UNSTABLE_OFFSET_COMMIT
// with RequireStable) until the commit marker, dropped on abort, and a
// replay of the log ends in the same state.
func TestTxnOffsetCommit(t *testing.T) {
	h := newHarness(t, testConfig())
	part := PartitionFor("g", h.cfg.NumPartitions)
	if code := txnCommit(h, "g", 7, 0, "t", 0, 42); code != 0 {
		t.Fatalf("TxnOffsetCommit: %v", kerr.ErrorForCode(code))
	}
	if off, code := fetchStable(h, "g", "t", 0); code != kerr.UnstableOffsetCommit.Code || off != -1 {
		t.Fatalf("pending: offset %d, %v", off, kerr.ErrorForCode(code))
	}
	h.restart() // pending survives a reload
	if _, code := fetchStable(h, "g", "t", 0); code != kerr.UnstableOffsetCommit.Code {
		t.Fatalf("pending after restart: %v", kerr.ErrorForCode(code))
	}
	h.store.AppendMarker(part, 7, true)
	h.c.CompleteTxn(part, 7, true)
	if off, code := fetchStable(h, "g", "t", 0); code != 0 || off != 42 {
		t.Fatalf("committed: offset %d, %v", off, kerr.ErrorForCode(code))
	}

	txnCommit(h, "g", 7, 1, "t", 0, 99)
	h.store.AppendMarker(part, 7, false)
	h.c.CompleteTxn(part, 7, false)
	if off, code := fetchStable(h, "g", "t", 0); code != 0 || off != 42 {
		t.Fatalf("after abort: offset %d, %v", off, kerr.ErrorForCode(code))
	}
	h.restart()
	if off, code := fetchStable(h, "g", "t", 0); code != 0 || off != 42 {
		t.Fatalf("replayed: offset %d, %v", off, kerr.ErrorForCode(code))
	}
}

// KIP-447: a member id and generation, when given, must match the group.
func TestTxnOffsetCommitGenerationCheck(t *testing.T) {
	h := newHarness(t, testConfig())
	req := kmsg.NewPtrTxnOffsetCommitRequest()
	req.SetVersion(3)
	req.TransactionalID, req.Group, req.ProducerID, req.ProducerEpoch = "tx", "g", 7, 0
	req.Generation, req.MemberID = 3, "nobody"
	rt := kmsg.NewTxnOffsetCommitRequestTopic()
	rt.Topic = "t"
	rp := kmsg.NewTxnOffsetCommitRequestTopicPartition()
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp := h.do(req).(*kmsg.TxnOffsetCommitResponse)
	if code := resp.Topics[0].Partitions[0].ErrorCode; code != kerr.UnknownMemberID.Code {
		t.Fatalf("unknown member: %v", kerr.ErrorForCode(code))
	}
}
