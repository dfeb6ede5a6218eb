package protowalk

import (
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// produceBody encodes a Produce v9 request carrying 1 MiB of record bytes
// split over partitions partitions of one topic.
func produceBody(partitions int) []byte {
	req := kmsg.NewPtrProduceRequest()
	req.Version = 9
	req.Acks = -1
	req.TimeoutMillis = 30000
	topic := kmsg.NewProduceRequestTopic()
	topic.Topic = "bench"
	for p := 0; p < partitions; p++ {
		part := kmsg.NewProduceRequestTopicPartition()
		part.Partition = int32(p)
		part.Records = make([]byte, (1<<20)/partitions)
		topic.Partitions = append(topic.Partitions, part)
	}
	req.Topics = append(req.Topics, topic)
	return req.AppendTo(nil)
}

// BenchmarkWalkProduce walks the request; BenchmarkKmsgProduce is what
// the server does next with it (kmsg decodes record bytes without
// copying them, so it too is cheap; the handler's batch validation is
// where the per-byte cost is).
func BenchmarkWalkProduce(b *testing.B) {
	for _, parts := range []int{1, 100, 1000} {
		body := produceBody(parts)
		b.Run(fmt.Sprintf("partitions=%d", parts), func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				if err := Request(0, 9, body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkKmsgProduce(b *testing.B) { benchKmsgProduce(b, false) }

// BenchmarkWalkKmsgProduce is the server's path: walk, then decode.
func BenchmarkWalkKmsgProduce(b *testing.B) { benchKmsgProduce(b, true) }

func benchKmsgProduce(b *testing.B, walk bool) {
	for _, parts := range []int{1, 100, 1000} {
		body := produceBody(parts)
		b.Run(fmt.Sprintf("partitions=%d", parts), func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				if walk {
					if err := Request(0, 9, body); err != nil {
						b.Fatal(err)
					}
				}
				req := kmsg.NewPtrProduceRequest()
				req.Version = 9
				if err := req.ReadFrom(body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
