package record

import (
	"fmt"
	"testing"
)

// benchRecords makes n records of about size bytes each, half random-ish
// and half repetitive, so that codecs see realistic (not ideal) input.
func benchRecords(n, size int) []Record {
	recs := make([]Record, n)
	seed := uint32(1)
	for i := range recs {
		v := make([]byte, size)
		for j := range v {
			if j < size/2 {
				seed = seed*1664525 + 1013904223
				v[j] = byte(seed >> 24)
			} else {
				v[j] = "quill-broker"[j%12]
			}
		}
		recs[i] = Record{TimestampDelta: int64(i), Key: []byte(fmt.Sprintf("key-%06d", i)), Value: v,
			Headers: []Header2{{Key: "trace", Value: []byte("abc")}}}
	}
	return recs
}

// batch16K is an uncompressed batch of about 16 KiB.
func batch16K(b *testing.B, c Codec) []byte {
	return buildT(b, testSpec(c), benchRecords(64, 220))
}

func BenchmarkValidateProduced(b *testing.B) {
	batch := batch16K(b, CodecNone)
	lim := ProduceLimits{MaxMessageBytes: 1048588, SegmentBytes: 1 << 30, AllowZstd: true}
	b.SetBytes(int64(len(batch)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ValidateProduced(batch, lim); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCRC is the floor ValidateProduced is measured against.
func BenchmarkCRC(b *testing.B) {
	batch := batch16K(b, CodecNone)
	b.SetBytes(int64(len(batch)))
	for b.Loop() {
		ComputeCRC(batch)
	}
}

func BenchmarkRecords(b *testing.B) {
	for _, c := range allCodecs {
		b.Run(c.String(), func(b *testing.B) {
			batch := batch16K(b, c)
			raw := len(encodeRecs(benchRecords(64, 220)))
			b.SetBytes(int64(raw)) // MB/s of decoded records
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Records(batch); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkBuild(b *testing.B) {
	recs := benchRecords(64, 220)
	raw := len(encodeRecs(recs))
	for _, c := range allCodecs {
		b.Run(c.String(), func(b *testing.B) {
			b.SetBytes(int64(raw))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Build(testSpec(c), recs); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkHasKeys(b *testing.B) {
	batch := batch16K(b, CodecNone)
	b.SetBytes(int64(len(batch)))
	b.ReportAllocs()
	for b.Loop() {
		if ok, err := HasKeys(batch); !ok || err != nil {
			b.Fatal(ok, err)
		}
	}
}

func BenchmarkRebuild(b *testing.B) {
	batch := batch16K(b, CodecNone)
	b.SetBytes(int64(len(batch)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Rebuild(batch, CodecLz4); err != nil {
			b.Fatal(err)
		}
	}
}
