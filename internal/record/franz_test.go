package record

// Cross-checks against franz-go: batches encoded with kmsg and compressed
// by kgo's default compressor must parse with this package, and batches
// built here must parse with kmsg and decompress with kgo's decompressor.

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"testing"

	"github.com/klauspost/compress/s2"
	"github.com/pierrec/lz4/v4"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func kgoCodec(c Codec) kgo.CompressionCodec {
	switch c {
	case CodecGzip:
		return kgo.GzipCompression()
	case CodecSnappy:
		return kgo.SnappyCompression()
	case CodecLz4:
		return kgo.Lz4Compression()
	case CodecZstd:
		return kgo.ZstdCompression()
	}
	return kgo.NoCompression()
}

func toKmsg(r Record, delta int32) kmsg.Record {
	kr := kmsg.Record{Attributes: r.Attributes, TimestampDelta64: r.TimestampDelta, OffsetDelta: delta, Key: r.Key, Value: r.Value}
	for _, h := range r.Headers {
		kr.Headers = append(kr.Headers, kmsg.Header{Key: h.Key, Value: h.Value})
	}
	// kmsg writes Length as given: size it from an encoding with length 0.
	kr.Length = int32(len(kr.AppendTo(nil)) - 1)
	return kr
}

// franzBatch encodes recs the way a franz-go producer does.
func franzBatch(t *testing.T, c Codec, recs []Record) []byte {
	t.Helper()
	var raw []byte
	for i, r := range recs {
		kr := toKmsg(r, int32(i))
		raw = kr.AppendTo(raw)
	}
	body := raw
	if c != CodecNone {
		comp, err := kgo.DefaultCompressor(kgoCodec(c))
		if err != nil {
			t.Fatal(err)
		}
		out, used := comp.Compress(new(bytes.Buffer), raw)
		if int8(used) != int8(c) {
			t.Fatalf("kgo used codec %d, want %d", used, c)
		}
		body = append([]byte(nil), out...)
	}
	kb := kmsg.RecordBatch{
		FirstOffset: 0, PartitionLeaderEpoch: -1, Magic: 2,
		Attributes: int16(c), LastOffsetDelta: int32(len(recs) - 1),
		FirstTimestamp: 1000, MaxTimestamp: 2000,
		ProducerID: 9, ProducerEpoch: 1, FirstSequence: 0,
		NumRecords: int32(len(recs)), Records: body,
	}
	kb.Length = int32(HeaderSize - LogOverhead + len(body))
	b := kb.AppendTo(nil)
	// kgo computes the CRC over everything from the attributes on.
	kb.CRC = int32(crc32.Checksum(b[21:], crc32.MakeTable(crc32.Castagnoli)))
	return kb.AppendTo(nil)
}

func TestFranzToQuill(t *testing.T) {
	for _, c := range allCodecs {
		t.Run(c.String(), func(t *testing.T) {
			recs := testRecords(300)
			b := franzBatch(t, c, recs)
			h, err := ValidateProduced(b, ProduceLimits{AllowZstd: true, MaxMessageBytes: 1048588})
			if err != nil {
				t.Fatal(err)
			}
			if h.Codec() != c || h.ProducerID != 9 || h.PartitionLeaderEpoch != -1 {
				t.Fatalf("%+v", h)
			}
			got, err := Records(b)
			if err != nil {
				t.Fatal(err)
			}
			sameRecords(t, got, recs)
		})
	}
}

func TestQuillToFranz(t *testing.T) {
	dec := kgo.DefaultDecompressor()
	for _, c := range allCodecs {
		t.Run(c.String(), func(t *testing.T) {
			recs := testRecords(300)
			b := buildT(t, testSpec(c), recs)
			var kb kmsg.RecordBatch
			if err := kb.ReadFrom(b); err != nil {
				t.Fatal(err)
			}
			if kb.FirstOffset != 1000 || kb.PartitionLeaderEpoch != 7 || kb.Magic != 2 ||
				int(kb.Length) != len(b)-LogOverhead || kb.NumRecords != 300 || kb.LastOffsetDelta != 299 ||
				kb.ProducerID != 42 || kb.ProducerEpoch != 3 || kb.FirstSequence != 100 || kb.Attributes&7 != int16(c) {
				t.Fatalf("kmsg sees %+v", kb)
			}
			if want := int32(crc32.Checksum(b[21:], crc32.MakeTable(crc32.Castagnoli))); kb.CRC != want {
				t.Fatalf("crc %08x, want %08x", uint32(kb.CRC), uint32(want))
			}
			raw, err := dec.Decompress(kb.Records, kgo.CompressionCodecType(c))
			if err != nil {
				t.Fatal(err)
			}
			var got []Record
			for len(raw) > 0 {
				length, n := binary.Varint(raw)
				var kr kmsg.Record
				if err := kr.ReadFrom(raw[:n+int(length)]); err != nil {
					t.Fatal(err)
				}
				raw = raw[n+int(length):]
				r := Record{Attributes: kr.Attributes, TimestampDelta: kr.TimestampDelta64, OffsetDelta: kr.OffsetDelta, Key: kr.Key, Value: kr.Value}
				for _, h := range kr.Headers {
					r.Headers = append(r.Headers, Header2{Key: h.Key, Value: h.Value})
				}
				got = append(got, r)
			}
			sameRecords(t, got, recs)
		})
	}
}

