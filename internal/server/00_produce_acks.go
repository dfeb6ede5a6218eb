package server

// acks=all in a cluster: after appending, the Produce request waits until
// the high watermark covers every appended batch (the ISR has it), up to
// the request's timeout: REQUEST_TIMED_OUT then, as Kafka's delayed
// produce purgatory; NOT_ENOUGH_REPLICAS_AFTER_APPEND if the ISR shrank
// below min.insync.replicas meanwhile; NOT_LEADER_OR_FOLLOWER if this
// broker lost the leadership. A single-node broker never waits: its high
// watermark is its log end.

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/quillstream/quill/internal/replica"
)

type ackWait struct {
	ti, pi int
	p      *replica.Partition
	end    int64 // the high watermark that covers the batch
}

func (s *Server) awaitReplicas(r *request, req *kmsg.ProduceRequest, resp *kmsg.ProduceResponse, waits []ackWait) {
	timeout := time.Duration(req.TimeoutMillis) * time.Millisecond
	if timeout <= 0 {
		timeout = time.Millisecond
	}
	ctx, cancel := context.WithTimeout(s.ctx, timeout)
	defer cancel()
	s.cfg.Observer.ProduceWaiting(1)
	defer s.cfg.Observer.ProduceWaiting(-1)
	waitStart := time.Now()
	defer func() { r.waited += time.Since(waitStart) }()
	for _, w := range waits {
		sp := &resp.Topics[w.ti].Partitions[w.pi]
		if sp.ErrorCode != 0 {
			continue
		}
		if err := w.p.WaitHighWatermark(ctx, w.end, w.p.Settings().MinInsyncReplicas); err != nil {
			sp.ErrorCode, sp.ErrorMessage = errorCodeMessage(err)
			if r.version < 8 {
				sp.ErrorMessage = nil
			}
		}
	}
}
