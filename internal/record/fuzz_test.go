package record

import (
	"bytes"
	"encoding/binary"
	"reflect"
	"runtime"
	"testing"
)

// seedBatches are real batches for every codec, in the shapes producers
// send: small, with headers and nulls, and a control batch.
func seedBatches(tb testing.TB) [][]byte {
	var out [][]byte
	for _, c := range allCodecs {
		for _, n := range []int{1, 7, 60} {
			out = append(out, buildT(tb, testSpec(c), testRecords(n)))
		}
	}
	return append(out, BuildControl(3, 1, ControlAbort, 2, 99))
}

// fixCRC makes a fuzzed batch pass the length and CRC checks, so the fuzzer
// reaches what lies behind them.
func fixCRC(b []byte) []byte {
	if len(b) < HeaderSize {
		return b
	}
	b = append([]byte(nil), b...)
	binary.BigEndian.PutUint32(b[offLength:], uint32(len(b)-LogOverhead))
	b[offMagic] = Magic
	binary.BigEndian.PutUint32(b[offCRC:], ComputeCRC(b))
	return b
}

func FuzzCheck(f *testing.F) {
	for _, b := range seedBatches(f) {
		f.Add(b)
		f.Add(b[:len(b)/2])
	}
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, in := range [][]byte{b, fixCRC(b)} {
			ParseHeader(in)
			BatchSize(in)
			h, err := Check(in)
			if err == nil && h.Size() != len(in) {
				t.Fatalf("Check accepted %d bytes for size %d", len(in), h.Size())
			}
			for _, lim := range []ProduceLimits{{}, {MaxMessageBytes: 100, SegmentBytes: 50, AllowZstd: true}} {
				h, err := ValidateProduced(in, lim)
				if err == nil {
					if _, err := Check(in); err != nil {
						t.Fatalf("ValidateProduced accepted what Check rejects: %v", err)
					}
					if h.NumRecords <= 0 || h.IsControl() {
						t.Fatalf("accepted %+v", h)
					}
				} else if _, ok := err.(*Error); !ok {
					t.Fatalf("untyped error %T %v", err, err)
				}
			}
			batches, _ := SplitBatches(in)
			n := 0
			for _, x := range batches {
				n += len(x)
			}
			if n > len(in) {
				t.Fatal("SplitBatches returned more bytes than given")
			}
		}
	})
}

// allocBound is what decoding fuzzed input may allocate: a fixed allowance
// for decoder state plus the best real compression ratio (zstd's 32768) of
// the input. Anything above means a size taken on trust from the input.
func allocBound(n int) uint64 { return 16<<20 + 40000*uint64(n) }

func checkAllocs(t *testing.T, n int, f func()) {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	if got := after.TotalAlloc - before.TotalAlloc; got > allocBound(n) {
		t.Fatalf("decoding %d bytes allocated %d", n, got)
	}
}

func exerciseRecords(t *testing.T, b []byte) {
	checkAllocs(t, len(b), func() {
		recs, err := Records(b)
		HasKeys(b)
		OffsetsSequential(b)
		FirstOffsetAtOrAfter(b, 0)
		if err != nil {
			return
		}
		h, _ := ParseHeader(b)
		if len(recs) != int(h.NumRecords) {
			t.Fatalf("%d records for count %d", len(recs), h.NumRecords)
		}
		out, err := Rebuild(b, CodecNone)
		if err != nil {
			t.Fatalf("Rebuild failed on a batch Records decodes: %v", err)
		}
		again, err := Records(out)
		if err != nil || len(again) != len(recs) {
			t.Fatalf("rebuilt batch: %v", err)
		}
		for i := range recs {
			want := recs[i]
			want.OffsetDelta = int32(i)
			if !reflect.DeepEqual(again[i], want) {
				t.Fatalf("record %d changed by Rebuild:\n got %#v\nwant %#v", i, again[i], want)
			}
		}
		if h2, _ := ParseHeader(out); h2.MaxTimestamp != h.MaxTimestamp || h2.Attributes != h.Attributes&^AttrCodecMask {
			t.Fatalf("rebuilt header %+v from %+v", h2, h)
		}
	})
}

func FuzzRecords(f *testing.F) {
	for _, b := range seedBatches(f) {
		h, _ := ParseHeader(b)
		f.Add(b, uint8(h.Codec()), h.NumRecords)
		f.Add(b[HeaderSize:], uint8(h.Codec()), h.NumRecords)
	}
	f.Fuzz(func(t *testing.T, data []byte, codec uint8, count int32) {
		// As given: a whole batch, usually with a bad CRC, which Records
		// does not check.
		exerciseRecords(t, data)
		// As a body behind a valid header, so the decoders are reached.
		exerciseRecords(t, rawBatch(Codec(codec%5), int(count), data))
	})
}

func FuzzDecompress(f *testing.F) {
	for _, b := range seedBatches(f) {
		h, _ := ParseHeader(b)
		f.Add(uint8(h.Codec()), b[HeaderSize:])
	}
	f.Add(uint8(CodecSnappy), xerialFrame([]byte("hello hello hello"), 4))
	f.Fuzz(func(t *testing.T, codec uint8, data []byte) {
		c := Codec(codec % 5)
		checkAllocs(t, len(data), func() {
			out, err := Decompress(c, data)
			if err == nil && len(out) > maxDecompressed {
				t.Fatalf("%d bytes out", len(out))
			}
		})
		comp, err := Compress(c, data)
		if err != nil {
			t.Fatal(err)
		}
		back, err := Decompress(c, comp)
		if err != nil || !bytes.Equal(back, data) {
			t.Fatalf("%s round trip: %v", c, err)
		}
	})
}
