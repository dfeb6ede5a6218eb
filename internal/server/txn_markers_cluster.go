package server

// Transaction markers in a cluster: the coordinator's markers go to each
// partition's current leader, local ones appended here and the others sent
// as WriteTxnMarkers v1 through a queue per destination broker: one
// request in flight per broker, carrying every transaction's markers queued
// meanwhile (Kafka's TransactionMarkerChannelManager). NOT_LEADER_OR_FOLLOWER, network errors,
// UNKNOWN_TOPIC_OR_PARTITION for a partition that still exists and the
// like are retried with a fresh metadata image for a bounded time; markers
// for partitions that no longer exist are dropped. What is still unwritten
// is reported to the coordinator, which keeps the transaction in Prepare*
// and retries in the background.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/quillstream/quill/internal/metadata"
	"github.com/quillstream/quill/internal/txn"
)

// ClusterTxnMarkers is the cluster's txn.MarkerWriter.
type ClusterTxnMarkers struct {
	// Local appends to partitions this broker leads.
	Local txn.MarkerWriter
	// Image is the current metadata image (the controller's).
	Image  func() *metadata.Image
	NodeID int32
	Peers  BrokerCaller
	// RetryFor bounds how long one WriteMarkers call keeps retrying
	// (an attempt in flight may take up to twice that); zero: 5 s.
	RetryFor time.Duration

	mu     sync.Mutex
	queues map[int32]*markerQueue // per destination broker; guarded by mu
}

var _ txn.BatchMarkerWriter = (*ClusterTxnMarkers)(nil)

// WriteMarker implements txn.MarkerWriter.
func (c *ClusterTxnMarkers) WriteMarker(ctx context.Context, m txn.Marker) error {
	return c.WriteMarkers(ctx, []txn.Marker{m})[0]
}

// errMarkerLeaderless is a marker's error while its partition has no leader.
var errMarkerLeaderless = fmt.Errorf("partition has no leader: %w", kerr.LeaderNotAvailable)

// WriteMarkers implements txn.BatchMarkerWriter: errs[i] is markers[i]'s
// outcome, nil when written (or moot).
func (c *ClusterTxnMarkers) WriteMarkers(ctx context.Context, markers []txn.Marker) []error {
	errs := make([]error, len(markers))
	pending := make([]int, len(markers))
	for i := range markers {
		pending[i] = i
	}
	retryFor := c.RetryFor
	if retryFor <= 0 {
		retryFor = 5 * time.Second
	}
	deadline := time.Now().Add(retryFor)
	// A call or a replication wait in flight may run past the retry
	// budget, but not much: the transaction's lock is held meanwhile.
	ctx, cancel := context.WithTimeout(ctx, 2*retryFor)
	defer cancel()
	backoff := 50 * time.Millisecond
	for {
		pending = c.attempt(ctx, markers, pending, errs)
		if len(pending) == 0 || ctx.Err() != nil || time.Now().Add(backoff).After(deadline) {
			return errs
		}
		select {
		case <-ctx.Done():
			return errs
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, time.Second)
	}
}