// xerialFrame frames raw snappy the way Java's xerial SnappyOutputStream
// does, in chunks of chunk input bytes.
func xerialFrame(in []byte, chunk int) []byte {
	out := append([]byte(nil), xerialMagic...)
	out = binary.BigEndian.AppendUint32(out, 1)
	out = binary.BigEndian.AppendUint32(out, 1)
	for len(in) > 0 {
		n := min(chunk, len(in))
		blk := s2.EncodeSnappy(nil, in[:n])
		out = binary.BigEndian.AppendUint32(out, uint32(len(blk)))
		out = append(out, blk...)
		in = in[n:]
	}
	return out
}

// rawBatch wraps an already-compressed body in a valid header.
func rawBatch(c Codec, n int, body []byte) []byte {
	b := make([]byte, HeaderSize, HeaderSize+len(body))
	b = append(b, body...)
	be := binary.BigEndian
	be.PutUint32(b[offLength:], uint32(len(b)-LogOverhead))
	b[offMagic] = Magic
	be.PutUint16(b[offAttributes:], uint16(c))
	be.PutUint32(b[offLastOffsetDelta:], uint32(n-1))
	be.PutUint64(b[offProducerID:], ^uint64(0))
	be.PutUint16(b[offProducerEpoch:], 0xffff)
	be.PutUint32(b[offBaseSequence:], ^uint32(0))
	be.PutUint32(b[offRecordCount:], uint32(n))
	be.PutUint32(b[offCRC:], ComputeCRC(b))
	return b
}

func encodeRecs(recs []Record) []byte {
	var raw []byte
	for i, r := range recs {
		r.OffsetDelta = int32(i)
		raw = AppendRecord(raw, r)
	}
	return raw
}

// TestJavaStyleCompression reads what Java producers write: xerial-framed
// snappy (32 KiB chunks, and an empty body) and lz4 frames with block
// checksums, a content size and 64 KiB or 4 MiB blocks.
func TestJavaStyleCompression(t *testing.T) {
	recs := testRecords(2000)
	raw := encodeRecs(recs)
	lz4Frame := func(opts ...lz4.Option) []byte {
		var buf bytes.Buffer
		w := lz4.NewWriter(&buf)
		if err := w.Apply(opts...); err != nil {
			t.Fatal(err)
		}
		w.Write(raw)
		w.Close()
		return buf.Bytes()
	}
	cases := []struct {
		name string
		c    Codec
		body []byte
	}{
		{"xerial-32k", CodecSnappy, xerialFrame(raw, 32<<10)},
		{"xerial-1k", CodecSnappy, xerialFrame(raw, 1<<10)},
		{"lz4-64k-blockcrc", CodecLz4, lz4Frame(lz4.BlockSizeOption(lz4.Block64Kb), lz4.BlockChecksumOption(true))},
		{"lz4-4m-size", CodecLz4, lz4Frame(lz4.BlockSizeOption(lz4.Block4Mb), lz4.SizeOption(uint64(len(raw))))},
		{"lz4-nochecksum", CodecLz4, lz4Frame(lz4.ChecksumOption(false))},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := rawBatch(tc.c, len(recs), tc.body)
			if _, err := Check(b); err != nil {
				t.Fatal(err)
			}
			got, err := Records(b)
			if err != nil {
				t.Fatal(err)
			}
			sameRecords(t, got, recs)
		})
	}
	if out, err := Decompress(CodecSnappy, xerialFrame(nil, 1)); err != nil || len(out) != 0 {
		t.Fatalf("empty xerial: %v %v", out, err)
	}
}

// TestLz4FrameFormat pins our lz4 output to the LZ4 frame format with
// 64 KiB blocks, which every Kafka client reads.
func TestLz4FrameFormat(t *testing.T) {
	for i := 0; i < 3; i++ { // pooled writers must keep their options
		out, err := Compress(CodecLz4, bytes.Repeat([]byte("quill "), 50000))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out[:4], []byte{0x04, 0x22, 0x4d, 0x18}) {
			t.Fatalf("magic % x", out[:4])
		}
		if bd := out[5] >> 4 & 7; bd != 4 {
			t.Fatalf("block size id %d, want 4 (64 KiB)", bd)
		}
	}
}

func TestCodecStrings(t *testing.T) {
	for c, want := range map[Codec]string{CodecNone: "none", CodecGzip: "gzip", CodecSnappy: "snappy", CodecLz4: "lz4", CodecZstd: "zstd", 6: "codec(6)"} {
		if c.String() != want {
			t.Errorf("%d: %s", c, c)
		}
	}
	if _, err := Compress(6, nil); err == nil {
		t.Error("codec 6 compressed")
	}
	if _, err := Decompress(6, nil); err == nil {
		t.Error("codec 6 decompressed")
	}
}
