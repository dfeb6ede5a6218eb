package replica

import (
	"encoding/binary"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/quillstream/quill/internal/record"
)

// A follower below the leader's log start restarts its log there: nothing
// of the old log, its epochs or its producers survives, and it appends the
// leader's batches from the new start.
func TestTruncateFullyAndStartAtResetsPartition(t *testing.T) {
	p := leaderPartition(t)
	for seq := int32(0); seq < 30; seq += 3 {
		recs := []record.Record{{Value: []byte("a")}, {Value: []byte("b")}, {Value: []byte("c")}}
		b, err := record.Build(record.BatchSpec{BaseTimestamp: time.Now().UnixMilli(), ProducerID: 7, ProducerEpoch: 0, BaseSequence: seq}, recs)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.AppendProduce(b, true); err != nil {
			t.Fatal(err)
		}
	}
	p.mu.Lock()
	p.writeSnapshotLocked()
	p.mu.Unlock()
	if len(p.Producers()) != 1 || len(snapshotOffsets(p.dir)) == 0 {
		t.Fatalf("setup: producers %v snapshots %v", p.Producers(), snapshotOffsets(p.dir))
	}

	const start = 500
	if err := p.truncateFullyAndStartAt(start); err != nil {
		t.Fatal(err)
	}
	if p.log.LogStartOffset() != start || p.log.LogEndOffset() != start || p.HighWatermark() != start {
		t.Fatalf("start %d end %d hw %d", p.log.LogStartOffset(), p.log.LogEndOffset(), p.HighWatermark())
	}
	if n := len(p.Producers()); n != 0 {
		t.Fatalf("%d producers survived", n)
	}
	if s := snapshotOffsets(p.dir); len(s) != 0 {
		t.Fatalf("producer snapshots survived: %v", s)
	}
	if e := p.log.EpochEntries(); len(e) != 0 {
		t.Fatalf("epochs survived: %v", e)
	}
	// The leader's batches from its log start append.
	b, err := record.Build(record.BatchSpec{BaseOffset: start, PartitionLeaderEpoch: 3, BaseTimestamp: time.Now().UnixMilli(),
		ProducerID: 7, ProducerEpoch: 0, BaseSequence: 40}, []record.Record{{Value: []byte("x")}})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.appendFollower(b); err != nil {
		t.Fatal(err)
	}
	if p.log.LogEndOffset() != start+1 || len(p.Producers()) != 1 {
		t.Fatalf("end %d producers %v", p.log.LogEndOffset(), p.Producers())
	}
}

// The leader's log start can fall inside a batch (DeleteRecords): the
// follower restarted there gets that whole batch first and restarts its log
// at the batch's base.
func TestFollowerRestartsInsideFirstBatch(t *testing.T) {
	p := leaderPartition(t)
	if err := p.truncateFullyAndStartAt(250); err != nil {
		t.Fatal(err)
	}
	recs := make([]record.Record, 100)
	for i := range recs {
		recs[i] = record.Record{Value: []byte("v")}
	}
	b, err := record.Build(record.BatchSpec{BaseOffset: 200, PartitionLeaderEpoch: 2, BaseTimestamp: time.Now().UnixMilli()}.NoProducer(), recs)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.appendFollower(b); err != nil {
		t.Fatal(err)
	}
	if p.log.LogStartOffset() != 200 || p.log.LogEndOffset() != 300 {
		t.Fatalf("start %d end %d", p.log.LogStartOffset(), p.log.LogEndOffset())
	}
	// A batch below the end of a log that is not empty is still refused.
	record.SetBaseOffset(b, 250)
	if err := p.appendFollower(b); err == nil {
		t.Fatal("overlapping batch appended to a non-empty log")
	}
}

// A follower beyond the leader's log end (OFFSET_OUT_OF_RANGE above the
// leader's log start) asks the leader for its log end with ListOffsets as a
// replica and truncates to it.
func TestFollowerBeyondLeaderLogEndTruncates(t *testing.T) {
	p := leaderPartition(t)
	for range 5 {
		appendN(t, p, 2) // batches end at 2, 4, ... 10: 6 is a boundary
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	asked := make(chan *kmsg.ListOffsetsRequest, 1)
	go func() { // the leader: answers one ListOffsets with log end 6
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		var size [4]byte
		if _, err := io.ReadFull(c, size[:]); err != nil {
			return
		}
		body := make([]byte, binary.BigEndian.Uint32(size[:]))
		if _, err := io.ReadFull(c, body); err != nil {
			return
		}
		corr := binary.BigEndian.Uint32(body[4:8])
		clientIDLen := int(binary.BigEndian.Uint16(body[8:10]))
		req := kmsg.NewPtrListOffsetsRequest()
		req.SetVersion(int16(binary.BigEndian.Uint16(body[2:4])))
		if err := req.ReadFrom(body[10+clientIDLen:]); err != nil {
			return
		}
		asked <- req
		resp := kmsg.NewPtrListOffsetsResponse()
		resp.SetVersion(req.GetVersion())
		rt := kmsg.NewListOffsetsResponseTopic()
		rt.Topic = req.Topics[0].Topic
		rp := kmsg.NewListOffsetsResponseTopicPartition()
		rp.Partition, rp.Offset, rp.LeaderEpoch = req.Topics[0].Partitions[0].Partition, 6, 1
		rt.Partitions = append(rt.Partitions, rp)
		resp.Topics = append(resp.Topics, rt)
		out := resp.AppendTo(binary.BigEndian.AppendUint32(nil, corr))
		c.Write(append(binary.BigEndian.AppendUint32(nil, uint32(len(out))), out...))
	}()
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	conn := &plainConn{c: nc}
	defer conn.Close()
	f := &fetcher{r: &replication{m: &Manager{nodeID: 2}}, conn: conn, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	rp := kmsg.NewFetchResponseTopicPartition()
	rp.ErrorCode, rp.LogStartOffset, rp.HighWatermark = kerr.OffsetOutOfRange.Code, 0, 4
	if err := f.outOfRange(p, &rp); err != nil {
		t.Fatal(err)
	}
	req := <-asked
	if req.ReplicaID != 2 || req.Topics[0].Partitions[0].Timestamp != -1 {
		t.Fatalf("asked %+v", req)
	}
	if got := p.log.LogEndOffset(); got != 6 {
		t.Fatalf("log end %d after truncation, want the leader's 6", got)
	}
}

// plainConn is a bare Kafka client connection (no ApiVersions, TLS or
// SASL) for talking to the fake leaders of these tests.
type plainConn struct {
	c    net.Conn
	corr int32
}

func (w *plainConn) Close() error { return w.c.Close() }

func (w *plainConn) Do(req kmsg.Request, deadline time.Time) (kmsg.Response, error) {
	w.corr++
	buf := kmsg.NewRequestFormatter(kmsg.FormatterClientID("test")).AppendRequest(nil, req, w.corr)
	w.c.SetDeadline(deadline)
	if _, err := w.c.Write(buf); err != nil {
		return nil, err
	}
	var size [4]byte
	if _, err := io.ReadFull(w.c, size[:]); err != nil {
		return nil, err
	}
	body := make([]byte, binary.BigEndian.Uint32(size[:]))
	if _, err := io.ReadFull(w.c, body); err != nil {
		return nil, err
	}
	resp := req.ResponseKind()
	resp.SetVersion(req.GetVersion())
	return resp, resp.ReadFrom(body[4:])
}
