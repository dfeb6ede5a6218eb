package record

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/bits"
)

// Record is one record inside a batch. Key and Value are nil when null.
// Slices alias the decoded (possibly decompressed) batch body.
//
// Record layout (varints are zig-zag signed, as in protobuf sint, unlike
// the unsigned varints of flexible protocol versions):
//
//	length          varint  (bytes after this field)
//	attributes      int8    (unused, 0)
//	timestampDelta  varlong (from the batch's baseTimestamp)
//	offsetDelta     varint  (from the batch's baseOffset)
//	keyLength       varint  (-1 = null key)
//	key             bytes
//	valueLength     varint  (-1 = null value, a tombstone)
//	value           bytes
//	headerCount     varint
//	headers         (keyLength varint >= 0, key, valueLength varint (-1 = null), value)*
type Record struct {
	Attributes     int8
	TimestampDelta int64
	OffsetDelta    int32
	Key            []byte
	Value          []byte
	Headers        []Header2
}

// Header2 is a record header (named so to keep Header for the batch header).
// Key is never null; Value is nil when null.
type Header2 struct {
	Key   string
	Value []byte
}

// ErrMalformedRecords is returned when the records section cannot be decoded.
var ErrMalformedRecords = errors.New("record: malformed records section")

// minRecordSize is the smallest encoded record: a one-byte varint for each
// of length, timestampDelta, offsetDelta, key, value and header count, plus
// the attributes byte. It bounds the record count a body can hold, and so
// what decoding may allocate.
const minRecordSize = 7

// batchBody returns the header and the decompressed records section of the
// batch at the start of b. Bytes after the batch are ignored.
func batchBody(b []byte) (Header, []byte, error) {
	h, err := ParseHeader(b)
	if err != nil {
		return h, nil, err
	}
	if h.Length < HeaderSize-LogOverhead || h.Size() > len(b) {
		return h, nil, fmt.Errorf("%w: batch length %d for %d bytes", ErrMalformedRecords, h.Length, len(b))
	}
	body := b[HeaderSize:h.Size()]
	if c := h.Codec(); c != CodecNone {
		body, err = Decompress(c, body)
		if err != nil {
			return h, nil, fmt.Errorf("record: decompress %s: %w", c, err)
		}
	}
	if h.NumRecords < 0 || int64(h.NumRecords) > int64(len(body)/minRecordSize) {
		return h, nil, fmt.Errorf("%w: count %d for %d bytes", ErrMalformedRecords, h.NumRecords, len(body))
	}
	return h, body, nil
}

// eachRecord decodes the records of the batch at b in order and calls fn
// for each until it returns false. With headers false, record headers are
// checked but not kept, so decoding allocates nothing for uncompressed
// batches. rec is reused between calls.
func eachRecord(b []byte, headers bool, fn func(h *Header, i int, rec *Record) bool) (Header, error) {
	h, body, err := batchBody(b)
	if err != nil {
		return h, err
	}
	var rec Record
	var arena *[]Header2
	if headers {
		arena = new([]Header2)
	}
	for i := 0; i < int(h.NumRecords); i++ {
		n, err := decodeRecord(body, &rec, arena)
		if err != nil {
			return h, fmt.Errorf("record %d: %w", i, err)
		}
		body = body[n:]
		if !fn(&h, i, &rec) {
			return h, nil
		}
	}
	if len(body) != 0 {
		return h, fmt.Errorf("%w: %d trailing bytes", ErrMalformedRecords, len(body))
	}
	return h, nil
}

// Records decodes the records of the batch at the start of b (a whole
// batch, header included), decompressing if needed. Bytes after the batch
// are ignored. The CRC is not checked: call Check first for untrusted data.
// Returned slices alias b (uncompressed) or a fresh decompressed buffer.
func Records(b []byte) ([]Record, error) {
	var out []Record
	_, err := eachRecord(b, true, func(h *Header, i int, rec *Record) bool {
		if out == nil {
			out = make([]Record, 0, h.NumRecords)
		}
		out = append(out, *rec)
		return true
	})
	if err != nil {
		return nil, err
	}
	if out == nil {
		out = []Record{}
	}
	return out, nil
}

type reader struct {
	b   []byte
	err bool
}

// varint reads a zig-zag varint of at most maxLen bytes (Kafka reads at
// most 5 bytes for int32 fields and 10 for int64).
func (r *reader) varint(maxLen int) int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 || n > maxLen {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) fail() { r.err, r.b = true, nil }

