package interbroker

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// fetchResponseFrame encodes a Fetch v12 response frame with one
// partition; tagCount replaces the body's final (empty) tag section.
func fetchResponseFrame(corr int32, tagCount []byte) []byte {
	resp := kmsg.NewPtrFetchResponse()
	resp.Version = 12
	topic := kmsg.NewFetchResponseTopic()
	topic.Topic = "t"
	part := kmsg.NewFetchResponseTopicPartition()
	part.RecordBatches = []byte("records")
	topic.Partitions = append(topic.Partitions, part)
	resp.Topics = append(resp.Topics, topic)
	body := resp.AppendTo(nil)
	body = append(body[:len(body)-1], tagCount...)
	frame := binary.BigEndian.AppendUint32(nil, uint32(4+1+len(body)))
	frame = binary.BigEndian.AppendUint32(frame, uint32(corr))
	frame = append(frame, 0) // response header tags
	return append(frame, body...)
}

// TestFetchResponseHugeTagCount: a follower's Fetch response whose tag
// count is 2^32-1 (which kmsg would loop on for a minute and a half) is
// refused before kmsg decodes it; a well-formed one still decodes.
func TestFetchResponseHugeTagCount(t *testing.T) {
	req := kmsg.NewPtrFetchRequest()
	req.Version = 12
	resp, err := readResponse(bytes.NewReader(fetchResponseFrame(5, []byte{0})), req, 5)
	if err != nil {
		t.Fatalf("well-formed response: %v", err)
	}
	if f := resp.(*kmsg.FetchResponse); len(f.Topics) != 1 || string(f.Topics[0].Partitions[0].RecordBatches) != "records" {
		t.Fatalf("decoded %+v", f)
	}
	if _, err := readResponse(bytes.NewReader(fetchResponseFrame(6, []byte{0xff, 0xff, 0xff, 0xff, 0x0f})), req, 6); err == nil {
		t.Fatal("response with a tag count of 2^32-1 accepted")
	}
}
