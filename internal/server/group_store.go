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

func (g *GroupStore) partition(p int32) (*replica.Partition, error) {
	part := g.Replicas.Get(OffsetsTopic, p)
	if part == nil {
		return nil, fmt.Errorf("%s-%d is not hosted here", OffsetsTopic, p)
	}
	return part, nil
}

// Append writes records as one batch.
func (g *GroupStore) Append(ctx context.Context, partition int32, recs []group.Record) error {
	if len(recs) == 0 {
		return nil
	}
	part, err := g.partition(partition)
	if err != nil {
		return err
	}
	rs := make([]record.Record, len(recs))
	for i, r := range recs {
		rs[i] = record.Record{Key: r.Key, Value: r.Value}
	}
	b, err := record.Build(record.BatchSpec{BaseTimestamp: time.Now().UnixMilli()}.NoProducer(), rs)
	if err != nil {
		return err
	}
	_, err = part.AppendProduce(b, true)
	return err
}

// Replay reads every record of the partition from its log start.
func (g *GroupStore) Replay(partition int32, fn func(group.Record) error) error {
	part, err := g.partition(partition)
	if err != nil {
		return err
	}
	l := part.Log()
	return l.ScanBatches(l.LogStartOffset(), func(h record.Header, batch []byte) error {
		if h.IsControl() {
			return nil
		}
		recs, err := record.Records(batch)
		if err != nil {
			return fmt.Errorf("%s-%d offset %d: %w", OffsetsTopic, partition, h.BaseOffset, err)
		}
		for _, r := range recs {
			if err := fn(group.Record{Key: r.Key, Value: r.Value}); err != nil {
				return err
			}
		}
		return nil
	})
}
