package server

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	qlog "github.com/quillstream/quill/internal/log"
)

// randomFetchResponse builds a response with what the handler can put in
// one: several topics and partitions, errors, a session, aborted
// transactions (nil, empty, some), record bytes (empty, some) and, from
// v12, the partition tagged fields.
func randomFetchResponse(rng *rand.Rand, version int16) *kmsg.FetchResponse {
	resp := kmsg.NewPtrFetchResponse()
	resp.Version = version
	resp.ThrottleMillis = rng.Int32N(100)
	if rng.IntN(2) == 0 {
		resp.SessionID = rng.Int32()
	}
	if rng.IntN(5) == 0 {
		resp.ErrorCode = 71 // INVALID_FETCH_SESSION_EPOCH
	}
	for ti := range rng.IntN(4) {
		t := kmsg.NewFetchResponseTopic()
		t.Topic = string(rune('a'+ti)) + "-topic"
		t.TopicID = [16]byte{byte(ti), 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, byte(rng.IntN(256))}
		for pi := range 1 + rng.IntN(5) {
			p := kmsg.NewFetchResponseTopicPartition()
			p.Partition = int32(pi)
			p.HighWatermark = rng.Int64N(1 << 40)
			p.LastStableOffset = p.HighWatermark - rng.Int64N(10)
			p.LogStartOffset = rng.Int64N(100)
			p.PreferredReadReplica = -1
			p.RecordBatches = []byte{}
			switch rng.IntN(4) {
			case 0:
				p.ErrorCode = 6 // NOT_LEADER_OR_FOLLOWER
				p.HighWatermark, p.LastStableOffset, p.LogStartOffset = -1, -1, -1
			case 1:
				p.RecordBatches = make([]byte, rng.IntN(300))
				for i := range p.RecordBatches {
					p.RecordBatches[i] = byte(rng.IntN(256))
				}
			}
			switch rng.IntN(3) {
			case 1:
				p.AbortedTransactions = []kmsg.FetchResponseTopicPartitionAbortedTransaction{}
			case 2:
				for range 1 + rng.IntN(3) {
					a := kmsg.NewFetchResponseTopicPartitionAbortedTransaction()
					a.ProducerID, a.FirstOffset = rng.Int64N(1000), rng.Int64N(1<<30)
					p.AbortedTransactions = append(p.AbortedTransactions, a)
				}
			}
			if version >= 12 && rng.IntN(3) == 0 {
				p.DivergingEpoch.Epoch, p.DivergingEpoch.EndOffset = 3, 1234
			}
			if version >= 12 && rng.IntN(3) == 0 {
				p.CurrentLeader.LeaderID, p.CurrentLeader.LeaderEpoch = 1, 7
			}
			if version >= 12 && rng.IntN(4) == 0 {
				p.SnapshotID.EndOffset, p.SnapshotID.Epoch = 99, 2
			}
			if rng.IntN(8) == 0 {
				p.PreferredReadReplica = 2
			}
			t.Partitions = append(t.Partitions, p)
		}
		resp.Topics = append(resp.Topics, t)
	}
	return resp
}

// The framing encoder writes exactly what kmsg writes, for every version
// Fetch serves, and kmsg decodes it back to the same response.
func TestFetchBodyMatchesKmsg(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for v := int16(4); v <= 16; v++ {
		for i := range 200 {
			resp := randomFetchResponse(rng, v)
			want := resp.AppendTo(nil)
			got, marks, ok := appendFetchBody(nil, resp, nil, nil)
			if !ok || len(marks) != 0 {
				t.Fatalf("v%d #%d: ok=%v marks=%d", v, i, ok, len(marks))
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("v%d #%d: encoding differs from kmsg\n got %x\nwant %x", v, i, got, want)
			}
			back := kmsg.NewPtrFetchResponse()
			back.Version = v
			if err := back.ReadFrom(got); err != nil {
				t.Fatalf("v%d #%d: kmsg cannot decode: %v", v, i, err)
			}
			wantBack := kmsg.NewPtrFetchResponse()
			wantBack.Version = v
			if err := wantBack.ReadFrom(want); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(back, wantBack) {
				t.Fatalf("v%d #%d: decoded responses differ", v, i)
			}
		}
	}
}

// What the encoder cannot write is left to kmsg.
func TestFetchBodyFallsBack(t *testing.T) {
	resp := kmsg.NewPtrFetchResponse()
	resp.Version = 16
	resp.Brokers = []kmsg.FetchResponseBroker{{NodeID: 1, Host: "h", Port: 9092}}
	if _, _, ok := appendFetchBody(nil, resp, nil, nil); ok {
		t.Fatal("NodeEndpoints encoded")
	}
	resp = kmsg.NewPtrFetchResponse()
	resp.Version = 12
	resp.UnknownTags.Set(9, []byte{1})
	if _, _, ok := appendFetchBody(nil, resp, nil, nil); ok {
		t.Fatal("unknown tags encoded")
	}
}

