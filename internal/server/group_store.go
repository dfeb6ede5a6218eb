package server

import (
	"context"
	"fmt"
	"time"

	"github.com/quillstream/quill/internal/group"
	"github.com/quillstream/quill/internal/record"
	"github.com/quillstream/quill/internal/replica"
)

// GroupStore keeps the group coordinator's state in the partitions of
// __consumer_offsets, as record batches like any other topic's.
type GroupStore struct {
	Replicas *replica.Manager
}

var _ group.Store = (*GroupStore)(nil)

func (g *GroupStore) log() coordLog {
	return coordLog{replicas: g.Replicas, topic: OffsetsTopic, txnRecords: true}
}

// Append writes records as one batch.
func (g *GroupStore) Append(ctx context.Context, partition int32, recs []group.Record) error {
	return g.log().append(partition, recs)
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

// append writes recs as one non-transactional batch and waits until it is
// durable (flush.messages=1).
func (c coordLog) append(partition int32, recs []group.Record) error {
	if len(recs) == 0 {
		return nil
	}
	part, err := c.partition(partition)
	if err != nil {
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
	return part.AwaitDurable(res)
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
