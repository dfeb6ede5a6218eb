package record

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"reflect"
	"testing"
)

var allCodecs = []Codec{CodecNone, CodecGzip, CodecSnappy, CodecLz4, CodecZstd}

// testRecords covers keys, null keys, empty keys, tombstones, headers with
// null and empty values, negative timestamp deltas and, with n large,
// multi-byte varints and multi-block compression.
func testRecords(n int) []Record {
	recs := make([]Record, 0, n)
	for i := 0; i < n; i++ {
		r := Record{TimestampDelta: int64(i*37) - 5}
		switch i % 5 {
		case 0:
			r.Key, r.Value = []byte(fmt.Sprintf("key-%d", i)), bytes.Repeat([]byte{byte(i)}, i%300)
		case 1:
			r.Value = []byte("null key") // Key nil
		case 2:
			r.Key = []byte(fmt.Sprintf("tomb-%d", i)) // Value nil: tombstone
		case 3:
			r.Key, r.Value = []byte{}, []byte{}
			r.Headers = []Header2{{Key: "h", Value: []byte("v")}, {Key: "null", Value: nil}, {Key: "", Value: []byte{}}}
		case 4:
			r.Key, r.Value = []byte("k"), []byte(fmt.Sprintf("value %d", i))
			r.Headers = []Header2{{Key: "trace", Value: []byte{1, 2, 3}}}
		}
		recs = append(recs, r)
	}
	return recs
}

func testSpec(c Codec) BatchSpec {
	return BatchSpec{
		BaseOffset: 1000, PartitionLeaderEpoch: 7, Codec: c,
		BaseTimestamp: 1_700_000_000_000,
		ProducerID:    42, ProducerEpoch: 3, BaseSequence: 100,
	}
}

func buildT(t testing.TB, spec BatchSpec, recs []Record) []byte {
	t.Helper()
	b, err := Build(spec, recs)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// sameRecords compares records, with OffsetDelta expected to be 0..n-1.
func sameRecords(t *testing.T, got, want []Record) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d records, want %d", len(got), len(want))
	}
	for i := range want {
		w := want[i]
		w.OffsetDelta = int32(i)
		g := got[i]
		if len(w.Headers) == 0 {
			w.Headers = nil
		}
		if !reflect.DeepEqual(g, w) {
			t.Fatalf("record %d:\n got %#v\nwant %#v", i, g, w)
		}
		if (g.Key == nil) != (want[i].Key == nil) || (g.Value == nil) != (want[i].Value == nil) {
			t.Fatalf("record %d: nullness differs", i)
		}
		for j := range w.Headers {
			if (g.Headers[j].Value == nil) != (w.Headers[j].Value == nil) {
				t.Fatalf("record %d header %d: nullness differs", i, j)
			}
		}
	}
}

func TestRoundTrip(t *testing.T) {
	for _, c := range allCodecs {
		for _, n := range []int{1, 5, 1000} {
			t.Run(fmt.Sprintf("%s/%d", c, n), func(t *testing.T) {
				recs := testRecords(n)
				b := buildT(t, testSpec(c), recs)
				h, err := Check(b)
				if err != nil {
					t.Fatal(err)
				}
				if h.Codec() != c || h.NumRecords != int32(n) || h.LastOffsetDelta != int32(n-1) ||
					h.BaseOffset != 1000 || h.PartitionLeaderEpoch != 7 || h.ProducerID != 42 ||
					h.ProducerEpoch != 3 || h.BaseSequence != 100 {
					t.Fatalf("header %+v", h)
				}
				if _, err := ValidateProduced(b, ProduceLimits{AllowZstd: true}); err != nil {
					t.Fatal(err)
				}
				got, err := Records(b)
				if err != nil {
					t.Fatal(err)
				}
				sameRecords(t, got, recs)
				wantMax := int64(1_700_000_000_000) + int64((n-1)*37) - 5
				if n == 1 {
					wantMax = 1_700_000_000_000
				}
				if h.MaxTimestamp != wantMax {
					t.Fatalf("maxTimestamp %d, want %d", h.MaxTimestamp, wantMax)
				}
			})
		}
	}
}

func TestBuildDoesNotModifyInput(t *testing.T) {
	recs := []Record{{OffsetDelta: 9, Value: []byte("a")}, {OffsetDelta: 9, Value: []byte("b")}}
	buildT(t, testSpec(CodecNone), recs)
	if recs[0].OffsetDelta != 9 || recs[1].OffsetDelta != 9 {
		t.Fatal("Build modified its input")
	}
	if _, err := Build(testSpec(CodecNone), nil); err == nil {
		t.Fatal("empty batch built")
	}
}