// segmentFile writes n random bytes to a file and returns it.
func segmentFile(t testing.TB, n int) (*os.File, []byte) {
	data := make([]byte, n)
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range data {
		data[i] = byte(rng.IntN(256))
	}
	f, err := os.Create(filepath.Join(t.TempDir(), "00000000000000000000.log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	if _, err := f.Write(data); err != nil {
		t.Fatal(err)
	}
	return f, data
}

// framePair returns both ends of a connection: a TCP loopback pair (the
// sendfile path) or a pipe (the copy path that TLS takes too).
func framePair(t *testing.T, tcp bool) (net.Conn, net.Conn) {
	if !tcp {
		a, b := net.Pipe()
		t.Cleanup(func() { a.Close(); b.Close() })
		return a, b
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	a, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	b := <-accepted
	t.Cleanup(func() { a.Close(); b.Close() })
	return b, a
}

// A zero-copy frame is byte for byte the frame of the kmsg path, on a
// socket (sendfile) and on a pipe (copy), with small (inlined) and large
// record slices.
func TestFetchZeroCopyFrameMatchesKmsg(t *testing.T) {
	f, data := segmentFile(t, 300<<10)
	for _, tcp := range []bool{true, false} {
		for v := int16(4); v <= 16; v++ {
			rng := rand.New(rand.NewPCG(uint64(v), 9))
			resp := randomFetchResponse(rng, v)
			var recs []qlog.Slice
			for ti := range resp.Topics {
				for pi := range resp.Topics[ti].Partitions {
					p := &resp.Topics[ti].Partitions[pi]
					p.RecordBatches = []byte{}
					var s qlog.Slice
					switch rng.IntN(3) {
					case 1: // inlined
						s = qlog.Slice{File: f, Pos: int64(rng.IntN(1000)), Size: int64(1 + rng.IntN(inlineSliceMax))}
					case 2: // sendfile
						s = qlog.Slice{File: f, Pos: int64(rng.IntN(1000)), Size: int64(inlineSliceMax + 1 + rng.IntN(200<<10))}
					}
					recs = append(recs, s)
				}
			}
			if v%2 == 0 && len(recs) > 0 {
				// Partitions past the end of recs (added after the handler,
				// like topics denied by ACLs) use their RecordBatches.
				recs = recs[:len(recs)-1]
			}
			// The reference: kmsg over the same bytes.
			ref := kmsg.NewPtrFetchResponse()
			*ref = *resp
			ref.Topics = nil
			i := 0
			for _, tp := range resp.Topics {
				tc := tp
				tc.Partitions = append([]kmsg.FetchResponseTopicPartition(nil), tp.Partitions...)
				for pi := range tc.Partitions {
					if i < len(recs) && recs[i].Size > 0 {
						s := recs[i]
						tc.Partitions[pi].RecordBatches = data[s.Pos : s.Pos+s.Size]
					}
					i++
				}
				ref.Topics = append(ref.Topics, tc)
			}
			body := ref.AppendTo(nil)
			want := binary.BigEndian.AppendUint32(nil, 0)
			want = binary.BigEndian.AppendUint32(want, 77)
			if v >= 12 {
				want = append(want, 0)
			}
			want = append(want, body...)
			binary.BigEndian.PutUint32(want, uint32(len(want)-4))

			server, client := framePair(t, tcp)
			c := &conn{nc: server, bw: bufio.NewWriterSize(server, 64<<10)}
			got := make(chan []byte, 1)
			go func() {
				var size [4]byte
				io.ReadFull(client, size[:])
				b := make([]byte, binary.BigEndian.Uint32(size[:]))
				io.ReadFull(client, b)
				got <- append(size[:], b...)
			}()
			done, err := c.writeFetch(&request{corr: 77, version: v}, &fetchFrame{FetchResponse: resp, recs: recs})
			if err == nil {
				err = c.bw.Flush()
			}
			if !done || err != nil {
				t.Fatalf("tcp=%v v%d: done=%v err=%v", tcp, v, done, err)
			}
			if g := <-got; !bytes.Equal(g, want) {
				t.Fatalf("tcp=%v v%d: frame differs from kmsg (%d vs %d bytes)", tcp, v, len(g), len(want))
			}
			// And the kmsg path of the same frame materializes the records.
			fr := &fetchFrame{FetchResponse: resp, recs: recs}
			if b := fr.AppendTo(nil); !bytes.Equal(b, body) {
				t.Fatalf("tcp=%v v%d: materialized kmsg encoding differs", tcp, v)
			}
		}
	}
}
