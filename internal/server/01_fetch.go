package server

// Fetch, versions 4-16 (0-3 were removed in Kafka 4.0). Topics by name
// before v13, by id from v13. Sessions from v7 (fetch_session.go).
//
// Byte limits follow KIP-74: partitions are read in order within the
// response-level MaxBytes and each partition's own MaxBytes, except that the
// first partition with data returns at least one whole batch. The long poll
// waits on appends to the fetched partitions (replica.Waiter), never on a
// timer loop: it returns when MinBytes are available, MaxWait passes, or the
// server shuts down.

import (
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	qlog "github.com/quillstream/quill/internal/log"
	"github.com/quillstream/quill/internal/metadata"
	"github.com/quillstream/quill/internal/replica"
)

func (s *Server) handleFetch(r *request, req *kmsg.FetchRequest) (kmsg.Response, error) {
	if id := replicaIDOf(r.version, req); id >= 0 {
		return s.handleReplicaFetch(r, req, id) // 01_fetch_replica.go
	}
	resp := req.ResponseKind().(*kmsg.FetchResponse)
	img := s.ctrl.Image()
	useIDs := r.version >= 13

	// Resolve the partitions this request fetches, in order.
	var sess *fetchSession
	var parts []*sessPart
	incremental := false
	var idErrs []sessPart // topic ids we could not resolve (v13+)
	reqParts := func() []sessPart {
		var out []sessPart
		for _, rt := range req.Topics {
			name := rt.Topic
			if useIDs {
				t := img.TopicIDs[metadata.UUID(rt.TopicID)]
				if t == nil {
					for _, rp := range rt.Partitions {
						idErrs = append(idErrs, sessPart{topicID: rt.TopicID, partition: rp.Partition})
					}
					continue
				}
				name = t.Name
			}
			for _, rp := range rt.Partitions {
				out = append(out, sessPart{
					topic: name, topicID: rt.TopicID, partition: rp.Partition,
					fetchOffset: rp.FetchOffset, maxBytes: rp.PartitionMaxBytes, leaderEpoch: rp.CurrentLeaderEpoch,
				})
			}
		}
		return out
	}
	switch {
	case r.version < 7 || (req.SessionID == 0 && req.SessionEpoch == -1):
		for _, p := range reqParts() {
			parts = append(parts, &p)
		}
	case req.SessionEpoch == -1: // close the session, then a full fetch
		s.sessions.remove(req.SessionID)
		for _, p := range reqParts() {
			parts = append(parts, &p)
		}
	case req.SessionEpoch == 0: // (re)create
		if req.SessionID != 0 {
			s.sessions.remove(req.SessionID)
		}
		sess = s.sessions.create()
		sess.mu.Lock()
		for _, p := range reqParts() {
			sess.upsert(p)
		}
		parts = sess.parts
	default:
		var err error
		sess, err = s.sessions.get(req.SessionID, req.SessionEpoch)
		if err != nil {
			resp.ErrorCode = errorCode(err)
			return resp, nil
		}
		incremental = true
		for _, p := range reqParts() {
			sess.upsert(p)
		}
		for _, f := range req.ForgottenTopics {
			name := f.Topic
			if useIDs {
				if t := img.TopicIDs[metadata.UUID(f.TopicID)]; t != nil {
					name = t.Name
				}
			}
			for _, p := range f.Partitions {
				sess.forget(name, p)
			}
		}
		parts = sess.parts
	}
	if sess != nil {
		defer sess.mu.Unlock()
		sess.advance()
		resp.SessionID = sess.id
	}

	committed := req.IsolationLevel == 1
	maxWait := time.Duration(req.MaxWaitMillis) * time.Millisecond
	var deadline time.Time
	var waiter *replica.Waiter
	var waitingOn []*replica.Partition
	defer func() {
		for _, p := range waitingOn {
			p.RemoveWaiter(waiter)
		}
	}()
	for {
		img = s.ctrl.Image()
		results, bytes, urgent := s.readParts(img, parts, req, committed, incremental)
		done := urgent || maxWait <= 0 || bytes >= int(req.MinBytes) || bytes > 0 && req.MinBytes <= 0
		if !done && waiter == nil {
			// Register before re-reading, so an append between the read
			// and the wait is not missed.
			waiter = replica.NewWaiter()
			deadline = time.Now().Add(maxWait)
			for _, sp := range parts {
				if p := s.replicas.Get(sp.topic, sp.partition); p != nil {
					p.AddWaiter(waiter)
					waitingOn = append(waitingOn, p)
				}
			}
			continue
		}
		if !done {
			s.cfg.Observer.FetchWaiting(1)
			timer := time.NewTimer(time.Until(deadline))
			waitStart := time.Now()
			select {
			case <-waiter.C:
				timer.Stop()
				s.cfg.Observer.FetchWaiting(-1)
				r.waited += time.Since(waitStart)
				continue
			case <-timer.C:
				results, _, _ = s.readParts(img, parts, req, committed, incremental)
			case <-s.closing:
				timer.Stop()
			}
			r.waited += time.Since(waitStart)
			s.cfg.Observer.FetchWaiting(-1)
		}
		frame := &fetchFrame{FetchResponse: resp}
		s.fillFetchResponse(frame, results, useIDs, sess != nil)
		for _, e := range idErrs {
			rt := kmsg.NewFetchResponseTopic()
			rt.TopicID = e.topicID
			rp := kmsg.NewFetchResponseTopicPartition()
			rp.Partition = e.partition
			rp.ErrorCode = kerr.UnknownTopicID.Code
			rp.HighWatermark, rp.LastStableOffset, rp.LogStartOffset = -1, -1, -1
			rp.RecordBatches = []byte{}
			rt.Partitions = append(rt.Partitions, rp)
			resp.Topics = append(resp.Topics, rt)
			frame.recs = append(frame.recs, qlog.Slice{})
		}
		s.fetchLeaderHints(r, resp) // leader_hints.go
		return frame, nil
	}
}

