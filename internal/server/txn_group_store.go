package server

import (
	"context"
	"time"

	"github.com/quillstream/quill/internal/group"
	"github.com/quillstream/quill/internal/record"
)

var _ group.TxnStore = (*GroupStore)(nil)

// AppendTxn writes TxnOffsetCommit records as one transactional batch of
// the producer (sequence -1: the broker, not the client, builds it), which
// opens the producer's transaction in the partition until the
// coordinator's marker, and returns once the ISR has it.
func (g *GroupStore) AppendTxn(ctx context.Context, partition int32, pid int64, epoch int16, recs []group.Record) error {
	if len(recs) == 0 {
		return nil
	}
	part, err := g.log().partition(partition)
	if err != nil {
		return err
	}
	if err := canAppend(part); err != nil { // group_store.go
		return err
	}
	b, err := buildCoordBatch(record.BatchSpec{
		Attributes:    record.AttrTransactional,
		BaseTimestamp: time.Now().UnixMilli(),
		ProducerID:    pid, ProducerEpoch: epoch, BaseSequence: -1,
	}, recs)
	if err != nil {
		return err
	}
	res, err := part.AppendCoordinatorBatch(b)
	if err != nil {
		return err
	}
	if err := part.AwaitDurable(res); err != nil {
		return err
	}
	// In a cluster, answer once the ISR has the offsets (acks=all, as
	// Kafka does): a group coordinator failover before the marker must
	// not lose them, or the transaction would commit without them.
	ctx, cancel := context.WithTimeout(ctx, markerReplicationTimeout)
	defer cancel()
	return part.WaitHighWatermark(ctx, res.BaseOffset+int64(len(recs)), part.Settings().MinInsyncReplicas)
}

// replayMarker passes a transaction marker to a group replay.
func replayMarker(h record.Header, recs []record.Record, fn func(group.Record) error) error {
	if len(recs) == 0 || h.ProducerID < 0 {
		return nil
	}
	var m group.Marker
	switch record.ControlType(recs[0].Key) {
	case record.ControlAbort:
		m = group.MarkerAbort
	case record.ControlCommit:
		m = group.MarkerCommit
	default:
		return nil
	}
	return fn(group.Record{ProducerID: h.ProducerID, Marker: m})
}
