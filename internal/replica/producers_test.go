package replica

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/quillstream/quill/internal/record"
)

func hdr(epoch int16, seq int32, n int32) *record.Header {
	return &record.Header{ProducerID: 7, ProducerEpoch: epoch, BaseSequence: seq, LastOffsetDelta: n - 1, NumRecords: n}
}

func TestCheckSequence(t *testing.T) {
	e := &producerEntry{TxnFirstOffset: -1}
	e.record(hdr(0, 0, 5), 100) // seq 0-4 at offsets 100-104
	e.record(hdr(0, 5, 5), 105) // seq 5-9 at offsets 105-109

	for _, tc := range []struct {
		name    string
		h       *record.Header
		wantErr error
		dupOff  int64 // -1: not a duplicate
	}{
		{"next in order", hdr(0, 10, 3), nil, -1},
		{"retry of the last batch", hdr(0, 5, 5), nil, 105},
		{"retry of an earlier batch", hdr(0, 0, 5), nil, 100},
		{"gap", hdr(0, 12, 1), kerr.OutOfOrderSequenceNumber, -1},
		{"overlap that is no retry", hdr(0, 3, 5), kerr.OutOfOrderSequenceNumber, -1},
		{"older epoch", hdr(-1, 10, 1), kerr.InvalidProducerEpoch, -1},
		{"new epoch from zero", hdr(1, 0, 1), nil, -1},
		{"new epoch not from zero", hdr(1, 4, 1), kerr.OutOfOrderSequenceNumber, -1},
	} {
		dup, err := checkSequence(e, tc.h)
		if err != tc.wantErr {
			t.Errorf("%s: err %v, want %v", tc.name, err, tc.wantErr)
		}
		switch {
		case tc.dupOff < 0 && dup != nil:
			t.Errorf("%s: treated as a duplicate of %d", tc.name, dup.FirstOffset)
		case tc.dupOff >= 0 && (dup == nil || dup.FirstOffset != tc.dupOff):
			t.Errorf("%s: duplicate %v, want offset %d", tc.name, dup, tc.dupOff)
		}
	}
	if dup, err := checkSequence(nil, hdr(3, 77, 1)); dup != nil || err != nil {
		t.Fatal("a producer without state must be accepted (KIP-360)")
	}
}

func TestSequenceWrapsAtInt32Max(t *testing.T) {
	e := &producerEntry{TxnFirstOffset: -1}
	e.record(hdr(0, 1<<31-2, 2), 0) // seq max-1, max
	if _, err := checkSequence(e, hdr(0, 0, 1)); err != nil {
		t.Fatalf("sequence after int32 max must be 0: %v", err)
	}
}

func TestOnlyFiveBatchesRemembered(t *testing.T) {
	e := &producerEntry{TxnFirstOffset: -1}
	for i := int32(0); i < 7; i++ {
		e.record(hdr(0, i, 1), int64(i))
	}
	if len(e.Batches) != maxBatchesPerProducer || e.Batches[0].FirstSeq != 2 {
		t.Fatalf("kept %+v", e.Batches)
	}
}
