// Package record owns Kafka's record batch format (magic v2): the 61-byte
// batch header, CRC-32C, validation of produced batches, the records inside a
// batch, compression codecs and control records.
//
// Byte layout of a batch (all integers big-endian):
//
//	 0 baseOffset            int64
//	 8 length                int32   (bytes after this field: total - 12)
//	12 partitionLeaderEpoch  int32
//	16 magic                 int8    (= 2)
//	17 crc                   uint32  (CRC-32C of bytes 21..end)
//	21 attributes            int16
//	23 lastOffsetDelta       int32
//	27 baseTimestamp         int64
//	35 maxTimestamp          int64
//	43 producerId            int64
//	51 producerEpoch         int16
//	53 baseSequence          int32
//	57 recordCount           int32
//	61 records...
//
// Because the CRC starts at byte 21, a broker may stamp baseOffset and
// partitionLeaderEpoch without recomputing it. The hot produce path relies on
// that: it parses the header, checks the CRC once and never looks inside.
//
// Which function for which path:
//
//   - Produce: SplitBatches (v3+ allows exactly one batch), ValidateProduced
//     (no allocation, about CRC speed), then, only when the topic needs it,
//     HasKeys (compacted topics), OffsetsSequential and Rebuild (inner
//     offsets not 0..n-1, or compression.type differs from the producer's),
//     and SetBaseOffset / SetPartitionLeaderEpoch / SetLogAppendTime.
//   - Storage and replication: SplitBatches and Check on every batch read.
//   - ListOffsets by timestamp: FirstOffsetAtOrAfter.
//   - Tests and internal topics: Build, BuildControl, Records.
//
// Untrusted input: every decoder here is fuzzed (fuzz_test.go). Decoding a
// batch never allocates more than its real content: sizes declared by the
// input (record counts, snappy and zstd lengths) are checked against what
// the input could hold before anything is allocated, and no batch inflates
// past 256 MiB.
package record

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"

	"github.com/twmb/franz-go/pkg/kerr"
)

// HeaderSize is the size of the fixed batch header.
const HeaderSize = 61

// Magic is the only batch format Quill stores and serves.
const Magic = 2

// Offsets of header fields.
const (
	offBaseOffset      = 0
	offLength          = 8
	offLeaderEpoch     = 12
	offMagic           = 16
	offCRC             = 17
	offAttributes      = 21
	offLastOffsetDelta = 23
	offBaseTimestamp   = 27
	offMaxTimestamp    = 35
	offProducerID      = 43
	offProducerEpoch   = 51
	offBaseSequence    = 53
	offRecordCount     = 57

	// LogOverhead is the size of baseOffset and length, the fields the
	// length does not count: total size = length + LogOverhead.
	LogOverhead = 12
)

// Codec is a compression codec from attribute bits 0-2.
type Codec int8

// Codecs.
const (
	CodecNone   Codec = 0
	CodecGzip   Codec = 1
	CodecSnappy Codec = 2
	CodecLz4    Codec = 3
	CodecZstd   Codec = 4
)

func (c Codec) String() string {
	switch c {
	case CodecNone:
		return "none"
	case CodecGzip:
		return "gzip"
	case CodecSnappy:
		return "snappy"
	case CodecLz4:
		return "lz4"
	case CodecZstd:
		return "zstd"
	}
	return fmt.Sprintf("codec(%d)", int8(c))
}

