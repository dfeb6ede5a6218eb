package server

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/quillstream/quill/internal/group"
	"github.com/quillstream/quill/internal/record"
	"github.com/quillstream/quill/internal/replica"
)

// GroupStore keeps the group coordinator's state in the partitions of
// __consumer_offsets, as record batches like any other topic's.
type GroupStore struct {
	Replicas *replica.Manager
	// CommitTimeout bounds the wait for the ISR after an append
	// (offsets.commit.timeout.ms); zero means DefaultOffsetsCommitTimeout.
	CommitTimeout time.Duration
}

// DefaultOffsetsCommitTimeout is Kafka's offsets.commit.timeout.ms.
const DefaultOffsetsCommitTimeout = 5 * time.Second

var _ group.Store = (*GroupStore)(nil)

func (g *GroupStore) log() coordLog {
	return coordLog{replicas: g.Replicas, topic: OffsetsTopic, txnRecords: true}
}

// Append writes records as one batch and answers once the ISR has it, as
// Kafka's coordinator appends with acks=-1 (coordLog.append): an offset
// commit or group record acknowledged to a client survives a failover of
// the partition's leader.
func (g *GroupStore) Append(ctx context.Context, partition int32, recs []group.Record) error {
	timeout := g.CommitTimeout
	if timeout <= 0 {
		timeout = DefaultOffsetsCommitTimeout
	}
	return g.log().append(ctx, partition, recs, timeout)
}

// Replay reads every record of the partition from its log start, with
// transactional records and markers (txn_group_store.go).
func (g *GroupStore) Replay(partition int32, fn func(group.Record) error) error {
	return g.log().replay(partition, fn)
}

// coordLog is a coordinator's Store (group.Store, txn.Store: both use
// group.Record) over the local replicas of its internal topic.
type coordLog struct {
	replicas *replica.Manager
	topic    string
	// notHosted, if set, is wrapped into the error for a partition not
	// hosted here.
	notHosted error
	// txnRecords replays transactional batches with their producer id and
	// transaction markers as group.Records; otherwise control batches are
	// skipped undecoded and records carry only a key and value.
	txnRecords bool
}

func (c coordLog) partition(p int32) (*replica.Partition, error) {
	part := c.replicas.Get(c.topic, p)
	if part == nil {
		if c.notHosted != nil {
			return nil, fmt.Errorf("%s-%d is not hosted here: %w", c.topic, p, c.notHosted)
		}
		return nil, fmt.Errorf("%s-%d is not hosted here", c.topic, p)
	}
	return part, nil
}

// append writes recs as one non-transactional batch as an acks=-1 produce
// would: it waits until the batch is durable (flush.messages=1) and the
// ISR has it, for at most timeout. Errors are Kafka's: a broker that no
// longer leads the partition gets NOT_LEADER_OR_FOLLOWER (coordinators
// answer NOT_COORDINATOR), an ISR below min.insync.replicas
// NOT_ENOUGH_REPLICAS before appending or NOT_ENOUGH_REPLICAS_AFTER_APPEND
// after, and a wait that runs out REQUEST_TIMED_OUT (both
// COORDINATOR_NOT_AVAILABLE to clients). A single node returns once the
// batch is durable: its high watermark is its log end.
//
// The coordinators call it holding their locks. The wait ends when the
// followers fetch the batch, when the ISR shrinks or the leadership moves
// (both through the metadata image, which replica.Manager applies before
// the coordinators' Unload, cmd/quill), or at the timeout: nothing it
// waits for needs a coordinator's lock.
func (c coordLog) append(ctx context.Context, partition int32, recs []group.Record, timeout time.Duration) error {
	if len(recs) == 0 {
		return nil
	}
	part, err := c.partition(partition)
	if err != nil {
		return err
	}
	if err := canAppend(part); err != nil {
		return err
	}
	b, err := buildCoordBatch(record.BatchSpec{BaseTimestamp: time.Now().UnixMilli()}.NoProducer(), recs)
	if err != nil {
		return err
	}
	res, err := part.AppendProduce(b, true)
	if err != nil {
		return err
	}
	if err := part.AwaitDurable(res); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := part.WaitHighWatermark(ctx, res.BaseOffset+int64(len(recs)), part.Settings().MinInsyncReplicas); err != nil {
		return fmt.Errorf("%s-%d: %w", c.topic, partition, err)
	}
	return nil
}

// canAppend refuses a coordinator's acks=-1 append up front, as Kafka's
// leader does: NOT_LEADER_OR_FOLLOWER if this broker does not lead the
// partition, NOT_ENOUGH_REPLICAS if its ISR is below min.insync.replicas.
func canAppend(part *replica.Partition) error {
	if !part.IsLeader() {
		return fmt.Errorf("%s-%d: %w", part.Topic, part.ID, kerr.NotLeaderForPartition)
	}
	minISR := part.Settings().MinInsyncReplicas
	if isr := part.ISR(); len(isr) > 0 && len(isr) < minISR { // empty outside cluster mode
		return fmt.Errorf("%s-%d: ISR %v below min.insync.replicas %d: %w", part.Topic, part.ID, isr, minISR, kerr.NotEnoughReplicas)
	}
	return nil
}

// buildCoordBatch builds one batch of the records' keys and values.
func buildCoordBatch(spec record.BatchSpec, recs []group.Record) ([]byte, error) {
	rs := make([]record.Record, len(recs))
	for i, r := range recs {
		rs[i] = record.Record{Key: r.Key, Value: r.Value}
	}
	return record.Build(spec, rs)
}

// replay calls fn for every record of the partition from its log start.
func (c coordLog) replay(partition int32, fn func(group.Record) error) error {
	part, err := c.partition(partition)
	if err != nil {
		return err
	}
	l := part.Log()
	return l.ScanBatches(l.LogStartOffset(), func(h record.Header, batch []byte) error {
		if h.IsControl() && !c.txnRecords {
			return nil
		}
		recs, err := record.Records(batch)
		if err != nil {
			return fmt.Errorf("%s-%d offset %d: %w", c.topic, partition, h.BaseOffset, err)
		}
		if h.IsControl() {
			return replayMarker(h, recs, fn) // txn_group_store.go
		}
		for _, r := range recs {
			gr := group.Record{Key: r.Key, Value: r.Value}
			if c.txnRecords && h.IsTransactional() {
				gr.Transactional, gr.ProducerID = true, h.ProducerID
			}
			if err := fn(gr); err != nil {
				return err
			}
		}
		return nil
	})
}
