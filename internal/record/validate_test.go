package record

import (
	"encoding/binary"
	"errors"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
)

// mutate returns a copy of b changed by f, with the CRC recomputed unless
// keepCRC.
func mutate(b []byte, keepCRC bool, f func(b []byte) []byte) []byte {
	c := f(append([]byte(nil), b...))
	if !keepCRC && len(c) >= HeaderSize {
		binary.BigEndian.PutUint32(c[offCRC:], ComputeCRC(c))
	}
	return c
}

func put16(off int, v int16) func([]byte) []byte {
	return func(b []byte) []byte { binary.BigEndian.PutUint16(b[off:], uint16(v)); return b }
}

func put32(off int, v int32) func([]byte) []byte {
	return func(b []byte) []byte { binary.BigEndian.PutUint32(b[off:], uint32(v)); return b }
}

func TestValidateProduced(t *testing.T) {
	plain := buildT(t, testSpec(CodecNone).NoProducer(), testRecords(10))
	idem := buildT(t, testSpec(CodecLz4), testRecords(10))
	zstdB := buildT(t, testSpec(CodecZstd), testRecords(10))
	txn := testSpec(CodecNone)
	txn.Attributes = AttrTransactional
	txnB := buildT(t, txn, testRecords(2))
	lim := ProduceLimits{MaxMessageBytes: 1048588, SegmentBytes: 1 << 30, AllowZstd: true}

	cases := []struct {
		name string
		b    []byte
		lim  ProduceLimits
		want *kerr.Error // nil: valid
	}{
		{"plain", plain, lim, nil},
		{"idempotent lz4", idem, lim, nil},
		{"transactional", txnB, lim, nil},
		{"zstd v7", zstdB, lim, nil},
		{"nonzero base offset is allowed", mutate(plain, true, func(b []byte) []byte { SetBaseOffset(b, 99); return b }), lim, nil},
		{"bad crc", mutate(plain, true, func(b []byte) []byte { b[len(b)-1] ^= 1; return b }), lim, kerr.CorruptMessage},
		{"bad crc in header field", mutate(plain, true, put32(offBaseSequence, 5)), lim, kerr.CorruptMessage},
		{"magic 0", mutate(plain, false, func(b []byte) []byte { b[offMagic] = 0; return b }), lim, kerr.InvalidRecord},
		{"magic 1", mutate(plain, false, func(b []byte) []byte { b[offMagic] = 1; return b }), lim, kerr.InvalidRecord},
		{"magic 1, short", []byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 14, 0, 0, 0, 0, 1, 0}, lim, kerr.InvalidRecord},
		{"empty", nil, lim, kerr.InvalidRecord},
		{"shorter than header", plain[:40], lim, kerr.InvalidRecord},
		{"truncated", plain[:len(plain)-1], lim, kerr.InvalidRecord},
		{"trailing bytes", append(append([]byte(nil), plain...), 0), lim, kerr.InvalidRecord},
		{"two batches", append(append([]byte(nil), plain...), plain...), lim, kerr.InvalidRecord},
		{"length below header", mutate(plain, false, put32(offLength, 48)), lim, kerr.CorruptMessage},
		{"negative length", mutate(plain, false, put32(offLength, -1)), lim, kerr.CorruptMessage},
		{"count mismatch", mutate(plain, false, put32(offRecordCount, 9)), lim, kerr.InvalidRecord},
		{"delta mismatch", mutate(plain, false, put32(offLastOffsetDelta, 10)), lim, kerr.InvalidRecord},
		{"zero count", mutate(plain, false, func(b []byte) []byte { put32(offRecordCount, 0)(b); return put32(offLastOffsetDelta, -1)(b) }), lim, kerr.InvalidRecord},
		{"negative delta", mutate(plain, false, put32(offLastOffsetDelta, -5)), lim, kerr.InvalidRecord},
		{"too large", plain, ProduceLimits{MaxMessageBytes: len(plain) - 1}, kerr.MessageTooLarge},
		{"exactly max", plain, ProduceLimits{MaxMessageBytes: len(plain)}, nil},
		{"too large wins over bad crc", mutate(plain, true, func(b []byte) []byte { b[70] ^= 1; return b }), ProduceLimits{MaxMessageBytes: 100}, kerr.MessageTooLarge},
		{"over segment.bytes", plain, ProduceLimits{SegmentBytes: len(plain) - 1}, kerr.RecordListTooLarge},
		{"max.message.bytes wins over segment.bytes", plain, ProduceLimits{MaxMessageBytes: 10, SegmentBytes: 10}, kerr.MessageTooLarge},
		{"control batch", BuildControl(1, 0, ControlCommit, 0, 0), lim, kerr.InvalidRecord},
		{"zstd before v7", zstdB, ProduceLimits{}, kerr.UnsupportedCompressionType},
		{"codec 5", mutate(plain, false, put16(offAttributes, 5)), lim, kerr.UnsupportedCompressionType},
		{"codec 7", mutate(plain, false, put16(offAttributes, 7)), lim, kerr.UnsupportedCompressionType},
		{"pid with negative sequence", mutate(idem, false, put32(offBaseSequence, -1)), lim, kerr.InvalidRecord},
		{"pid with sequence -7", mutate(idem, false, put32(offBaseSequence, -7)), lim, kerr.InvalidRecord},
		{"transactional without pid", mutate(plain, false, put16(offAttributes, AttrTransactional)), lim, kerr.InvalidRecord},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ValidateProduced(tc.b, tc.lim)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("unexpected %v", err)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) || e.Kafka != tc.want || !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %s", err, tc.want.Message)
			}
		})
	}
}

func TestCheck(t *testing.T) {
	b := buildT(t, testSpec(CodecNone), testRecords(3))
	cases := []struct {
		name string
		b    []byte
		want *kerr.Error
	}{
		{"ok", b, nil},
		{"short", b[:60], kerr.CorruptMessage},
		{"magic 1", mutate(b, false, func(b []byte) []byte { b[offMagic] = 1; return b }), kerr.UnsupportedForMessageFormat},
		{"length", b[:len(b)-1], kerr.CorruptMessage},
		{"crc", mutate(b, true, func(b []byte) []byte { b[offAttributes+1] ^= 8; return b }), kerr.CorruptMessage},
		{"count", mutate(b, false, put32(offRecordCount, 4)), kerr.InvalidRecord},
		{"negative count", mutate(b, false, put32(offRecordCount, -1)), kerr.InvalidRecord},
		// Compaction keeps lastOffsetDelta and drops records.
		{"compacted", mutate(b, false, put32(offRecordCount, 2)), nil},
		// Compaction may empty a batch but keeps lastOffsetDelta.
		{"emptied by compaction", rawBatchCount(mutate(b, false, put32(offRecordCount, 0))), nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Check(tc.b)
			if tc.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %s", err, tc.want.Message)
			}
		})
	}
}

// rawBatchCount drops the records of b, keeping its header fields.
func rawBatchCount(b []byte) []byte {
	b = b[:HeaderSize]
	binary.BigEndian.PutUint32(b[offLength:], HeaderSize-LogOverhead)
	binary.BigEndian.PutUint32(b[offCRC:], ComputeCRC(b))
	return b
}