func (r *reader) bytesN(n int64) []byte {
	if r.err || n < 0 || n > int64(len(r.b)) {
		r.fail()
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}

// nullable reads a varint length and that many bytes. Like Kafka's
// DefaultRecord, any negative length means null.
func (r *reader) nullable() []byte {
	n := r.varint(binary.MaxVarintLen32)
	if n < 0 || r.err {
		return nil
	}
	return r.bytesN(n)
}

// decodeRecord decodes the record at the start of b into rec and returns
// its encoded size. Headers are appended to *arena and rec.Headers is cut
// from it with capacity = length, so one allocation serves many records and
// appending to one record's headers cannot overwrite the next's. With a nil
// arena headers are checked but rec.Headers is left nil.
func decodeRecord(b []byte, rec *Record, arena *[]Header2) (int, error) {
	length, n := binary.Varint(b)
	if n <= 0 || n > binary.MaxVarintLen32 || length < 1 || length > int64(len(b)-n) {
		return 0, ErrMalformedRecords
	}
	r := reader{b: b[n : n+int(length)]}
	rec.Attributes = int8(r.b[0])
	r.b = r.b[1:]
	rec.TimestampDelta = r.varint(binary.MaxVarintLen64)
	od := r.varint(binary.MaxVarintLen32)
	if od < 0 || od > math.MaxInt32 {
		r.fail()
	}
	rec.OffsetDelta = int32(od)
	rec.Key = r.nullable()
	rec.Value = r.nullable()
	nh := r.varint(binary.MaxVarintLen32)
	// A header takes at least two bytes (key length, value length).
	if nh < 0 || nh > int64(len(r.b)/2) {
		r.fail()
	}
	rec.Headers = nil
	var start int
	if arena != nil {
		start = len(*arena)
	}
	for i := int64(0); i < nh && !r.err; i++ {
		kn := r.varint(binary.MaxVarintLen32)
		k := r.bytesN(kn) // a negative key length is an error, as in Kafka
		v := r.nullable()
		if arena != nil && !r.err {
			*arena = append(*arena, Header2{Key: string(k), Value: v})
		}
	}
	if r.err || len(r.b) != 0 {
		if arena != nil {
			*arena = (*arena)[:start]
		}
		return 0, ErrMalformedRecords
	}
	if arena != nil && nh > 0 {
		end := len(*arena)
		rec.Headers = (*arena)[start:end:end]
	}
	return n + int(length), nil
}

func appendVarint(b []byte, v int64) []byte { return binary.AppendVarint(b, v) }

// varintLen is the encoded size of v as a zig-zag varint.
func varintLen(v int64) int {
	u := uint64(v<<1) ^ uint64(v>>63)
	return (bits.Len64(u|1) + 6) / 7
}

func appendNullable(b []byte, v []byte) []byte {
	if v == nil {
		return appendVarint(b, -1)
	}
	b = appendVarint(b, int64(len(v)))
	return append(b, v...)
}

func nullableLen(v []byte) int {
	if v == nil {
		return 1
	}
	return varintLen(int64(len(v))) + len(v)
}

// recordBodyLen is the size of rec's encoding after its length field.
func recordBodyLen(rec *Record) int {
	n := 1 + varintLen(rec.TimestampDelta) + varintLen(int64(rec.OffsetDelta)) +
		nullableLen(rec.Key) + nullableLen(rec.Value) + varintLen(int64(len(rec.Headers)))
	for _, h := range rec.Headers {
		n += varintLen(int64(len(h.Key))) + len(h.Key) + nullableLen(h.Value)
	}
	return n
}

// AppendRecord encodes rec (without batch framing) onto b.
func AppendRecord(b []byte, rec Record) []byte { return appendRecord(b, &rec) }

func appendRecord(b []byte, rec *Record) []byte {
	b = appendVarint(b, int64(recordBodyLen(rec)))
	b = append(b, byte(rec.Attributes))
	b = appendVarint(b, rec.TimestampDelta)
	b = appendVarint(b, int64(rec.OffsetDelta))
	b = appendNullable(b, rec.Key)
	b = appendNullable(b, rec.Value)
	b = appendVarint(b, int64(len(rec.Headers)))
	for _, h := range rec.Headers {
		b = appendVarint(b, int64(len(h.Key)))
		b = append(b, h.Key...)
		b = appendNullable(b, h.Value)
	}
	return b
}

// BatchSpec describes a batch to build.
type BatchSpec struct {
	BaseOffset           int64
	PartitionLeaderEpoch int32
	Attributes           int16 // codec bits are taken from Codec
	Codec                Codec
	BaseTimestamp        int64
	MaxTimestamp         int64 // 0 means: computed from the records
	ProducerID           int64
	ProducerEpoch        int16
	BaseSequence         int32
}

// NoProducer fills the producer fields of a spec for a plain batch.
func (s BatchSpec) NoProducer() BatchSpec {
	s.ProducerID, s.ProducerEpoch, s.BaseSequence = -1, -1, -1
	return s
}

// Build encodes records into a complete batch with a valid CRC. Records'
// OffsetDelta fields are rewritten to 0..n-1 (recs itself is not modified).
// The zero BatchSpec means producer id 0 with sequence 0: use NoProducer for
// a plain batch.
func Build(spec BatchSpec, recs []Record) ([]byte, error) {
	if len(recs) == 0 {
		return nil, errors.New("record: cannot build an empty batch")
	}
	maxTs := spec.BaseTimestamp
	for i := range recs {
		if ts := spec.BaseTimestamp + recs[i].TimestampDelta; ts > maxTs {
			maxTs = ts
		}
	}
	if spec.MaxTimestamp != 0 {
		maxTs = spec.MaxTimestamp
	}
	return build(spec, maxTs, len(recs), func(dst []byte) []byte {
		for i := range recs {
			r := recs[i]
			r.OffsetDelta = int32(i)
			dst = appendRecord(dst, &r)
		}
		return dst
	}, recordsLen(recs))
}

func recordsLen(recs []Record) int {
	n := 0
	for i := range recs {
		r := recs[i]
		r.OffsetDelta = int32(i)
		l := recordBodyLen(&r)
		n += varintLen(int64(l)) + l
	}
	return n
}

// build writes a batch of n records whose encoding encode appends (size
// bytes uncompressed), compressed with spec.Codec.
func build(spec BatchSpec, maxTs int64, n int, encode func([]byte) []byte, size int) ([]byte, error) {
	if n > math.MaxInt32 {
		return nil, errors.New("record: too many records for one batch")
	}
	var b []byte
	if spec.Codec == CodecNone {
		b = encode(make([]byte, HeaderSize, HeaderSize+size))
	} else {
		raw := encode(make([]byte, 0, size))
		body, err := Compress(spec.Codec, raw)
		if err != nil {
			return nil, err
		}
		b = make([]byte, HeaderSize, HeaderSize+len(body))
		b = append(b, body...)
	}
	if len(b)-LogOverhead > math.MaxInt32 {
		return nil, errors.New("record: batch larger than 2 GiB")
	}
	be := binary.BigEndian
	be.PutUint64(b[offBaseOffset:], uint64(spec.BaseOffset))
	be.PutUint32(b[offLength:], uint32(len(b)-LogOverhead))
	be.PutUint32(b[offLeaderEpoch:], uint32(spec.PartitionLeaderEpoch))
	b[offMagic] = Magic
	attrs := (spec.Attributes &^ AttrCodecMask) | int16(spec.Codec)&AttrCodecMask
	be.PutUint16(b[offAttributes:], uint16(attrs))
	be.PutUint32(b[offLastOffsetDelta:], uint32(n-1))
	be.PutUint64(b[offBaseTimestamp:], uint64(spec.BaseTimestamp))
	be.PutUint64(b[offMaxTimestamp:], uint64(maxTs))
	be.PutUint64(b[offProducerID:], uint64(spec.ProducerID))
	be.PutUint16(b[offProducerEpoch:], uint16(spec.ProducerEpoch))
	be.PutUint32(b[offBaseSequence:], uint32(spec.BaseSequence))
	be.PutUint32(b[offRecordCount:], uint32(n))
	be.PutUint32(b[offCRC:], ComputeCRC(b))
	return b, nil
}

// Control record types (key: version i16 = 0, type i16).
const (
	ControlAbort  int16 = 0
	ControlCommit int16 = 1
)

// BuildControl builds a transaction marker batch (control + transactional):
// one record whose key is (version 0, type) and whose value is (version 0,
// coordinatorEpoch).
func BuildControl(pid int64, epoch int16, typ int16, coordinatorEpoch int32, ts int64) []byte {
	key := []byte{0, 0, byte(uint16(typ) >> 8), byte(typ)}
	val := make([]byte, 6)
	binary.BigEndian.PutUint32(val[2:], uint32(coordinatorEpoch))
	b, _ := Build(BatchSpec{
		Attributes:    AttrControl | AttrTransactional,
		BaseTimestamp: ts,
		ProducerID:    pid,
		ProducerEpoch: epoch,
		BaseSequence:  -1,
	}, []Record{{Key: key, Value: val}})
	return b
}

// ControlType decodes the type of a control record key, or -1.
func ControlType(key []byte) int16 {
	if len(key) < 4 {
		return -1
	}
	return int16(binary.BigEndian.Uint16(key[2:]))
}
