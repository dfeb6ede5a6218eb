package server

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	qlog "github.com/quillstream/quill/internal/log"
)

// BenchmarkFetchWrite writes a Fetch v13 response of 8 partitions to a TCP
// loopback connection drained by another goroutine: zero-copy (framing
// through the buffer, records with sendfile or, when small, a pread into
// the buffer) against the kmsg path (records read into memory, encoded,
// copied to the socket). Sizes are per partition.
//
//	go test ./internal/server -run '^$' -bench FetchWrite -benchmem
func BenchmarkFetchWrite(b *testing.B) {
	f, _ := segmentFile(b, 8<<20+4096)
	for _, size := range []int{4 << 10, 64 << 10, 1 << 20} {
		for _, zc := range []bool{true, false} {
			name := "kmsg"
			if zc {
				name = "zerocopy"
			}
			b.Run(fmt.Sprintf("%s/%dKiB", name, size>>10), func(b *testing.B) {
				benchFetchWrite(b, f, size, zc)
			})
		}
	}
}

func benchFetchWrite(b *testing.B, seg *os.File, size int, zc bool) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
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
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	c := &conn{nc: nc, bw: bufio.NewWriterSize(nc, 64<<10)}
	old := zeroCopyFetch
	zeroCopyFetch = zc
	defer func() { zeroCopyFetch = old }()
	b.SetBytes(int64(8 * size))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		resp := kmsg.NewPtrFetchResponse()
		resp.Version = 13
		frame := &fetchFrame{FetchResponse: resp}
		t := kmsg.NewFetchResponseTopic()
		for p := range 8 {
			rp := kmsg.NewFetchResponseTopicPartition()
			rp.Partition = int32(p)
			rp.RecordBatches = []byte{}
			t.Partitions = append(t.Partitions, rp)
			frame.recs = append(frame.recs, qlog.Slice{File: seg, Pos: int64(p * size), Size: int64(size)})
		}
		resp.Topics = append(resp.Topics, t)
		if err := c.writeResponse(&request{corr: 1, version: 13}, frame); err != nil {
			b.Fatal(err)
		}
		if err := c.bw.Flush(); err != nil {
			b.Fatal(err)
		}
	}
}
