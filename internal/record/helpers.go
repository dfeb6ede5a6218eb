package record

import (
	"encoding/binary"

	"github.com/twmb/franz-go/pkg/kerr"
)

// ErrTruncatedBatch reports bytes after the last complete batch that do
// not make up a whole batch. Fetch responses may legitimately end that way
// (AK cuts at the byte limit); a Produce request may not (INVALID_RECORD).
var ErrTruncatedBatch = &Error{Kafka: kerr.InvalidRecord, Reason: "trailing partial batch"}

// SplitBatches splits concatenated batches (a Produce or Fetch records
// field, a segment read) at their length fields. Each returned slice
// aliases b, with its capacity cut to its length so appending to one
// cannot overwrite the next. Nothing but lengths is checked: call Check on
// each batch.
//
// A length below the 61-byte header gives a CORRUPT_MESSAGE error. A
// trailing partial batch gives ErrTruncatedBatch together with the complete
// batches before it. An empty b gives no batches and no error.
func SplitBatches(b []byte) ([][]byte, error) {
	var out [][]byte
	for len(b) > 0 {
		if len(b) < LogOverhead {
			return out, ErrTruncatedBatch
		}
		size := BatchSize(b)
		if size < HeaderSize {
			return out, invalid(kerr.CorruptMessage, "batch length %d is below the header size", size-LogOverhead)
		}
		if size > len(b) {
			return out, ErrTruncatedBatch
		}
		out = append(out, b[:size:size])
		b = b[size:]
	}
	return out, nil
}

// HasKeys reports whether every record of the batch at b has a non-null
// key, as compacted topics require (AK answers INVALID_RECORD otherwise).
// An empty key counts as a key. The batch should have passed Check.
func HasKeys(b []byte) (bool, error) {
	all := true
	_, err := eachRecord(b, false, func(_ *Header, _ int, rec *Record) bool {
		all = rec.Key != nil
		return all
	})
	if err != nil {
		return false, err
	}
	return all, nil
}

// OffsetsSequential reports whether the records' offset deltas are exactly
// 0..n-1. If not, the broker must Rebuild the batch before appending it,
// as AK's LogValidator does, rather than reject it.
func OffsetsSequential(b []byte) (bool, error) {
	seq := true
	_, err := eachRecord(b, false, func(_ *Header, i int, rec *Record) bool {
		seq = rec.OffsetDelta == int32(i)
		return seq
	})
	if err != nil {
		return false, err
	}
	return seq, nil
}

// Rebuild re-encodes the batch at b with codec c, for a topic whose
// compression.type differs from the producer's or a batch whose offset
// deltas are not 0..n-1. It keeps baseOffset, partitionLeaderEpoch,
// attributes other than the codec, timestamps (maxTimestamp included),
// producer fields and each record's attributes, timestamp delta, key, value
// and headers; offset deltas become 0..n-1 and lastOffsetDelta n-1. The
// result is a new slice; the caller should re-check its size against
// max.message.bytes, as AK does.
func Rebuild(b []byte, c Codec) ([]byte, error) {
	if c < CodecNone || c > CodecZstd {
		return nil, invalid(kerr.UnsupportedCompressionType, "unknown codec %d", c)
	}
	h, body, err := batchBody(b)
	if err != nil {
		return nil, err
	}
	if h.NumRecords == 0 {
		return nil, invalid(kerr.InvalidRecord, "cannot rebuild an empty batch")
	}
	// Decode everything once before encoding, so enc cannot meet an error.
	var rec Record
	rest := body
	for i := 0; i < int(h.NumRecords); i++ {
		n, err := decodeRecord(rest, &rec, nil)
		if err != nil {
			return nil, err
		}
		rest = rest[n:]
	}
	if len(rest) != 0 {
		return nil, ErrMalformedRecords
	}
	// Only the offset delta changes: everything after it is copied as is.
	enc := func(dst []byte) []byte {
		rest := body
		for i := 0; i < int(h.NumRecords); i++ {
			length, n := binary.Varint(rest)
			r := rest[n : n+int(length)]
			rest = rest[n+int(length):]
			_, tn := binary.Varint(r[1:])
			_, on := binary.Varint(r[1+tn:])
			tail := r[1+tn+on:]
			dst = appendVarint(dst, int64(1+tn+varintLen(int64(i))+len(tail)))
			dst = append(dst, r[:1+tn]...)
			dst = appendVarint(dst, int64(i))
			dst = append(dst, tail...)
		}
		return dst
	}
	// A new offset delta and length take at most 5 more bytes each.
	size := len(body) + 10*int(h.NumRecords)
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
	return build(spec, h.MaxTimestamp, int(h.NumRecords), enc, size)
}

// FirstOffsetAtOrAfter finds the first record of the batch at b whose
// timestamp is at least ts, for ListOffsets by timestamp. A record's offset
// is baseOffset+offsetDelta; its timestamp is baseTimestamp+timestampDelta,
// or the batch's maxTimestamp for every record of a LogAppendTime batch.
// Like AK's FileRecords.searchForTimestamp, it skips the batch without
// decoding when maxTimestamp < ts. ok is false when no record qualifies.
func FirstOffsetAtOrAfter(b []byte, ts int64) (offset, timestamp int64, ok bool, err error) {
	h, err := ParseHeader(b)
	if err != nil {
		return 0, 0, false, err
	}
	if h.MaxTimestamp < ts {
		return 0, 0, false, nil
	}
	_, err = eachRecord(b, false, func(h *Header, _ int, rec *Record) bool {
		t := h.BaseTimestamp + rec.TimestampDelta
		if h.IsLogAppendTime() {
			t = h.MaxTimestamp
		}
		if t >= ts {
			offset, timestamp, ok = h.BaseOffset+int64(rec.OffsetDelta), t, true
			return false
		}
		return true
	})
	if err != nil {
		return 0, 0, false, err
	}
	return offset, timestamp, ok, nil
}
