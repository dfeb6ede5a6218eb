package record

import (
	"bytes"
	"errors"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
)

func TestSplitBatches(t *testing.T) {
	a := buildT(t, testSpec(CodecNone), testRecords(3))
	b := buildT(t, testSpec(CodecGzip), testRecords(7))
	all := append(append([]byte(nil), a...), b...)

	got, err := SplitBatches(all)
	if err != nil || len(got) != 2 || !bytes.Equal(got[0], a) || !bytes.Equal(got[1], b) {
		t.Fatalf("got %d batches, %v", len(got), err)
	}
	if &got[0][0] != &all[0] || &got[1][0] != &all[len(a)] || cap(got[0]) != len(a) {
		t.Fatal("batches must alias the input with capped capacity")
	}
	if got, err := SplitBatches(nil); err != nil || len(got) != 0 {
		t.Fatalf("empty: %v %v", got, err)
	}
	for _, cut := range []int{1, 11, 12, 60, len(b) - 1} {
		got, err := SplitBatches(all[:len(a)+cut])
		if !errors.Is(err, ErrTruncatedBatch) || len(got) != 1 || !errors.Is(err, kerr.InvalidRecord) {
			t.Fatalf("cut %d: %d batches, %v", cut, len(got), err)
		}
	}
	bad := append(append([]byte(nil), a...), mutate(b, false, put32(offLength, 10))...)
	if got, err := SplitBatches(bad); !errors.Is(err, kerr.CorruptMessage) || len(got) != 1 {
		t.Fatalf("bad length: %d %v", len(got), err)
	}
	neg := mutate(b, false, put32(offLength, -100))
	if _, err := SplitBatches(neg); !errors.Is(err, kerr.CorruptMessage) {
		t.Fatalf("negative length: %v", err)
	}
}

func TestHasKeys(t *testing.T) {
	for _, c := range allCodecs {
		keyed := buildT(t, testSpec(c), []Record{{Key: []byte("a")}, {Key: []byte{}, Value: []byte("v")}})
		if ok, err := HasKeys(keyed); !ok || err != nil {
			t.Fatalf("%s keyed: %v %v", c, ok, err)
		}
		nullKey := buildT(t, testSpec(c), []Record{{Key: []byte("a")}, {Value: []byte("v")}, {Key: []byte("c")}})
		if ok, err := HasKeys(nullKey); ok || err != nil {
			t.Fatalf("%s null key: %v %v", c, ok, err)
		}
	}
	if _, err := HasKeys([]byte{1, 2}); err == nil {
		t.Fatal("garbage accepted")
	}
}

// withDeltas builds an uncompressed batch whose records carry the given
// offset deltas (Build would rewrite them).
func withDeltas(spec BatchSpec, deltas ...int32) []byte {
	recs := make([]Record, len(deltas))
	for i, d := range deltas {
		recs[i] = Record{OffsetDelta: d, TimestampDelta: int64(i), Key: []byte{byte('a' + i)}, Value: []byte("v"),
			Headers: []Header2{{Key: "h", Value: nil}}}
	}
	var raw []byte
	for _, r := range recs {
		raw = AppendRecord(raw, r)
	}
	b := rawBatch(spec.Codec, len(recs), raw)
	SetBaseOffset(b, spec.BaseOffset)
	return b
}

func TestOffsetsSequential(t *testing.T) {
	for _, tc := range []struct {
		deltas []int32
		want   bool
	}{
		{[]int32{0}, true},
		{[]int32{0, 1, 2}, true},
		{[]int32{1}, false},
		{[]int32{0, 2, 3}, false},
		{[]int32{5, 6, 7}, false},
	} {
		got, err := OffsetsSequential(withDeltas(BatchSpec{}, tc.deltas...))
		if err != nil || got != tc.want {
			t.Errorf("%v: %v %v", tc.deltas, got, err)
		}
	}
	for _, c := range allCodecs {
		if ok, err := OffsetsSequential(buildT(t, testSpec(c), testRecords(100))); !ok || err != nil {
			t.Errorf("%s: %v %v", c, ok, err)
		}
	}
}

