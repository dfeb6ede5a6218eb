package record

import (
	"errors"
	"fmt"
)

// BuildSparse encodes recs into a batch that keeps the header fields of h:
// baseOffset, partitionLeaderEpoch, attributes (the codec comes from them),
// lastOffsetDelta, baseTimestamp, maxTimestamp and the producer fields. Each
// record keeps its own OffsetDelta, so a record's absolute offset does not
// change: this is how the log cleaner rewrites a batch with only the records
// that survive compaction (Kafka's MemoryRecords.filterTo keeps offsets and
// lastOffsetDelta too, so producer state read back from the log is the
// same). recs may be empty: the batch then only carries its producer state.
//
// Offset deltas must increase strictly and not exceed h.LastOffsetDelta.
// recs is not modified; TimestampDelta is taken as given (relative to
// h.BaseTimestamp).
func BuildSparse(h Header, recs []Record) ([]byte, error) {
	if h.LastOffsetDelta < 0 {
		return nil, fmt.Errorf("record: negative lastOffsetDelta %d", h.LastOffsetDelta)
	}
	prev := int64(-1)
	size := 0
	for i := range recs {
		d := int64(recs[i].OffsetDelta)
		if d <= prev || d > int64(h.LastOffsetDelta) {
			return nil, fmt.Errorf("record: offset delta %d after %d (last %d): deltas must increase within the batch", d, prev, h.LastOffsetDelta)
		}
		prev = d
		l := recordBodyLen(&recs[i])
		size += varintLen(int64(l)) + l
	}
	c := h.Codec()
	if c < CodecNone || c > CodecZstd {
		return nil, errors.New("record: unknown codec in attributes")
	}
	spec := BatchSpec{
		BaseOffset:           h.BaseOffset,
		PartitionLeaderEpoch: h.PartitionLeaderEpoch,
		Attributes:           h.Attributes &^ AttrCodecMask,
		Codec:                c,
		BaseTimestamp:        h.BaseTimestamp,
		ProducerID:           h.ProducerID,
		ProducerEpoch:        h.ProducerEpoch,
		BaseSequence:         h.BaseSequence,
	}
	if len(recs) == 0 {
		// An emptied batch is never compressed: there is nothing to
		// compress, and an empty compressed stream is codec-specific.
		spec.Codec = CodecNone
	}
	b, err := build(spec, h.MaxTimestamp, len(recs), func(dst []byte) []byte {
		for i := range recs {
			dst = appendRecord(dst, &recs[i])
		}
		return dst
	}, size)
	if err != nil {
		return nil, err
	}
	setLastOffsetDelta(b, h.LastOffsetDelta)
	return b, nil
}

// setLastOffsetDelta overwrites lastOffsetDelta (covered by the CRC, which
// is recomputed).
func setLastOffsetDelta(b []byte, d int32) {
	b[offLastOffsetDelta] = byte(uint32(d) >> 24)
	b[offLastOffsetDelta+1] = byte(uint32(d) >> 16)
	b[offLastOffsetDelta+2] = byte(uint32(d) >> 8)
	b[offLastOffsetDelta+3] = byte(uint32(d))
	crc := ComputeCRC(b)
	b[offCRC] = byte(crc >> 24)
	b[offCRC+1] = byte(crc >> 16)
	b[offCRC+2] = byte(crc >> 8)
	b[offCRC+3] = byte(crc)
}

// DeleteHorizon returns the delete horizon of a batch (KIP-534): when
// attribute bit 6 is set, baseTimestamp holds the time (ms) after which the
// cleaner may remove the batch's tombstones and, for a control batch, the
// marker itself.
func (h *Header) DeleteHorizon() (int64, bool) {
	if h.Attributes&AttrDeleteHorizon == 0 {
		return 0, false
	}
	return h.BaseTimestamp, true
}
