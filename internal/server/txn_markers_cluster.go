package server

// Transaction markers in a cluster: the coordinator's markers go to each
// partition's current leader, local ones appended here and the others sent
// as WriteTxnMarkers v1, one request per destination broker (Kafka's
// TransactionMarkerChannelManager). NOT_LEADER_OR_FOLLOWER, network errors,
// UNKNOWN_TOPIC_OR_PARTITION for a partition that still exists and the
// like are retried with a fresh metadata image for a bounded time; markers
// for partitions that no longer exist are dropped. What is still unwritten
// is reported to the coordinator, which keeps the transaction in Prepare*
// and retries in the background.

import (
	"context"
	"errors"
	"fmt"
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

// send writes the markers at is with one WriteTxnMarkers v1 request to
// leader and returns the indexes that failed (errs set). Each goroutine of
// attempt owns its own indexes of errs.
func (c *ClusterTxnMarkers) send(ctx context.Context, leader int32, markers []txn.Marker, is []int, errs []error) []int {
	req := kmsg.NewPtrWriteTxnMarkersRequest()
	req.SetVersion(1)
	slots := map[markerKey]int{}
	for _, i := range is {
		m := markers[i]
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
		ti := -1
		for j := range rm.Topics {
			if rm.Topics[j].Topic == m.Topic {
				ti = j
				break
			}
		}
		if ti < 0 {
			rt := kmsg.NewWriteTxnMarkersRequestMarkerTopic()
			rt.Topic = m.Topic
			rm.Topics = append(rm.Topics, rt)
			ti = len(rm.Topics) - 1
		}
		rm.Topics[ti].Partitions = append(rm.Topics[ti].Partitions, m.Partition)
	}
	kresp, err := c.Peers.Call(ctx, leader, req)
	if err != nil {
		for _, i := range is {
			errs[i] = fmt.Errorf("WriteTxnMarkers to broker %d: %w", leader, err)
		}
		return is
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
	var failed []int
	for _, i := range is {
		m := markers[i]
		code, ok := codes[pkey{m.ProducerID, m.Topic, m.Partition}]
		if !ok {
			errs[i] = fmt.Errorf("WriteTxnMarkers to broker %d: no answer for %s-%d", leader, m.Topic, m.Partition)
			failed = append(failed, i)
			continue
		}
		errs[i] = markerOutcome(code, img.Topics[m.Topic] != nil && int(m.Partition) < len(img.Topics[m.Topic].Partitions))
		if errs[i] != nil {
			errs[i] = fmt.Errorf("WriteTxnMarkers to broker %d, %s-%d: %w", leader, m.Topic, m.Partition, errs[i])
			failed = append(failed, i)
		}
	}
	return failed
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