func TestRebuild(t *testing.T) {
	spec := testSpec(CodecNone)
	spec.Attributes = AttrTransactional | AttrLogAppendTime
	spec.MaxTimestamp = 5 // LogAppendTime: not derived from records
	recs := testRecords(200)
	for _, from := range allCodecs {
		spec.Codec = from
		src := buildT(t, spec, recs)
		for _, to := range allCodecs {
			out, err := Rebuild(src, to)
			if err != nil {
				t.Fatalf("%s->%s: %v", from, to, err)
			}
			h, err := ValidateProduced(out, ProduceLimits{AllowZstd: true})
			if err != nil {
				t.Fatalf("%s->%s: %v", from, to, err)
			}
			sh, _ := ParseHeader(src)
			want := sh
			want.Attributes = sh.Attributes&^AttrCodecMask | int16(to)
			want.Length, want.CRC = h.Length, h.CRC
			if h != want {
				t.Fatalf("%s->%s header\n got %+v\nwant %+v", from, to, h, want)
			}
			got, err := Records(out)
			if err != nil {
				t.Fatal(err)
			}
			sameRecords(t, got, recs)
		}
	}
	// Non-sequential deltas are renumbered, everything else kept.
	src := withDeltas(BatchSpec{BaseOffset: 50}, 3, 9, 4)
	out, err := Rebuild(src, CodecSnappy)
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := OffsetsSequential(out); !ok {
		t.Fatal("deltas not renumbered")
	}
	got, _ := Records(out)
	if len(got) != 3 || string(got[2].Key) != "c" || got[2].TimestampDelta != 2 || got[2].Headers[0].Value != nil {
		t.Fatalf("%+v", got)
	}
	if h, _ := Check(out); h.BaseOffset != 50 || h.LastOffsetDelta != 2 {
		t.Fatalf("%+v", h)
	}
	if _, err := Rebuild(src, 5); err == nil {
		t.Fatal("codec 5 accepted")
	}
	if _, err := Rebuild(rawBatchCount(append([]byte(nil), src...)), CodecNone); err == nil {
		t.Fatal("empty batch rebuilt")
	}
}

func TestFirstOffsetAtOrAfter(t *testing.T) {
	spec := testSpec(CodecZstd)
	spec.BaseTimestamp = 1000
	// Timestamps 1000, 1010, 1005, 1030: not monotonic, as CreateTime may be.
	recs := []Record{{TimestampDelta: 0}, {TimestampDelta: 10}, {TimestampDelta: 5}, {TimestampDelta: 30}}
	b := buildT(t, spec, recs)
	for _, tc := range []struct {
		ts, off, at int64
		ok          bool
	}{
		{0, 1000, 1000, true},
		{1000, 1000, 1000, true},
		{1001, 1001, 1010, true},
		{1006, 1001, 1010, true},
		{1011, 1003, 1030, true},
		{1030, 1003, 1030, true},
		{1031, 0, 0, false},
	} {
		off, at, ok, err := FirstOffsetAtOrAfter(b, tc.ts)
		if err != nil || ok != tc.ok || off != tc.off || at != tc.at {
			t.Errorf("ts %d: got %d@%d %v %v, want %d@%d %v", tc.ts, off, at, ok, err, tc.off, tc.at, tc.ok)
		}
	}
	// LogAppendTime: every record carries maxTimestamp.
	SetLogAppendTime(b, 7000)
	if off, at, ok, err := FirstOffsetAtOrAfter(b, 6000); !ok || err != nil || off != 1000 || at != 7000 {
		t.Fatalf("log append time: %d@%d %v %v", off, at, ok, err)
	}
	if _, _, ok, _ := FirstOffsetAtOrAfter(b, 7001); ok {
		t.Fatal("found past maxTimestamp")
	}
	// Offsets come from the record deltas.
	d := withDeltas(BatchSpec{BaseOffset: 10}, 0, 4)
	binaryPutMaxTs(d, 100)
	if off, _, ok, err := FirstOffsetAtOrAfter(d, 1); !ok || err != nil || off != 14 {
		t.Fatalf("deltas: %d %v %v", off, ok, err)
	}
}

func binaryPutMaxTs(b []byte, ts int64) {
	put32(offMaxTimestamp, 0)(b)
	put32(offMaxTimestamp+4, int32(ts))(b)
}
