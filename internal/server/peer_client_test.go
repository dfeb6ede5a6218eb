package server

import (
	"bytes"
	"context"
	"encoding/binary"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// frame encodes resp as a broker would answer correlation id corr.
func frame(resp kmsg.Response, corr int32) []byte {
	body := []byte{0, 0, 0, 0}
	binary.BigEndian.PutUint32(body, uint32(corr))
	if resp.IsFlexible() {
		body = append(body, 0) // no header tags
	}
	body = resp.AppendTo(body)
	out := binary.BigEndian.AppendUint32(nil, uint32(len(body)))
	return append(out, body...)
}

func markersResp(code int16) *kmsg.WriteTxnMarkersResponse {
	resp := kmsg.NewPtrWriteTxnMarkersResponse()
	resp.SetVersion(1)
	rm := kmsg.NewWriteTxnMarkersResponseMarker()
	rm.ProducerID = 7
	rt := kmsg.NewWriteTxnMarkersResponseMarkerTopic()
	rt.Topic = "t"
	rp := kmsg.NewWriteTxnMarkersResponseMarkerTopicPartition()
	rp.Partition, rp.ErrorCode = 3, code
	rt.Partitions = append(rt.Partitions, rp)
	rm.Topics = append(rm.Topics, rt)
	resp.Markers = append(resp.Markers, rm)
	return resp
}

// Peers sends a request to a fake broker and reads its answer; after the
// broker drops the pooled connection, the next call dials again.
func TestPeersCall(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				var hdr [12]byte
				if _, err := c.Read(hdr[:]); err != nil {
					return
				}
				// size(4) key(2) version(2) corr(4)
				corr := int32(binary.BigEndian.Uint32(hdr[8:]))
				c.Write(frame(markersResp(0), corr))
				// one request per connection: the pool's reuse fails
				// and Call dials again.
			}()
		}
	}()
	p := &Peers{Addr: func(int32) (string, bool) { return ln.Addr().String(), true }, ClientID: "test"}
	defer p.Close()
	for i := range 3 {
		req := kmsg.NewPtrWriteTxnMarkersRequest()
		req.SetVersion(1)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		resp, err := p.Call(ctx, 2, req)
		cancel()
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		r := resp.(*kmsg.WriteTxnMarkersResponse)
		if len(r.Markers) != 1 || r.Markers[0].Topics[0].Partitions[0].Partition != 3 {
			t.Fatalf("call %d: %+v", i, r)
		}
	}
}

func FuzzReadPeerResponse(f *testing.F) {
	f.Add(frame(markersResp(0), 1))
	f.Add(frame(markersResp(6), 1))
	add := kmsg.NewPtrAddPartitionsToTxnResponse()
	add.SetVersion(4)
	f.Add(frame(add, 1))
	f.Add([]byte{0, 0, 0, 5, 0, 0, 0, 1, 0x80})
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, req := range []kmsg.Request{
			func() kmsg.Request { r := kmsg.NewPtrWriteTxnMarkersRequest(); r.SetVersion(1); return r }(),
			func() kmsg.Request { r := kmsg.NewPtrAddPartitionsToTxnRequest(); r.SetVersion(4); return r }(),
		} {
			readPeerResponse(bytes.NewReader(b), req, 1)
		}
	})
}

// Real responses pass the structural check; a huge tag count (which
// kmsg would loop over) is refused.
func TestReadPeerResponseValidates(t *testing.T) {
	add := kmsg.NewPtrAddPartitionsToTxnResponse()
	add.SetVersion(4)
	tx := kmsg.NewAddPartitionsToTxnResponseTransaction()
	tx.TransactionalID = "tx"
	tt := kmsg.NewAddPartitionsToTxnResponseTransactionTopic()
	tt.Topic = "t"
	tp := kmsg.NewAddPartitionsToTxnResponseTransactionTopicPartition()
	tp.Partition, tp.ErrorCode = 2, 48
	tt.Partitions = append(tt.Partitions, tp)
	tx.Topics = append(tx.Topics, tt)
	add.Transactions = append(add.Transactions, tx)
	req := kmsg.NewPtrAddPartitionsToTxnRequest()
	req.SetVersion(4)
	resp, err := readPeerResponse(bytes.NewReader(frame(add, 1)), req, 1)
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.(*kmsg.AddPartitionsToTxnResponse); verifyAnswer(got, "tx", "t", 2) == nil {
		t.Fatalf("decoded %+v", got)
	}
	wreq := kmsg.NewPtrWriteTxnMarkersRequest()
	wreq.SetVersion(1)
	if _, err := readPeerResponse(bytes.NewReader(frame(markersResp(0), 1)), wreq, 1); err != nil {
		t.Fatal(err)
	}
	// No markers, then a top-level tag count of 2^32-1.
	bad := []byte{0, 0, 0, 11, 0, 0, 0, 1, 0, 1, 0xff, 0xff, 0xff, 0xff, 0x0f}
	if _, err := readPeerResponse(bytes.NewReader(bad), wreq, 1); err == nil {
		t.Fatal("huge tag count accepted")
	}
}