func TestAppendRecordMatchesSize(t *testing.T) {
	for _, r := range testRecords(50) {
		b := AppendRecord([]byte{0xff}, r)
		var got Record
		n, err := decodeRecord(b[1:], &got, new([]Header2))
		if err != nil || n != len(b)-1 {
			t.Fatalf("n=%d len=%d err=%v", n, len(b)-1, err)
		}
	}
	for _, v := range []int64{0, 1, -1, 63, 64, -64, -65, 1 << 40, -1 << 62, 1<<63 - 1, -1 << 63} {
		if got, want := varintLen(v), len(binary.AppendVarint(nil, v)); got != want {
			t.Fatalf("varintLen(%d)=%d, want %d", v, got, want)
		}
	}
}

// TestZigZag pins the record varints to zig-zag encoding: a null key is
// the single byte 0x01 and offset delta 1 is 0x02.
func TestZigZag(t *testing.T) {
	b := AppendRecord(nil, Record{TimestampDelta: -1, OffsetDelta: 1, Key: nil, Value: []byte("x")})
	want := []byte{0x0e, 0x00, 0x01, 0x02, 0x01, 0x02, 'x', 0x00}
	if !bytes.Equal(b, want) {
		t.Fatalf("got % x, want % x", b, want)
	}
}

func TestHeaderAccessors(t *testing.T) {
	b := buildT(t, testSpec(CodecNone), testRecords(3))
	h, _ := Check(b)
	if h.Size() != len(b) || h.LastOffset() != 1002 || h.NextOffset() != 1003 || !h.HasProducerID() ||
		h.IsControl() || h.IsTransactional() || h.IsLogAppendTime() || BatchSize(b) != len(b) || BatchSize(b[:11]) != -1 {
		t.Fatalf("accessors wrong: %+v", h)
	}
	SetBaseOffset(b, 5)
	SetPartitionLeaderEpoch(b, 9)
	if h, err := Check(b); err != nil || h.BaseOffset != 5 || h.PartitionLeaderEpoch != 9 {
		t.Fatalf("stamping broke the batch: %v %+v", err, h)
	}
	SetLogAppendTime(b, 123)
	if h, err := Check(b); err != nil || !h.IsLogAppendTime() || h.MaxTimestamp != 123 {
		t.Fatalf("SetLogAppendTime: %v %+v", err, h)
	}
}

func TestLastSequence(t *testing.T) {
	for _, tc := range []struct {
		base, delta, want int32
	}{
		{-1, 5, -1},
		{0, 0, 0},
		{10, 4, 14},
		{1<<31 - 1, 0, 1<<31 - 1},
		{1<<31 - 1, 1, 0},
		{1<<31 - 3, 5, 2},
	} {
		h := Header{BaseSequence: tc.base, LastOffsetDelta: tc.delta}
		if got := h.LastSequence(); got != tc.want {
			t.Errorf("LastSequence(%d+%d)=%d, want %d", tc.base, tc.delta, got, tc.want)
		}
	}
}

func TestControl(t *testing.T) {
	b := BuildControl(7, 2, ControlCommit, 11, 5000)
	h, err := Check(b)
	if err != nil {
		t.Fatal(err)
	}
	if !h.IsControl() || !h.IsTransactional() || h.ProducerID != 7 || h.ProducerEpoch != 2 || h.BaseSequence != -1 {
		t.Fatalf("%+v", h)
	}
	recs, err := Records(b)
	if err != nil || len(recs) != 1 {
		t.Fatal(err)
	}
	if ControlType(recs[0].Key) != ControlCommit || ControlType(nil) != -1 {
		t.Fatal("control type")
	}
	if !bytes.Equal(recs[0].Value, []byte{0, 0, 0, 0, 0, 11}) {
		t.Fatalf("marker value % x", recs[0].Value)
	}
}

// TestNegativeLengthIsNull follows AK's DefaultRecord: any negative key or
// value length reads as null.
func TestNegativeLengthIsNull(t *testing.T) {
	body := []byte{0x00, 0x00, 0x00, 0x03 /* key len -2 */, 0x05 /* value len -3 */, 0x00}
	rec := append(binary.AppendVarint(nil, int64(len(body))), body...)
	var r Record
	if _, err := decodeRecord(rec, &r, new([]Header2)); err != nil || r.Key != nil || r.Value != nil {
		t.Fatalf("err=%v key=%v value=%v", err, r.Key, r.Value)
	}
	// A negative header key length is an error.
	body = []byte{0x00, 0x00, 0x00, 0x01, 0x01, 0x02, 0x01, 0x01}
	rec = append(binary.AppendVarint(nil, int64(len(body))), body...)
	if _, err := decodeRecord(rec, &r, new([]Header2)); err == nil {
		t.Fatal("negative header key length accepted")
	}
}
