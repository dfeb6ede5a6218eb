package record

import (
	"bytes"
	"testing"
)

// TestBuildSparse: the cleaner's rewrite keeps every surviving record's
// offset, the batch's lastOffsetDelta (so producer state read from the log
// is unchanged) and the other header fields, in every codec; an emptied
// batch stays a valid, uncompressed batch.
func TestBuildSparse(t *testing.T) {
	for _, c := range []Codec{CodecNone, CodecGzip, CodecSnappy, CodecLz4, CodecZstd} {
		t.Run(c.String(), func(t *testing.T) {
			orig := buildT(t, testSpec(c), testRecords(10))
			h, err := Check(orig)
			if err != nil {
				t.Fatal(err)
			}
			recs, err := Records(orig)
			if err != nil {
				t.Fatal(err)
			}
			var keep []Record
			for i, r := range recs {
				if i%3 == 1 {
					keep = append(keep, r)
				}
			}
			b, err := BuildSparse(h, keep)
			if err != nil {
				t.Fatal(err)
			}
			nh, err := Check(b)
			if err != nil {
				t.Fatalf("check: %v", err)
			}
			if nh.BaseOffset != h.BaseOffset || nh.LastOffsetDelta != h.LastOffsetDelta || nh.NumRecords != int32(len(keep)) ||
				nh.MaxTimestamp != h.MaxTimestamp || nh.BaseTimestamp != h.BaseTimestamp || nh.ProducerID != h.ProducerID ||
				nh.ProducerEpoch != h.ProducerEpoch || nh.BaseSequence != h.BaseSequence || nh.Codec() != c ||
				nh.PartitionLeaderEpoch != h.PartitionLeaderEpoch || nh.LastSequence() != h.LastSequence() {
				t.Fatalf("header %+v, from %+v", nh, h)
			}
			got, err := Records(b)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(keep) {
				t.Fatalf("%d records, want %d", len(got), len(keep))
			}
			for i := range got {
				if got[i].OffsetDelta != keep[i].OffsetDelta || !bytes.Equal(got[i].Key, keep[i].Key) ||
					!bytes.Equal(got[i].Value, keep[i].Value) || (got[i].Value == nil) != (keep[i].Value == nil) ||
					got[i].TimestampDelta != keep[i].TimestampDelta || len(got[i].Headers) != len(keep[i].Headers) {
					t.Fatalf("record %d: %+v, want %+v", i, got[i], keep[i])
				}
			}
			empty, err := BuildSparse(h, nil)
			if err != nil {
				t.Fatal(err)
			}
			eh, err := Check(empty)
			if err != nil || eh.NumRecords != 0 || eh.LastOffsetDelta != h.LastOffsetDelta || eh.Codec() != CodecNone || len(empty) != HeaderSize {
				t.Fatalf("empty batch: %+v %v (%d bytes)", eh, err, len(empty))
			}
			if r, err := Records(empty); err != nil || len(r) != 0 {
				t.Fatalf("empty batch records: %v %v", r, err)
			}
		})
	}
}

func TestBuildSparseRejectsBadDeltas(t *testing.T) {
	h := Header{BaseOffset: 5, LastOffsetDelta: 3, ProducerID: -1, BaseSequence: -1, ProducerEpoch: -1}
	for _, deltas := range [][]int32{{1, 1}, {2, 1}, {4}} {
		var recs []Record
		for _, d := range deltas {
			recs = append(recs, Record{OffsetDelta: d, Key: []byte("k")})
		}
		if _, err := BuildSparse(h, recs); err == nil {
			t.Errorf("deltas %v accepted", deltas)
		}
	}
}

func TestDeleteHorizon(t *testing.T) {
	spec := testSpec(CodecNone)
	spec.Attributes |= AttrDeleteHorizon
	spec.BaseTimestamp = 12345
	h, err := Check(buildT(t, spec, testRecords(2)))
	if err != nil {
		t.Fatal(err)
	}
	if at, ok := h.DeleteHorizon(); !ok || at != 12345 {
		t.Fatalf("horizon %d %v", at, ok)
	}
	h.Attributes &^= AttrDeleteHorizon
	if _, ok := h.DeleteHorizon(); ok {
		t.Fatal("horizon without the attribute bit")
	}
}
