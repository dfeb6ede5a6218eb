package record

import (
	"encoding/binary"
	"testing"
)

// Regression tests for inputs that made the decoders allocate what the
// input declared rather than what it holds (found in review of the first
// version; FuzzRecords/FuzzDecompress check the same bound).

func TestZstdDeclaredSizeBomb(t *testing.T) {
	// Frame header: single segment, 8-byte content size of 200 MiB, then
	// one RLE block. klauspost's DecodeAll would allocate the 200 MiB.
	in := []byte{0x28, 0xb5, 0x2f, 0xfd, 0xe0}
	in = binary.LittleEndian.AppendUint64(in, 200<<20)
	in = append(in, 0x03, 0x00, 0x00, 'x') // last, RLE, size 0
	checkAllocs(t, 0, func() {
		if _, err := Decompress(CodecZstd, in); err == nil {
			t.Fatal("accepted")
		}
	})
}

func TestSnappyDeclaredSizeBomb(t *testing.T) {
	in := binary.AppendUvarint(nil, 200<<20) // preamble: decoded length
	in = append(in, 0x00, 'x')
	checkAllocs(t, 0, func() {
		if _, err := Decompress(CodecSnappy, in); err == nil {
			t.Fatal("raw snappy accepted")
		}
		x := xerialFrame(nil, 1)
		x = binary.BigEndian.AppendUint32(x, uint32(len(in)))
		x = append(x, in...)
		if _, err := Decompress(CodecSnappy, x); err == nil {
			t.Fatal("xerial snappy accepted")
		}
	})
	// A chunk length past the end, including one that is negative as int32.
	for _, n := range []uint32{100, 1 << 31, 1<<32 - 1} {
		x := binary.BigEndian.AppendUint32(xerialFrame(nil, 1), n)
		if _, err := Decompress(CodecSnappy, append(x, 1, 2, 3)); err == nil {
			t.Fatalf("chunk length %d accepted", n)
		}
	}
}

func TestRecordCountBomb(t *testing.T) {
	// A valid header claiming 2^31-1 records over a 10-byte body must fail
	// before allocating the record slice.
	b := rawBatch(CodecNone, 1<<31-1, make([]byte, 10))
	checkAllocs(t, 0, func() {
		if _, err := Records(b); err == nil {
			t.Fatal("accepted")
		}
	})
	// Likewise a header count far beyond the record's bytes.
	body := []byte{0x00, 0x00, 0x00, 0x01, 0x01, 0xfe, 0xff, 0xff, 0xff, 0x07}
	rec := append(binary.AppendVarint(nil, int64(len(body))), body...)
	var r Record
	if _, err := decodeRecord(rec, &r, new([]Header2)); err == nil {
		t.Fatal("header count bomb accepted")
	}
}

func TestOverlongVarint(t *testing.T) {
	// Kafka reads int32 varints in at most 5 bytes.
	body := []byte{0x00, 0x00, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00, 0x01, 0x01, 0x00}
	rec := append(binary.AppendVarint(nil, int64(len(body))), body...)
	var r Record
	if _, err := decodeRecord(rec, &r, new([]Header2)); err == nil {
		t.Fatal("6-byte offset delta accepted")
	}
}
