package server

// Produce, versions 0-11. v0-2 carry the old message formats, which Quill
// does not store: their batches fail with UNSUPPORTED_FOR_MESSAGE_FORMAT
// (the range starts at 0 because librdkafka before 2.11.1 only compresses
// when Produce v0 is advertised). v3+ must carry exactly one v2 batch per
// partition. acks=0 gets no response; if anything fails the connection is
// closed so the client notices.
//
// The batch stays opaque on the fast path: header parsed, CRC checked,
// offset and epoch stamped, appended (see replica.Partition.AppendProduce).

import (
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/quillstream/quill/internal/record"
	"github.com/quillstream/quill/internal/replica"
)

func (s *Server) handleProduce(r *request, req *kmsg.ProduceRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.ProduceResponse)
	failed := false
	badAcks := req.Acks != 0 && req.Acks != 1 && req.Acks != -1
	img := s.ctrl.Image()
	// Appends to flush.messages=1 topics, acknowledged after one grouped
	// fsync once every partition of the request is appended.
	type fsyncWait struct {
		ti, pi int
		p      *replica.Partition
		res    replica.AppendResult
	}
	var waits []fsyncWait
	var acked []ackWait // acks=all: wait for the ISR (00_produce_acks.go)
	for _, rt := range req.Topics {
		st := kmsg.NewProduceResponseTopic()
		st.Topic = rt.Topic
		st.TopicID = rt.TopicID
		t := img.Topics[rt.Topic]
		for _, rp := range rt.Partitions {
			sp := kmsg.NewProduceResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.BaseOffset = -1
			sp.LogAppendTime = -1
			sp.LogStartOffset = -1
			var err error
			switch {
			case badAcks:
				err = kerr.InvalidRequiredAcks
			case t == nil || rp.Partition < 0 || int(rp.Partition) >= len(t.Partitions):
				err = kerr.UnknownTopicOrPartition
			case t.Internal:
				err = kerr.InvalidTopicException
			default:
				p := s.replicas.Get(rt.Topic, rp.Partition)
				pm := t.Partitions[rp.Partition]
				switch {
				case p == nil || pm.Leader != s.cfg.NodeID:
					err = kerr.NotLeaderForPartition
				case req.Acks == -1 && len(pm.ISR) < p.Settings().MinInsyncReplicas:
					err = kerr.NotEnoughReplicas
				case r.version < 3 || record.BatchSize(rp.Records) != len(rp.Records):
					err = oneBatchError(r.version, rp.Records)
				default:
					var res replica.AppendResult
					n, size := batchCount(rp.Records), len(rp.Records)
					if err = s.verifyTxnAppend(r.version, req.TransactionID, rt.Topic, p, rp.Records); err == nil { // txn.go
						res, err = p.AppendProduce(rp.Records, r.version >= 7)
					}
					if err == nil && res.AwaitsFsync() {
						waits = append(waits, fsyncWait{len(resp.Topics), len(st.Partitions), p, res})
					}
					if err == nil {
						s.cfg.Observer.Produced(rt.Topic, rp.Partition, n, size)
					}
					if err == nil && req.Acks == -1 {
						acked = append(acked, ackWait{len(resp.Topics), len(st.Partitions), p, res.BaseOffset + int64(n)})
					}
					sp.BaseOffset, sp.LogAppendTime, sp.LogStartOffset = res.BaseOffset, res.LogAppendTime, res.LogStartOffset
				}
			}
			if err != nil {
				failed = true
				sp.ErrorCode, sp.ErrorMessage = errorCodeMessage(err)
				if r.version < 8 {
					sp.ErrorMessage = nil
				}
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	for _, w := range waits {
		if err := w.p.AwaitDurable(w.res); err != nil {
			failed = true
			sp := &resp.Topics[w.ti].Partitions[w.pi]
			sp.BaseOffset, sp.LogAppendTime, sp.LogStartOffset = -1, -1, -1
			sp.ErrorCode, sp.ErrorMessage = errorCodeMessage(err)
			if r.version < 8 {
				sp.ErrorMessage = nil
			}
		}
	}
	if len(acked) > 0 {
		s.awaitReplicas(r, req, resp, acked)
	}
	s.produceLeaderHints(r, resp) // leader_hints.go
	if req.Acks == 0 {
		if failed {
			return nil, errors.New("acks=0 produce failed")
		}
		return nil, nil
	}
	return resp, nil
}

func batchCount(b []byte) int {
	h, err := record.ParseHeader(b)
	if err != nil {
		return 0
	}
	return int(h.NumRecords)
}

func oneBatchError(version int16, b []byte) error {
	if version < 3 {
		return &record.Error{Kafka: kerr.UnsupportedForMessageFormat, Reason: "message format v0/v1 is not supported; use Produce v3+ with record batch v2"}
	}
	if len(b) < record.HeaderSize {
		return &record.Error{Kafka: kerr.CorruptMessage, Reason: "records shorter than a batch header"}
	}
	return &record.Error{Kafka: kerr.InvalidRecord, Reason: "Produce v3+ must carry exactly one record batch per partition"}
}

// errorCodeMessage maps an error to a Kafka code and message.
func errorCodeMessage(err error) (int16, *string) {
	var ke *kerr.Error
	if !errors.As(err, &ke) {
		ke = kerr.UnknownServerError
	}
	msg := err.Error()
	return ke.Code, &msg
}

func errorCode(err error) int16 {
	if err == nil {
		return 0
	}
	c, _ := errorCodeMessage(err)
	return c
}
