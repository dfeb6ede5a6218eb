package server

// KIP-890 part 1 across brokers: a partition leader whose producer's
// transaction coordinator is another broker asks it with
// AddPartitionsToTxn v4, VerifyOnly, before the producer's first
// transactional batch in the partition. The coordinator is the leader of
// the transactional id's __transaction_state partition in the metadata
// image. The answer is kept in the partition's verification guard
// (replica.Partition.TxnVerificationNeeded/TxnVerified), and once the batch
// opened the producer's transaction there, later batches of that
// producer and epoch are not verified again: the cache Kafka keeps per
// (producer id, epoch, partition).

import (
	"context"
	"errors"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/quillstream/quill/internal/txn"
)

// SetPeers gives the server its inter-broker client (cluster mode), used
// for remote KIP-890 verifications. Call it before Start.
func (s *Server) SetPeers(p BrokerCaller) { s.peers = p }

// errVerifyUnreachable: the coordinator could not be asked (no leader, a
// network error); the producer retries.
var errVerifyUnreachable = errors.New("transaction coordinator unreachable")

// verifyTimeout bounds one remote verification.
const verifyTimeout = 10 * time.Second

// verifyRemote asks the coordinator of txnID whether topic-partition is in
// the ongoing transaction of pid/epoch. nil means yes; otherwise a Kafka
// error, or errVerifyUnreachable.
func (s *Server) verifyRemote(txnID string, pid int64, epoch int16, topic string, partition int32) error {
	img := s.ctrl.Image()
	t := img.Topics[TxnStateTopic]
	if t == nil || len(t.Partitions) == 0 {
		return errVerifyUnreachable
	}
	tp := txn.PartitionFor(txnID, int32(len(t.Partitions)))
	if int(tp) >= len(t.Partitions) {
		return errVerifyUnreachable
	}
	leader := t.Partitions[tp].Leader
	if leader < 0 {
		return errVerifyUnreachable
	}
	if leader == s.cfg.NodeID {
		// This broker leads the partition but has not loaded it yet.
		return kerr.CoordinatorLoadInProgress
	}
	req := kmsg.NewPtrAddPartitionsToTxnRequest()
	req.SetVersion(4)
	rt := kmsg.NewAddPartitionsToTxnRequestTransaction()
	rt.TransactionalID, rt.ProducerID, rt.ProducerEpoch, rt.VerifyOnly = txnID, pid, epoch, true
	rtt := kmsg.NewAddPartitionsToTxnRequestTransactionTopic()
	rtt.Topic, rtt.Partitions = topic, []int32{partition}
	rt.Topics = []kmsg.AddPartitionsToTxnRequestTransactionTopic{rtt}
	req.Transactions = []kmsg.AddPartitionsToTxnRequestTransaction{rt}
	ctx, cancel := context.WithTimeout(s.ctx, verifyTimeout)
	defer cancel()
	kresp, err := s.peers.Call(ctx, leader, req)
	if err != nil {
		s.log.Debug("txn: verification with the coordinator failed", "transactional_id", txnID, "broker", leader, "err", err)
		return errVerifyUnreachable
	}
	return verifyAnswer(kresp.(*kmsg.AddPartitionsToTxnResponse), txnID, topic, partition)
}

// verifyAnswer reads the partition's code from a v4 VerifyOnly response.
func verifyAnswer(resp *kmsg.AddPartitionsToTxnResponse, txnID, topic string, partition int32) error {
	if resp.ErrorCode != 0 {
		return kerr.ErrorForCode(resp.ErrorCode)
	}
	for _, t := range resp.Transactions {
		if t.TransactionalID != txnID {
			continue
		}
		for _, tt := range t.Topics {
			if tt.Topic != topic {
				continue
			}
			for _, p := range tt.Partitions {
				if p.Partition == partition {
					return kerr.ErrorForCode(p.ErrorCode)
				}
			}
		}
	}
	return errVerifyUnreachable
}
