package server

// The broker side of the transaction coordinator (internal/txn): its
// store over __transaction_state, the marker writer (local appends on one
// node; the group coordinator is told about markers in __consumer_offsets),
// producer ids, and the KIP-890 part 1 check before a producer's first
// transactional append to a partition.

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/quillstream/quill/internal/controller"
	"github.com/quillstream/quill/internal/group"
	"github.com/quillstream/quill/internal/record"
	"github.com/quillstream/quill/internal/replica"
	"github.com/quillstream/quill/internal/txn"
)

// TxnStateTopic is Kafka's internal topic for transaction metadata.
const TxnStateTopic = "__transaction_state"

// SetTxnCoordinator gives the server the transaction coordinator; until it
// is called transactional requests get COORDINATOR_NOT_AVAILABLE. Call it
// before Start.
func (s *Server) SetTxnCoordinator(c *txn.Coordinator) { s.txn = c }

// AllocateProducerID hands out a producer id from the blocks reserved
// through the metadata log (txn.PIDAllocator).
func (s *Server) AllocateProducerID() (int64, error) { return s.pids.allocate() }

// TxnStore keeps the transaction coordinator's state in the partitions of
// __transaction_state.
type TxnStore struct {
	Replicas *replica.Manager
}

var _ txn.Store = (*TxnStore)(nil)

// Append writes records as one batch and, in a cluster, waits until the
// ISR has it (acks=all, as Kafka's coordinator appends): a coordinator
// acts on its state only once a failover cannot lose it. A broker that no
// longer leads the partition gets NOT_LEADER_OR_FOLLOWER.
func (t *TxnStore) Append(ctx context.Context, partition int32, recs []txn.Record) error {
	return t.log().append(ctx, partition, recs, markerReplicationTimeout) // group_store.go
}

// Replay reads every record of the partition from its log start; control
// batches are skipped.
func (t *TxnStore) Replay(partition int32, fn func(txn.Record) error) error {
	return t.log().replay(partition, fn)
}

func (t *TxnStore) log() coordLog {
	return coordLog{replicas: t.Replicas, topic: TxnStateTopic, notHosted: kerr.NotLeaderForPartition}
}

// TxnMarkers writes transaction markers into local partitions and tells
// the group coordinator about markers in __consumer_offsets.
type TxnMarkers struct {
	Replicas *replica.Manager
	Groups   *group.Coordinator
	Ctrl     *controller.Controller
}

var _ txn.MarkerWriter = (*TxnMarkers)(nil)

// WriteMarker implements txn.MarkerWriter. A partition whose topic no
// longer exists is skipped; one not hosted here fails (retried later).
func (t *TxnMarkers) WriteMarker(ctx context.Context, m txn.Marker) error {
	part := t.Replicas.Get(m.Topic, m.Partition)
	if part == nil {
		if tp := t.Ctrl.Image().Topics[m.Topic]; tp == nil || int(m.Partition) >= len(tp.Partitions) {
			return nil
		}
		return fmt.Errorf("%s-%d: %w", m.Topic, m.Partition, kerr.NotLeaderForPartition)
	}
	if !part.IsLeader() {
		return fmt.Errorf("%s-%d: %w", m.Topic, m.Partition, kerr.NotLeaderForPartition)
	}
	off, err := part.AppendMarker(m.ProducerID, m.ProducerEpoch, m.Commit, m.CoordinatorEpoch)
	if errors.Is(err, kerr.InvalidProducerEpoch) {
		// The partition saw a newer epoch of the producer: this
		// transaction's marker is moot there (Kafka drops it too).
		return nil
	}
	if err != nil {
		return err
	}
	if m.Topic == OffsetsTopic && t.Groups != nil {
		t.Groups.CompleteTxn(m.Partition, m.ProducerID, m.Commit)
	}
	return awaitMarker(ctx, part, off)
}

// markerReplicationTimeout bounds the wait for a marker's replication.
const markerReplicationTimeout = 15 * time.Second

