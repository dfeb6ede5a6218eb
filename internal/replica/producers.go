package replica

import (
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/quillstream/quill/internal/record"
)

// maxBatchesPerProducer is how many recent batches per producer are kept
// to answer retries (Kafka's value: a producer has at most 5 in flight).
const maxBatchesPerProducer = 5

// batchMeta is what a retried batch needs back: its original offsets.
type batchMeta struct {
	FirstSeq    int32 `json:"fs"`
	LastSeq     int32 `json:"ls"`
	FirstOffset int64 `json:"fo"`
	LastOffset  int64 `json:"lo"`
	Timestamp   int64 `json:"ts"`
}

// producerEntry is the idempotence state of one producer id in one
// partition.
type producerEntry struct {
	Epoch   int16       `json:"e"`
	Batches []batchMeta `json:"b"` // oldest first, at most maxBatchesPerProducer
	// LastTimestamp is the max timestamp of the producer's last batch, for
	// expiry (producer.id.expiration.ms).
	LastTimestamp int64 `json:"t"`
	// TxnFirstOffset is the first offset of the producer's open
	// transaction in this partition, or -1.
	TxnFirstOffset int64 `json:"tf"`
	// CoordinatorEpoch is the transaction coordinator epoch of the last
	// marker, to fence markers from an older coordinator.
	CoordinatorEpoch int32 `json:"ce,omitempty"`
}

func (e *producerEntry) lastSeq() int32 {
	if len(e.Batches) == 0 {
		return -1
	}
	return e.Batches[len(e.Batches)-1].LastSeq
}

// nextSeq is the sequence after s, wrapping at int32 max as Kafka does.
func nextSeq(s int32) int32 {
	if s == 1<<31-1 {
		return 0
	}
	return s + 1
}

// checkSequence applies Kafka's idempotence rules to a batch from an
// idempotent or transactional producer. It returns the original batch if
// h is a retry of one already appended.
func checkSequence(e *producerEntry, h *record.Header) (*batchMeta, error) {
	if e == nil {
		// No state (new producer, or expired): any sequence is accepted
		// (KIP-360).
		return nil, nil
	}
	switch {
	case h.ProducerEpoch < e.Epoch:
		return nil, kerr.InvalidProducerEpoch
	case h.ProducerEpoch > e.Epoch:
		if h.BaseSequence != 0 {
			return nil, kerr.OutOfOrderSequenceNumber
		}
		return nil, nil
	}
	first, last := h.BaseSequence, h.LastSequence()
	for i := range e.Batches {
		if b := &e.Batches[i]; b.FirstSeq == first && b.LastSeq == last {
			return b, nil
		}
	}
	if len(e.Batches) == 0 {
		return nil, nil
	}
	if first != nextSeq(e.lastSeq()) {
		return nil, kerr.OutOfOrderSequenceNumber
	}
	return nil, nil
}

// record notes an appended batch in the producer's state.
func (e *producerEntry) record(h *record.Header, firstOffset int64) {
	if h.ProducerEpoch != e.Epoch {
		e.Epoch = h.ProducerEpoch
		e.Batches = e.Batches[:0]
	}
	if h.BaseSequence >= 0 {
		if len(e.Batches) == maxBatchesPerProducer {
			copy(e.Batches, e.Batches[1:])
			e.Batches = e.Batches[:maxBatchesPerProducer-1]
		}
		e.Batches = append(e.Batches, batchMeta{
			FirstSeq: h.BaseSequence, LastSeq: h.LastSequence(),
			FirstOffset: firstOffset, LastOffset: firstOffset + int64(h.LastOffsetDelta),
			Timestamp: h.MaxTimestamp,
		})
	}
	e.LastTimestamp = h.MaxTimestamp
}
