package server

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/quillstream/quill/internal/metadata"
	"github.com/quillstream/quill/internal/txn"
)

// fakeBrokers answers WriteTxnMarkers for other brokers: code(node, topic,
// partition) per partition; down nodes fail the call.
type fakeBrokers struct {
	mu    sync.Mutex
	calls map[int32]int
	down  map[int32]bool
	code  func(node int32, topic string, partition int32) int16
}

func (f *fakeBrokers) Call(_ context.Context, node int32, req kmsg.Request) (kmsg.Response, error) {
	f.mu.Lock()
	f.calls[node]++
	down := f.down[node]
	code := f.code
	f.mu.Unlock()
	if down {
		return nil, errors.New("connection refused")
	}
	r := req.(*kmsg.WriteTxnMarkersRequest)
	resp := r.ResponseKind().(*kmsg.WriteTxnMarkersResponse)
	for _, m := range r.Markers {
		rm := kmsg.NewWriteTxnMarkersResponseMarker()
		rm.ProducerID = m.ProducerID
		for _, t := range m.Topics {
			rt := kmsg.NewWriteTxnMarkersResponseMarkerTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewWriteTxnMarkersResponseMarkerTopicPartition()
				rp.Partition, rp.ErrorCode = p, code(node, t.Topic, p)
				rt.Partitions = append(rt.Partitions, rp)
			}
			rm.Topics = append(rm.Topics, rt)
		}
		resp.Markers = append(resp.Markers, rm)
	}
	return resp, nil
}

type localMarkers struct {
	mu      sync.Mutex
	written []txn.TP
}

func (l *localMarkers) WriteMarker(_ context.Context, m txn.Marker) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.written = append(l.written, m.TP)
	return nil
}

// imageWith returns an image of topic t with the given partition leaders.
func imageWith(leaders ...int32) *metadata.Image {
	t := &metadata.Topic{Name: "t"}
	for i, l := range leaders {
		t.Partitions = append(t.Partitions, metadata.Partition{ID: int32(i), Leader: l})
	}
	return &metadata.Image{Topics: map[string]*metadata.Topic{"t": t}}
}

// Markers are routed by leader: local ones appended, one request per other
// broker; a NOT_LEADER answer is retried with the image of the moment, a
// deleted partition's marker dropped, a broker that stays down reported.
func TestClusterTxnMarkers(t *testing.T) {
	var imgMu sync.Mutex
	img := imageWith(1, 2, 2, 3) // this broker is 1
	fb := &fakeBrokers{calls: map[int32]int{}, down: map[int32]bool{}}
	moved := false
	fb.code = func(node int32, topic string, p int32) int16 {
		if node == 2 && p == 2 && !moved {
			// The leadership of t-2 moved to broker 3.
			moved = true
			imgMu.Lock()
			img = imageWith(1, 2, 3, 3)
			imgMu.Unlock()
			return kerr.NotLeaderForPartition.Code
		}
		return 0
	}
	local := &localMarkers{}
	cm := &ClusterTxnMarkers{Local: local, NodeID: 1, Peers: fb, RetryFor: 2 * time.Second,
		Image: func() *metadata.Image { imgMu.Lock(); defer imgMu.Unlock(); return img }}
	var ms []txn.Marker
	for p := range int32(5) { // t-4 does not exist: dropped
		ms = append(ms, txn.Marker{TP: txn.TP{Topic: "t", Partition: p}, ProducerID: 7, ProducerEpoch: 1, Commit: true})
	}
	for i, err := range cm.WriteMarkers(context.Background(), ms) {
		if err != nil {
			t.Fatalf("marker %d: %v", i, err)
		}
	}
	if !slices.Equal(local.written, []txn.TP{{Topic: "t", Partition: 0}}) {
		t.Fatalf("local markers %v", local.written)
	}
	if fb.calls[2] != 1 || fb.calls[3] != 2 {
		t.Fatalf("requests per broker: %v (want one to 2, two to 3)", fb.calls)
	}

	fb.down[3] = true
	errs := cm.WriteMarkers(context.Background(), ms[1:4])
	if errs[0] != nil || errs[1] == nil || errs[2] == nil {
		t.Fatalf("broker 3 down: %v", errs)
	}
}

// blockingBrokers holds every call until release is closed, counting
// calls and markers per call.
type blockingBrokers struct {
	fakeBrokers
	entered chan struct{}
	release chan struct{}
	sizes   []int
}

func (b *blockingBrokers) Call(ctx context.Context, node int32, req kmsg.Request) (kmsg.Response, error) {
	n := 0
	for _, m := range req.(*kmsg.WriteTxnMarkersRequest).Markers {
		for _, t := range m.Topics {
			n += len(t.Partitions)
		}
	}
	b.mu.Lock()
	b.sizes = append(b.sizes, n)
	b.mu.Unlock()
	select {
	case b.entered <- struct{}{}:
	default:
	}
	<-b.release
	return b.fakeBrokers.Call(ctx, node, req)
}

// While a request to a broker is in flight, the markers of other
// transactions for that broker queue up and go out together in the next
// request.
func TestClusterTxnMarkersBatchAcrossTransactions(t *testing.T) {
	img := imageWith(2, 2, 2)
	bb := &blockingBrokers{
		fakeBrokers: fakeBrokers{calls: map[int32]int{}, down: map[int32]bool{}, code: func(int32, string, int32) int16 { return 0 }},
		entered:     make(chan struct{}, 1),
		release:     make(chan struct{}),
	}
	cm := &ClusterTxnMarkers{Local: &localMarkers{}, NodeID: 1, Peers: bb, RetryFor: 10 * time.Second,
		Image: func() *metadata.Image { return img }}
	marker := func(pid int64, p int32) []txn.Marker {
		return []txn.Marker{{TP: txn.TP{Topic: "t", Partition: p}, ProducerID: pid, ProducerEpoch: 0, Commit: true}}
	}
	var wg sync.WaitGroup
	results := make([][]error, 3)
	run := func(i int, pid int64) {
		defer wg.Done()
		results[i] = cm.WriteMarkers(context.Background(), marker(pid, int32(i)))
	}
	wg.Add(1)
	go run(0, 10)
	<-bb.entered // the first request is in flight
	wg.Add(2)
	go run(1, 11)
	go run(2, 12)
	// Wait until both are queued behind the first request.
	deadline := time.Now().Add(10 * time.Second)
	for {
		q := cm.queueFor(2)
		q.mu.Lock()
		n := len(q.pending)
		q.mu.Unlock()
		if n == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d jobs queued", n)
		}
		time.Sleep(5 * time.Millisecond)
	}
	close(bb.release)
	wg.Wait()
	for i, errs := range results {
		if errs[0] != nil {
			t.Fatalf("transaction %d: %v", i, errs[0])
		}
	}
	if !slices.Equal(bb.sizes, []int{1, 2}) {
		t.Fatalf("markers per request %v, want [1 2]", bb.sizes)
	}
}
