package server

import (
	"encoding/binary"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/quillstream/quill/internal/protowalk"
)

// decodeFrame is what conn.handle does with a frame before dispatch:
// parse the header, then decode the body with kmsg.
func decodeFrame(frame []byte) (kmsg.Request, error) {
	r, body, err := parseHeader(frame, func(key, version int16) bool {
		req := kmsg.RequestForKey(key)
		if req == nil {
			return false
		}
		req.SetVersion(version)
		return req.IsFlexible()
	})
	if err != nil {
		return nil, err
	}
	req := kmsg.RequestForKey(r.key)
	if req == nil || r.version < 0 || r.version > req.MaxVersion() {
		return nil, errCloseConn
	}
	req.SetVersion(r.version)
	if err := protowalk.Request(r.key, r.version, body); err != nil {
		return req, err
	}
	return req, req.ReadFrom(body)
}

func frameFor(req kmsg.Request, version int16, clientID string) []byte {
	req.SetVersion(version)
	b := binary.BigEndian.AppendUint16(nil, uint16(req.Key()))
	b = binary.BigEndian.AppendUint16(b, uint16(version))
	b = binary.BigEndian.AppendUint32(b, 7)
	b = binary.BigEndian.AppendUint16(b, uint16(len(clientID)))
	b = append(b, clientID...)
	if req.IsFlexible() {
		b = append(b, 0)
	}
	return req.AppendTo(b)
}

func TestDecodeFrameRoundTrip(t *testing.T) {
	topic := "orders"
	md := kmsg.NewPtrMetadataRequest()
	md.Topics = []kmsg.MetadataRequestTopic{{Topic: &topic}}
	for _, v := range []int16{0, 4, 9, 12} {
		req, err := decodeFrame(frameFor(md, v, "client-1"))
		if err != nil {
			t.Fatalf("v%d: %v", v, err)
		}
		got := req.(*kmsg.MetadataRequest)
		if len(got.Topics) != 1 || *got.Topics[0].Topic != topic {
			t.Fatalf("v%d: decoded %+v", v, got.Topics)
		}
	}
}

func TestParseHeaderRejectsTruncation(t *testing.T) {
	full := frameFor(kmsg.NewPtrApiVersionsRequest(), 3, "abc")
	for n := 0; n < 10+3; n++ {
		if _, _, err := parseHeader(full[:n], func(int16, int16) bool { return true }); err == nil && n < 10+3 {
			t.Fatalf("header of %d bytes accepted", n)
		}
	}
}

// FuzzDecodeFrame feeds arbitrary frames through header parsing and kmsg
// decoding: errors are fine, panics are not.
func FuzzDecodeFrame(f *testing.F) {
	topic := "t"
	md := kmsg.NewPtrMetadataRequest()
	md.Topics = []kmsg.MetadataRequestTopic{{Topic: &topic}}
	f.Add(frameFor(md, 12, "c"))
	f.Add(frameFor(kmsg.NewPtrApiVersionsRequest(), 3, "c"))
	p := kmsg.NewPtrProduceRequest()
	p.Acks = -1
	p.Topics = []kmsg.ProduceRequestTopic{{Topic: "t", Partitions: []kmsg.ProduceRequestTopicPartition{{Partition: 0, Records: make([]byte, 70)}}}}
	f.Add(frameFor(p, 9, "c"))
	fe := kmsg.NewPtrFetchRequest()
	fe.Topics = []kmsg.FetchRequestTopic{{Topic: "t", Partitions: []kmsg.FetchRequestTopicPartition{{Partition: 0}}}}
	f.Add(frameFor(fe, 12, "c"))
	f.Fuzz(func(t *testing.T, frame []byte) {
		decodeFrame(frame)
	})
}
