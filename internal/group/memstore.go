package group

import (
	"bytes"
	"context"
	"sync"
)

// MemStore is an in-memory Store: a list of records per partition, never
// compacted. It serves tests and fault injection; any Store must pass the
// same coordinator tests.
type MemStore struct {
	mu        sync.Mutex
	parts     map[int32][]Record
	appendErr error
}

// NewMemStore returns an empty MemStore.
func NewMemStore() *MemStore { return &MemStore{parts: make(map[int32][]Record)} }

// Append implements Store. It copies the records.
func (s *MemStore) Append(ctx context.Context, partition int32, records []Record) error {
	return s.add(ctx, partition, records, false, 0)
}

// add copies records to a partition, as transactional records of pid if
// txn is set.
func (s *MemStore) add(ctx context.Context, partition int32, records []Record, txn bool, pid int64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.appendErr != nil {
		return s.appendErr
	}
	for _, r := range records {
		c := Record{Key: bytes.Clone(r.Key), Transactional: txn, ProducerID: pid}
		if r.Value != nil {
			c.Value = bytes.Clone(r.Value)
		}
		s.parts[partition] = append(s.parts[partition], c)
	}
	return nil
}

// Replay implements Store.
func (s *MemStore) Replay(partition int32, fn func(Record) error) error {
	s.mu.Lock()
	recs := s.parts[partition]
	s.mu.Unlock()
	for _, r := range recs {
		if err := fn(r); err != nil {
			return err
		}
	}
	return nil
}

// SetAppendError makes every later Append fail with err (nil heals).
func (s *MemStore) SetAppendError(err error) {
	s.mu.Lock()
	s.appendErr = err
	s.mu.Unlock()
}

// Records returns a partition's records; the caller must not modify them.
func (s *MemStore) Records(partition int32) []Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Record(nil), s.parts[partition]...)
}

// AppendTxn implements TxnStore: the records are kept as a transactional
// batch of pid. Epochs are not checked.
func (s *MemStore) AppendTxn(ctx context.Context, partition int32, pid int64, epoch int16, records []Record) error {
	return s.add(ctx, partition, records, true, pid)
}

// AppendMarker records a transaction marker of pid, as the transaction
// coordinator's marker writer would; the caller then calls
// Coordinator.CompleteTxn.
func (s *MemStore) AppendMarker(partition int32, pid int64, commit bool) {
	m := MarkerAbort
	if commit {
		m = MarkerCommit
	}
	s.mu.Lock()
	s.parts[partition] = append(s.parts[partition], Record{ProducerID: pid, Marker: m})
	s.mu.Unlock()
}