// partResult is one partition's part of a fetch response.
type partResult struct {
	sp       *sessPart
	err      int16
	hw, lso  int64
	logStart int64
	records  qlog.Slice // still in the segment file (fetch_write.go)
	epoch    int32
	aborted  []kmsg.FetchResponseTopicPartitionAbortedTransaction // read_committed (txn_fetch.go)
}

// readParts reads every partition once. urgent reports errors, which
// answer a long poll at once. For incremental sessions unchanged
// partitions are left out.
func (s *Server) readParts(img *metadata.Image, parts []*sessPart, req *kmsg.FetchRequest, committed, incremental bool) ([]partResult, int, bool) {
	out := make([]partResult, 0, len(parts))
	remaining := int(req.MaxBytes)
	if remaining <= 0 {
		remaining = 1 << 30
	}
	total := 0
	urgent := false
	for _, sp := range parts {
		res := partResult{sp: sp, hw: -1, lso: -1, logStart: -1}
		res.err = s.readPart(img, sp, &res, committed, remaining, total == 0)
		if res.err != 0 {
			urgent = true
		}
		total += int(res.records.Size)
		remaining -= int(res.records.Size)
		if incremental && sp.sent && res.err == 0 && res.records.Size == 0 &&
			res.hw == sp.hw && res.lso == sp.lso && res.logStart == sp.logStart {
			continue
		}
		out = append(out, res)
	}
	return out, total, urgent
}

func (s *Server) readPart(img *metadata.Image, sp *sessPart, res *partResult, committed bool, remaining int, first bool) int16 {
	t := img.Topics[sp.topic]
	if t == nil || sp.partition < 0 || int(sp.partition) >= len(t.Partitions) {
		return kerr.UnknownTopicOrPartition.Code
	}
	p := s.replicas.Get(sp.topic, sp.partition)
	if p == nil || t.Partitions[sp.partition].Leader != s.cfg.NodeID {
		return kerr.NotLeaderForPartition.Code
	}
	epoch := p.LeaderEpoch()
	if sp.leaderEpoch >= 0 {
		if sp.leaderEpoch < epoch {
			return kerr.FencedLeaderEpoch.Code
		}
		if sp.leaderEpoch > epoch {
			return kerr.UnknownLeaderEpoch.Code
		}
	}
	l := p.Log()
	res.hw, res.lso, res.logStart = p.HighWatermark(), p.LastStableOffset(), l.LogStartOffset()
	if sp.fetchOffset < res.logStart || sp.fetchOffset > l.LogEndOffset() {
		return kerr.OffsetOutOfRange.Code
	}
	limit := int(sp.maxBytes)
	if remaining < limit {
		limit = remaining
	}
	if limit <= 0 && !first {
		return 0
	}
	slice, err := p.Read(sp.fetchOffset, max(limit, 0), first, committed)
	if err != nil {
		return errorCode(err)
	}
	if slice.Size > 0 {
		res.records = slice
		if committed {
			res.aborted = abortedInRange(p, min(slice.Offset, sp.fetchOffset))
		}
	}
	return 0
}

func (s *Server) fillFetchResponse(frame *fetchFrame, results []partResult, useIDs, session bool) {
	resp := frame.FetchResponse
	var cur *kmsg.FetchResponseTopic
	for i := range results {
		res := &results[i]
		sp := res.sp
		if cur == nil || cur.Topic != sp.topic {
			resp.Topics = append(resp.Topics, kmsg.NewFetchResponseTopic())
			cur = &resp.Topics[len(resp.Topics)-1]
			cur.Topic = sp.topic
			cur.TopicID = sp.topicID
		}
		rp := kmsg.NewFetchResponseTopicPartition()
		rp.Partition = sp.partition
		rp.ErrorCode = res.err
		rp.HighWatermark, rp.LastStableOffset, rp.LogStartOffset = res.hw, res.lso, res.logStart
		rp.RecordBatches = []byte{}
		frame.recs = append(frame.recs, res.records)
		rp.PreferredReadReplica = -1
		rp.AbortedTransactions = res.aborted
		if res.records.Size > 0 {
			s.cfg.Observer.Fetched(sp.topic, sp.partition, int(res.records.End-max(res.records.Offset, sp.fetchOffset)), int(res.records.Size))
		}
		cur.Partitions = append(cur.Partitions, rp)
		if session {
			sp.sent = true
			sp.hw, sp.lso, sp.logStart, sp.lastErr = res.hw, res.lso, res.logStart, res.err
		}
	}
}