// attempt writes the markers at indexes idx once, routed by the current
// metadata image, and returns the indexes still to retry.
func (c *ClusterTxnMarkers) attempt(ctx context.Context, markers []txn.Marker, idx []int, errs []error) []int {
	img := c.Image()
	byLeader := map[int32][]int{}
	var retry []int
	for _, i := range idx {
		m := markers[i]
		t := img.Topics[m.Topic]
		switch {
		case t == nil || m.Partition < 0 || int(m.Partition) >= len(t.Partitions):
			errs[i] = nil // deleted: nothing to mark
		case t.Partitions[m.Partition].Leader < 0:
			errs[i] = errMarkerLeaderless
			retry = append(retry, i)
		default:
			l := t.Partitions[m.Partition].Leader
			byLeader[l] = append(byLeader[l], i)
		}
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for leader, is := range byLeader {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var failed []int
			if leader == c.NodeID {
				for _, i := range is {
					if errs[i] = c.Local.WriteMarker(ctx, markers[i]); errs[i] != nil {
						failed = append(failed, i)
					}
				}
			} else {
				failed = c.send(ctx, leader, markers, is, errs)
			}
			mu.Lock()
			retry = append(retry, failed...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	return retry
}

// markerKey groups markers of one transaction outcome in a request.
type markerKey struct {
	pid        int64
	epoch      int16
	commit     bool
	coordEpoch int32
}

// markerJob is one caller's markers for one broker, waiting in its queue.
// The sender sets errs and closes done; the caller reads errs only after.
type markerJob struct {
	markers []txn.Marker
	errs    []error
	done    chan struct{}
}

// markerQueue holds the jobs for one destination broker. One request is in
// flight per broker; jobs queued meanwhile (any transaction's) go out
// together in the next one, as Kafka's TransactionMarkerChannelManager
// batches per destination.
type markerQueue struct {
	mu      sync.Mutex
	pending []*markerJob // guarded by mu
	running bool         // a sender goroutine drains pending; guarded by mu
}

// send writes the markers at is to leader through its queue and returns
// the indexes that failed (errs set). Each goroutine of attempt owns its
// own indexes of errs.
func (c *ClusterTxnMarkers) send(ctx context.Context, leader int32, markers []txn.Marker, is []int, errs []error) []int {
	job := &markerJob{done: make(chan struct{})}
	for _, i := range is {
		job.markers = append(job.markers, markers[i])
	}
	c.queueFor(leader).add(c, leader, job)
	select {
	case <-job.done:
	case <-ctx.Done():
		for _, i := range is {
			errs[i] = fmt.Errorf("WriteTxnMarkers to broker %d: %w", leader, ctx.Err())
		}
		return is
	}
	var failed []int
	for j, i := range is {
		if errs[i] = job.errs[j]; errs[i] != nil {
			failed = append(failed, i)
		}
	}
	return failed
}

func (c *ClusterTxnMarkers) queueFor(node int32) *markerQueue {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.queues == nil {
		c.queues = map[int32]*markerQueue{}
	}
	q := c.queues[node]
	if q == nil {
		q = &markerQueue{}
		c.queues[node] = q
	}
	return q
}

// add queues job and starts a sender if none runs.
func (q *markerQueue) add(c *ClusterTxnMarkers, node int32, job *markerJob) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.pending = append(q.pending, job)
	if !q.running {
		q.running = true
		go q.drain(c, node)
	}
}

// drain sends the queued jobs, a batch per request, until none is left.
func (q *markerQueue) drain(c *ClusterTxnMarkers, node int32) {
	for {
		q.mu.Lock()
		jobs := q.pending
		q.pending = nil
		if len(jobs) == 0 {
			q.running = false
			q.mu.Unlock()
			return
		}
		q.mu.Unlock()
		c.sendJobs(node, jobs)
	}
}

// markerCallTimeout bounds one WriteTxnMarkers request (the leader waits
// for its ISR before answering).
const markerCallTimeout = 20 * time.Second

// sendJobs writes the jobs' markers with one WriteTxnMarkers v1 request to
// node and completes every job.
func (c *ClusterTxnMarkers) sendJobs(node int32, jobs []*markerJob) {
	req := kmsg.NewPtrWriteTxnMarkersRequest()
	req.SetVersion(1)
	slots := map[markerKey]int{}
	for _, job := range jobs {
		job.errs = make([]error, len(job.markers))
		for _, m := range job.markers {
			k := markerKey{m.ProducerID, m.ProducerEpoch, m.Commit, m.CoordinatorEpoch}
			mi, ok := slots[k]
			if !ok {
				rm := kmsg.NewWriteTxnMarkersRequestMarker()
				rm.ProducerID, rm.ProducerEpoch, rm.Committed, rm.CoordinatorEpoch = m.ProducerID, m.ProducerEpoch, m.Commit, m.CoordinatorEpoch
				req.Markers = append(req.Markers, rm)
				mi = len(req.Markers) - 1
				slots[k] = mi
			}
			rm := &req.Markers[mi]
			ti := slices.IndexFunc(rm.Topics, func(t kmsg.WriteTxnMarkersRequestMarkerTopic) bool { return t.Topic == m.Topic })
			if ti < 0 {
				rt := kmsg.NewWriteTxnMarkersRequestMarkerTopic()
				rt.Topic = m.Topic
				rm.Topics = append(rm.Topics, rt)
				ti = len(rm.Topics) - 1
			}
			if !slices.Contains(rm.Topics[ti].Partitions, m.Partition) {
				rm.Topics[ti].Partitions = append(rm.Topics[ti].Partitions, m.Partition)
			}
		}
	}
	defer func() {
		for _, job := range jobs {
			close(job.done)
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), markerCallTimeout)
	defer cancel()
	kresp, err := c.Peers.Call(ctx, node, req)
	if err != nil {
		for _, job := range jobs {
			for j := range job.errs {
				job.errs[j] = fmt.Errorf("WriteTxnMarkers to broker %d: %w", node, err)
			}
		}
		return
	}
	resp := kresp.(*kmsg.WriteTxnMarkersResponse)
	type pkey struct {
		pid   int64
		topic string
		part  int32
	}
	codes := map[pkey]int16{}
	for _, rm := range resp.Markers {
		for _, rt := range rm.Topics {
			for _, rp := range rt.Partitions {
				codes[pkey{rm.ProducerID, rt.Topic, rp.Partition}] = rp.ErrorCode
			}
		}
	}
	img := c.Image()
	for _, job := range jobs {
		for j, m := range job.markers {
			code, ok := codes[pkey{m.ProducerID, m.Topic, m.Partition}]
			if !ok {
				job.errs[j] = fmt.Errorf("WriteTxnMarkers to broker %d: no answer for %s-%d", node, m.Topic, m.Partition)
				continue
			}
			t := img.Topics[m.Topic]
			if err := markerOutcome(code, t != nil && int(m.Partition) < len(t.Partitions)); err != nil {
				job.errs[j] = fmt.Errorf("WriteTxnMarkers to broker %d, %s-%d: %w", node, m.Topic, m.Partition, err)
			}
		}
	}
}

// markerOutcome maps a partition's WriteTxnMarkers error code: nil when
// the marker is written or moot (a newer producer epoch there, or the
// partition is gone).
func markerOutcome(code int16, exists bool) error {
	switch err := kerr.ErrorForCode(code); {
	case err == nil:
		return nil
	case errors.Is(err, kerr.InvalidProducerEpoch):
		return nil // the partition saw a newer epoch: this marker is moot
	case errors.Is(err, kerr.UnknownTopicOrPartition) && !exists:
		return nil
	default:
		return err
	}
}