// awaitMarker waits until the ISR has the marker at off (acks=all, as Kafka
// appends markers), so a leader failover cannot lose a marker the
// coordinator counts as written. A single node returns at once. A marker
// written again after a failed wait is harmless: it closes nothing.
func awaitMarker(ctx context.Context, p *replica.Partition, off int64) error {
	ctx, cancel := context.WithTimeout(ctx, markerReplicationTimeout)
	defer cancel()
	return p.WaitHighWatermark(ctx, off+1, p.Settings().MinInsyncReplicas)
}

// TxnTopics answers AddPartitionsToTxn's existence checks from the
// metadata image.
type TxnTopics struct{ Ctrl *controller.Controller }

// PartitionExists implements txn.Topics.
func (t TxnTopics) PartitionExists(topic string, partition int32) bool {
	tp := t.Ctrl.Image().Topics[topic]
	return tp != nil && partition >= 0 && int(partition) < len(tp.Partitions)
}

// verifyTxnAppend is KIP-890 part 1: before a producer's first
// transactional batch in a partition, the transaction coordinator must
// confirm the partition is in the producer's ongoing transaction, so a
// late batch of an ended transaction cannot open a transaction nobody will
// ever end. Failures are INVALID_TXN_STATE, TRANSACTION_ABORTABLE from
// Produce v11; an unavailable coordinator gives the retriable
// NOT_ENOUGH_REPLICAS, as Kafka does.
func (s *Server) verifyTxnAppend(version int16, txnID *string, topic string, p *replica.Partition, b []byte) error {
	// The attributes (bytes 21-22) say whether the batch is transactional;
	// the common case stops here without parsing the header.
	if s.txn == nil || len(b) < record.HeaderSize || int16(binary.BigEndian.Uint16(b[21:]))&record.AttrTransactional == 0 {
		return nil
	}
	h, err := record.ParseHeader(b)
	if err != nil || !h.IsTransactional() || h.IsControl() || h.ProducerID < 0 {
		return nil
	}
	abortable := kerr.InvalidTxnState
	if version >= 11 {
		abortable = kerr.TransactionAbortable
	}
	if txnID == nil || *txnID == "" {
		return abortable
	}
	token, need := p.TxnVerificationNeeded(h.ProducerID, h.ProducerEpoch)
	if !need {
		return nil
	}
	err = s.txn.VerifyPartition(*txnID, h.ProducerID, h.ProducerEpoch, txn.TP{Topic: topic, Partition: p.ID})
	switch {
	case err == nil:
		p.TxnVerified(h.ProducerID, token)
		return nil
	case errors.Is(err, kerr.NotCoordinator) && s.peers != nil:
		// The coordinator is another broker: ask it with
		// AddPartitionsToTxn v4, VerifyOnly (txn_verify.go).
		err = s.verifyRemote(*txnID, h.ProducerID, h.ProducerEpoch, topic, p.ID)
		if err == nil {
			p.TxnVerified(h.ProducerID, token)
			return nil
		}
		return verifyError(err, abortable)
	case errors.Is(err, kerr.NotCoordinator):
		// A single node that does not lead the id's partition (it is
		// still loading): retriable.
		return kerr.NotEnoughReplicas
	}
	return verifyError(err, abortable)
}

// verifyError maps a failed verification to the Produce error: retriable
// NOT_ENOUGH_REPLICAS while the coordinator cannot answer (as Kafka maps
// COORDINATOR_NOT_AVAILABLE, NOT_COORDINATOR, CONCURRENT_TRANSACTIONS),
// INVALID_PRODUCER_EPOCH for a fenced producer, abortable otherwise.
func verifyError(err, abortable error) error {
	switch {
	case errors.Is(err, kerr.CoordinatorNotAvailable), errors.Is(err, kerr.CoordinatorLoadInProgress),
		errors.Is(err, kerr.NotCoordinator), errors.Is(err, kerr.ConcurrentTransactions),
		errors.Is(err, errVerifyUnreachable):
		return kerr.NotEnoughReplicas
	case errors.Is(err, kerr.ProducerFenced):
		return kerr.InvalidProducerEpoch
	}
	return abortable
}
