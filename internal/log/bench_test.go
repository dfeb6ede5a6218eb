package log

import (
	"io"
	"net"
	"testing"

	"github.com/quillstream/quill/internal/record"
)

// batchOf builds a ~16 KiB batch of recSize-byte records.
func batchOf(b *testing.B, recSize int) []byte {
	n := (16 << 10) / (recSize + 10)
	return mkBatch(b, n, recSize, 1)
}

func BenchmarkAppend(b *testing.B) {
	for _, bc := range []struct {
		name string
		size int
	}{{"100B", 100}, {"1KiB", 1024}} {
		b.Run(bc.name, func(b *testing.B) {
			batch := batchOf(b, bc.size)
			l := openT(b, b.TempDir(), testConfig(), Options{})
			defer l.Close()
			h, _ := record.ParseHeader(batch)
			b.SetBytes(int64(len(batch)))
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if _, err := l.AppendLeader(batch, 1); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)*float64(h.NumRecords)/b.Elapsed().Seconds(), "records/s")
		})
	}
}

// benchLog fills a 64 MiB segment with ~1 KiB batches.
func benchLog(b *testing.B) (*Log, int64) {
	cfg := testConfig()
	l := openT(b, b.TempDir(), cfg, Options{})
	batch := mkBatch(b, 8, 100, 1)
	for range (64 << 20) / len(batch) {
		if _, err := l.AppendLeader(batch, 1); err != nil {
			b.Fatal(err)
		}
	}
	return l, l.LogEndOffset()
}

func BenchmarkIndexLookup(b *testing.B) {
	l, leo := benchLog(b)
	defer l.Close()
	seg := l.mu.segs[0]
	b.ReportAllocs()
	b.ResetTimer()
	off := int64(0)
	for range b.N {
		off = (off + 7919*8) % leo
		if _, _, found, err := seg.translate(off, 0, seg.size); err != nil || !found {
			b.Fatal(off, err)
		}
	}
}

func BenchmarkRead(b *testing.B) {
	l, leo := benchLog(b)
	defer l.Close()
	b.Run("Read1MiB", func(b *testing.B) {
		b.ReportAllocs()
		off := int64(0)
		for range b.N {
			off = (off + 7919*8) % leo
			s, err := l.Read(off, 1<<20, leo, true)
			if err != nil || s.Size == 0 {
				b.Fatal(err)
			}
		}
	})
	// Serving 1 MiB reads to a TCP socket: sendfile vs. a positional copy.
	for _, mode := range []string{"sendfile", "copy"} {
		b.Run("WriteTo1MiB-"+mode, func(b *testing.B) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Skip(err)
			}
			defer ln.Close()
			go func() {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				io.Copy(io.Discard, c)
				c.Close()
			}()
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			var w io.Writer = c
			if mode == "copy" {
				w = struct{ io.Writer }{c} // hides syscall.Conn and ReadFrom
			}
			b.SetBytes(1 << 20)
			b.ReportAllocs()
			b.ResetTimer()
			off := int64(0)
			for range b.N {
				off = (off + 7919*8) % (leo / 2)
				s, err := l.Read(off, 1<<20, leo, true)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := s.WriteTo(w); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkRecover measures an unclean open that re-checks a 64 MiB
// segment of ~1 KiB batches.
func BenchmarkRecover(b *testing.B) {
	l, _ := benchLog(b)
	dir := l.Dir()
	size := l.Size()
	l.Close()
	b.SetBytes(size)
	b.ResetTimer()
	for range b.N {
		l := openT(b, dir, testConfig(), Options{})
		l.Close()
	}
}
