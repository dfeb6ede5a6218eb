package replica

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	qlog "github.com/quillstream/quill/internal/log"
	"github.com/quillstream/quill/internal/metadata"
	"github.com/quillstream/quill/internal/record"
)

// hwNode opens node 1's replica manager over dir; replicate turns on
// cluster mode. Partition t-0 has replicas 1 and 2, led by 2.
func hwNode(t *testing.T, dir string, replicate bool) (*Manager, *Partition, func()) {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	logs, err := qlog.OpenManager([]string{dir}, logger)
	if err != nil {
		t.Fatal(err)
	}
	m := NewManager(1, logs, func(*metadata.Image, *metadata.Topic) (Settings, qlog.Config) {
		return Settings{Recompress: -1}, qlog.DefaultConfig()
	}, logger)
	if replicate {
		m.EnableReplication(ReplicationConfig{
			AlterPartition: func(string, int32, int32, int32, int32, []int32) error { return nil },
			Dial:           func(context.Context, int32) (Conn, error) { return nil, errors.New("no brokers") },
		})
	}
	img := metadata.Empty()
	tp := &metadata.Topic{Name: "t", ID: metadata.UUID{1}, Partitions: []metadata.Partition{
		{ID: 0, Replicas: []int32{1, 2}, ISR: []int32{1, 2}, Leader: 2, LeaderEpoch: 1}}}
	img.Topics = map[string]*metadata.Topic{"t": tp}
	img.TopicIDs = map[metadata.UUID]*metadata.Topic{tp.ID: tp}
	m.Apply(nil, img)
	p := m.Get("t", 0)
	if p == nil {
		t.Fatal("partition not opened")
	}
	return m, p, func() {
		m.StopReplication()
		m.Close()
		logs.Close()
	}
}

func TestHighWatermarkCheckpoint(t *testing.T) {
	dir := t.TempDir()
	_, p, closeNode := hwNode(t, dir, true)
	recs := make([]record.Record, 10)
	for i := range recs {
		recs[i] = record.Record{Value: []byte("v")}
	}
	b, err := record.Build(record.BatchSpec{PartitionLeaderEpoch: 1, BaseTimestamp: time.Now().UnixMilli()}.NoProducer(), recs)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.appendFollower(b); err != nil {
		t.Fatal(err)
	}
	closeNode() // no checkpoint written (cmd/quill writes it at shutdown)

	// Without a checkpoint the high watermark starts at the log start; a
	// checkpoint is Kafka's text format.
	m2, p2, close2 := hwNode(t, dir, true)
	if got := p2.HighWatermark(); got != 0 {
		t.Fatalf("no checkpoint yet: high watermark %d, want the log start 0", got)
	}
	p2.raiseHW(6)
	if err := m2.CheckpointHighWatermarks(); err != nil {
		t.Fatal(err)
	}
	body, err := os.ReadFile(filepath.Join(dir, qlog.HighWatermarkCheckpoint))
	if err != nil {
		t.Fatal(err)
	}
	if want := "0\n1\nt 0 6\n"; string(body) != want {
		t.Fatalf("checkpoint file %q, want %q", body, want)
	}
	close2()

	// A restarted follower starts at the checkpointed high watermark...
	_, p3, close3 := hwNode(t, dir, true)
	if got := p3.HighWatermark(); got != 6 || p3.log.LogEndOffset() != 10 {
		t.Fatalf("restart: high watermark %d (want 6), log end %d", got, p3.log.LogEndOffset())
	}
	close3()

	// ... never beyond its log end...
	if err := os.WriteFile(filepath.Join(dir, qlog.HighWatermarkCheckpoint), []byte("0\n1\nt 0 50\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, p4, close4 := hwNode(t, dir, true)
	if got := p4.HighWatermark(); got != 10 {
		t.Fatalf("checkpoint beyond the log end: high watermark %d, want 10", got)
	}
	close4()

	// ... and a single node keeps its log end.
	if err := os.WriteFile(filepath.Join(dir, qlog.HighWatermarkCheckpoint), []byte("0\n1\nt 0 3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, p5, close5 := hwNode(t, dir, false)
	defer close5()
	if got := p5.HighWatermark(); got != 10 {
		t.Fatalf("single node: high watermark %d, want its log end 10", got)
	}
}