// Attribute bits.
const (
	AttrCodecMask     int16 = 0x07
	AttrLogAppendTime int16 = 1 << 3
	AttrTransactional int16 = 1 << 4
	AttrControl       int16 = 1 << 5
	AttrDeleteHorizon int16 = 1 << 6
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Header is the decoded fixed-size header of a v2 batch.
type Header struct {
	BaseOffset           int64
	Length               int32
	PartitionLeaderEpoch int32
	Magic                int8
	CRC                  uint32
	Attributes           int16
	LastOffsetDelta      int32
	BaseTimestamp        int64
	MaxTimestamp         int64
	ProducerID           int64
	ProducerEpoch        int16
	BaseSequence         int32
	NumRecords           int32
}

// ErrShortHeader is returned when fewer than HeaderSize bytes are given.
var ErrShortHeader = errors.New("record: batch shorter than its 61-byte header")

// ParseHeader decodes the header at the start of b. It checks nothing but
// the length of b.
func ParseHeader(b []byte) (Header, error) {
	if len(b) < HeaderSize {
		return Header{}, ErrShortHeader
	}
	be := binary.BigEndian
	return Header{
		BaseOffset:           int64(be.Uint64(b[offBaseOffset:])),
		Length:               int32(be.Uint32(b[offLength:])),
		PartitionLeaderEpoch: int32(be.Uint32(b[offLeaderEpoch:])),
		Magic:                int8(b[offMagic]),
		CRC:                  be.Uint32(b[offCRC:]),
		Attributes:           int16(be.Uint16(b[offAttributes:])),
		LastOffsetDelta:      int32(be.Uint32(b[offLastOffsetDelta:])),
		BaseTimestamp:        int64(be.Uint64(b[offBaseTimestamp:])),
		MaxTimestamp:         int64(be.Uint64(b[offMaxTimestamp:])),
		ProducerID:           int64(be.Uint64(b[offProducerID:])),
		ProducerEpoch:        int16(be.Uint16(b[offProducerEpoch:])),
		BaseSequence:         int32(be.Uint32(b[offBaseSequence:])),
		NumRecords:           int32(be.Uint32(b[offRecordCount:])),
	}, nil
}

// Size is the total size of the batch in bytes.
func (h *Header) Size() int { return int(h.Length) + LogOverhead }

// LastOffset is the offset of the last record of the batch.
func (h *Header) LastOffset() int64 { return h.BaseOffset + int64(h.LastOffsetDelta) }

// NextOffset is the offset after the batch.
func (h *Header) NextOffset() int64 { return h.LastOffset() + 1 }

// Codec is the batch's compression codec.
func (h *Header) Codec() Codec { return Codec(h.Attributes & AttrCodecMask) }

// IsTransactional reports the transactional attribute bit.
func (h *Header) IsTransactional() bool { return h.Attributes&AttrTransactional != 0 }

// IsControl reports the control attribute bit.
func (h *Header) IsControl() bool { return h.Attributes&AttrControl != 0 }

// IsLogAppendTime reports whether the batch's timestamps are the broker's.
func (h *Header) IsLogAppendTime() bool { return h.Attributes&AttrLogAppendTime != 0 }

// HasProducerID reports whether the batch came from an idempotent or
// transactional producer.
func (h *Header) HasProducerID() bool { return h.ProducerID >= 0 }

// LastSequence is the sequence number of the last record, wrapping at
// int32 max as Kafka does.
func (h *Header) LastSequence() int32 {
	if h.BaseSequence < 0 {
		return -1
	}
	s := int64(h.BaseSequence) + int64(h.LastOffsetDelta)
	if s > 1<<31-1 {
		s -= 1 << 31
	}
	return int32(s)
}

// BatchSize reads the total size of the batch starting at b from its length
// field; b needs at least 12 bytes. It returns -1 if b is too short.
func BatchSize(b []byte) int {
	if len(b) < LogOverhead {
		return -1
	}
	return int(int32(binary.BigEndian.Uint32(b[offLength:]))) + LogOverhead
}

// SetBaseOffset stamps the base offset of the batch at b.
func SetBaseOffset(b []byte, off int64) { binary.BigEndian.PutUint64(b[offBaseOffset:], uint64(off)) }

// SetPartitionLeaderEpoch stamps the leader epoch of the batch at b.
func SetPartitionLeaderEpoch(b []byte, epoch int32) {
	binary.BigEndian.PutUint32(b[offLeaderEpoch:], uint32(epoch))
}

// SetLogAppendTime rewrites the max timestamp and sets the LogAppendTime
// attribute, then recomputes the CRC. Used when a topic is configured with
// message.timestamp.type=LogAppendTime.
func SetLogAppendTime(b []byte, ts int64) {
	attrs := int16(binary.BigEndian.Uint16(b[offAttributes:])) | AttrLogAppendTime
	binary.BigEndian.PutUint16(b[offAttributes:], uint16(attrs))
	binary.BigEndian.PutUint64(b[offMaxTimestamp:], uint64(ts))
	binary.BigEndian.PutUint32(b[offCRC:], ComputeCRC(b))
}

// ComputeCRC computes the CRC-32C of the batch at b (bytes 21..end).
func ComputeCRC(b []byte) uint32 { return crc32.Checksum(b[offAttributes:], castagnoli) }

// Validation errors carry Kafka error codes (kerr) so the server can answer
// with them directly.
var (
	ErrCorrupt = fmt.Errorf("%w", kerr.CorruptMessage)
)

// Error is a validation failure with the Kafka error it maps to.
type Error struct {
	Kafka  *kerr.Error
	Reason string
}

func (e *Error) Error() string { return e.Kafka.Message + ": " + e.Reason }
func (e *Error) Unwrap() error { return e.Kafka }

func invalid(k *kerr.Error, format string, args ...any) error {
	return &Error{Kafka: k, Reason: fmt.Sprintf(format, args...)}
}

// Check validates one complete batch as stored or read from disk (b must
// be exactly the batch: use SplitBatches first): size, magic, CRC and
// offset-delta consistency. It does not look at records. Errors are *Error:
// CORRUPT_MESSAGE for a short batch, a length mismatch or a CRC mismatch,
// UNSUPPORTED_FOR_MESSAGE_FORMAT for magic 0/1 and INVALID_RECORD for
// inconsistent counts. A count below lastOffsetDelta+1 (0 included) is
// accepted: compaction removes records but keeps each survivor's offset and
// the batch's lastOffsetDelta (and keeps an emptied batch for its producer
// state), as Kafka's stored batches do. Produce requests go through
// ValidateProduced instead, which insists on count = lastOffsetDelta+1.
func Check(b []byte) (Header, error) {
	h, err := ParseHeader(b)
	if err != nil {
		return h, invalid(kerr.CorruptMessage, "%v", err)
	}
	if h.Magic != Magic {
		return h, invalid(kerr.UnsupportedForMessageFormat, "magic %d (only v2 batches are supported)", h.Magic)
	}
	if h.Length < HeaderSize-LogOverhead || h.Size() != len(b) {
		return h, invalid(kerr.CorruptMessage, "batch length %d does not match %d bytes", h.Length, len(b))
	}
	if c := ComputeCRC(b); c != h.CRC {
		return h, invalid(kerr.CorruptMessage, "crc mismatch: stored %08x, computed %08x", h.CRC, c)
	}
	if h.LastOffsetDelta < 0 || h.NumRecords < 0 || int64(h.NumRecords) > int64(h.LastOffsetDelta)+1 {
		return h, invalid(kerr.InvalidRecord, "record count %d does not match last offset delta %d", h.NumRecords, h.LastOffsetDelta)
	}
	return h, nil
}

// ProduceLimits are the broker and topic limits a produced batch is checked
// against.
type ProduceLimits struct {
	MaxMessageBytes int  // max.message.bytes
	SegmentBytes    int  // segment.bytes
	AllowZstd       bool // Produce v7+
	// RequireKeys is not checked by ValidateProduced, which never looks at
	// records: a broker for a compacted topic calls HasKeys itself.
	RequireKeys bool
}

// ValidateProduced checks the records field of one partition in a Produce
// request (v3+), which must be exactly one magic-2 batch. It never decodes
// records, allocates nothing and costs about one CRC pass. The checks and
// their errors follow Kafka's order (KafkaApis, then UnifiedLog.append,
// then LogValidator):
//
//   - fewer bytes than one batch, a truncated batch, bytes after the batch
//     (a second batch), or magic other than 2: INVALID_RECORD. AK's
//     ProduceRequest.validateRecords throws InvalidRecordException for any
//     magic-0/1 data on Produce v3+; UNSUPPORTED_FOR_MESSAGE_FORMAT is only
//     for down-conversion, which Quill does not do.
//   - zstd before Produce v7, or a codec id above 4: UNSUPPORTED_COMPRESSION_TYPE.
//   - a batch over max.message.bytes: MESSAGE_TOO_LARGE.
//   - a length below the 61-byte header or a CRC mismatch: CORRUPT_MESSAGE.
//   - lastOffsetDelta+1 != recordCount or recordCount <= 0, a control batch,
//     a producer id with a negative sequence, or a transactional batch
//     without a producer id: INVALID_RECORD.
//   - a batch over segment.bytes: RECORD_LIST_TOO_LARGE.
//
// baseOffset is not checked (AK overwrites it; kfake insists on 0).
func ValidateProduced(b []byte, lim ProduceLimits) (Header, error) {
	if len(b) <= offMagic {
		return Header{}, invalid(kerr.InvalidRecord, "records field of %d bytes holds no batch", len(b))
	}
	if m := int8(b[offMagic]); m != Magic {
		h, _ := ParseHeader(b)
		return h, invalid(kerr.InvalidRecord, "magic %d: Produce v3+ carries only magic-2 batches", m)
	}
	if len(b) < HeaderSize {
		return Header{}, invalid(kerr.InvalidRecord, "records field of %d bytes holds no complete batch", len(b))
	}
	h, _ := ParseHeader(b)
	if h.Length < HeaderSize-LogOverhead {
		return h, invalid(kerr.CorruptMessage, "batch length %d is below the header size", h.Length)
	}
	if size := h.Size(); size > len(b) {
		return h, invalid(kerr.InvalidRecord, "batch of %d bytes truncated to %d", size, len(b))
	} else if size < len(b) {
		return h, invalid(kerr.InvalidRecord, "%d bytes after the batch: Produce v3+ carries exactly one batch per partition", len(b)-size)
	}
	switch c := h.Codec(); c {
	case CodecNone, CodecGzip, CodecSnappy, CodecLz4:
	case CodecZstd:
		if !lim.AllowZstd {
			return h, invalid(kerr.UnsupportedCompressionType, "zstd needs Produce v7 or later")
		}
	default:
		return h, invalid(kerr.UnsupportedCompressionType, "unknown codec %d", c)
	}
	if lim.MaxMessageBytes > 0 && len(b) > lim.MaxMessageBytes {
		return h, invalid(kerr.MessageTooLarge, "batch of %d bytes exceeds max.message.bytes %d", len(b), lim.MaxMessageBytes)
	}
	if c := ComputeCRC(b); c != h.CRC {
		return h, invalid(kerr.CorruptMessage, "crc mismatch: stored %08x, computed %08x", h.CRC, c)
	}
	if h.LastOffsetDelta < 0 || h.NumRecords <= 0 || int64(h.LastOffsetDelta)+1 != int64(h.NumRecords) {
		return h, invalid(kerr.InvalidRecord, "record count %d does not match last offset delta %d", h.NumRecords, h.LastOffsetDelta)
	}
	if h.IsControl() {
		return h, invalid(kerr.InvalidRecord, "clients may not write control batches")
	}
	if h.ProducerID >= 0 && h.BaseSequence < 0 {
		return h, invalid(kerr.InvalidRecord, "producer id %d with negative sequence %d", h.ProducerID, h.BaseSequence)
	}
	if h.IsTransactional() && h.ProducerID < 0 {
		return h, invalid(kerr.InvalidRecord, "transactional batch without a producer id")
	}
	if lim.SegmentBytes > 0 && len(b) > lim.SegmentBytes {
		return h, invalid(kerr.RecordListTooLarge, "batch of %d bytes exceeds segment.bytes %d", len(b), lim.SegmentBytes)
	}
	return h, nil
}
