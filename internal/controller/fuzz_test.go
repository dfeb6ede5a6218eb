package controller

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"testing"

	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/quillstream/quill/internal/metadata"
)

// FuzzTransport feeds arbitrary bytes to the controller listener's reader:
// it must fail cleanly, never panic.
func FuzzTransport(f *testing.F) {
	hello := frame(frameHello, []byte(`{"node":2,"clusterId":""}`))
	f.Add(hello)
	f.Add(append(append([]byte{}, hello...), frame(frameHeartbeat, []byte(`{"node":2,"incarnation":"x"}`))...))
	f.Add(append(append([]byte{}, hello...), frame(frameRaft, []byte{8, 1})...))
	f.Add([]byte{0, 0, 0, 1})
	tr := newTransport(1, nil, []Voter{{ID: 1}, {ID: 2}}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	tr.clusterID = func() string { return "c" }
	tr.onRaft = func(*pb.Message) {}
	tr.onBeat = func(Heartbeat) {}
	tr.onFetch = func(fetchRequest) fetchResponse { return fetchResponse{Leader: 1} }
	tr.onPropose = func(int32, []byte) error { return nil }
	obs := frame(frameHello, []byte(`{"node":7,"clusterId":"c"}`))
	f.Add(append(append([]byte{}, obs...), frame(frameFetch, []byte(`{"from":1,"waitMs":0}`))...))
	f.Add(append(append([]byte{}, obs...), frame(framePropose, []byte(`{"node":7,"records":[]}`))...))
	f.Fuzz(func(t *testing.T, b []byte) {
		tr.readLoop(bytes.NewReader(b), "fuzz")
		tr.readLoop(readWriter{bytes.NewReader(b), io.Discard}, "fuzz")
	})
}

// FuzzRaftLog replays arbitrary bytes as raft.log: a torn or corrupt tail
// is cut, never a panic.
func FuzzRaftLog(f *testing.F) {
	var good []byte
	good = appendFrame(good, kindEntry, &pb.Entry{})
	good = appendFrame(good, kindHard, &pb.HardState{})
	f.Add(good)
	f.Add(good[:len(good)-1])
	f.Fuzz(func(t *testing.T, b []byte) {
		st := &raftState{}
		n, err := readRaftLog(bytes.NewReader(b), st)
		if err == nil && n > int64(len(b)) {
			t.Fatalf("good prefix %d longer than input %d", n, len(b))
		}
	})
}

// FuzzDecodeSnapshot decodes arbitrary snapshot data.
func FuzzDecodeSnapshot(f *testing.F) {
	f.Add(metadata.EncodeSnapshot(metadata.Empty()))
	f.Add([]byte(`{"offset":3,"records":[{"partition":{"topicId":"AAAAAAAAAAAAAAAAAAAAAA","partition":5}}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		metadata.DecodeSnapshot(b)
	})
}

// FuzzFetchResponse decodes arbitrary voter answers on an observer
// (observer.go): an error, never a panic.
func FuzzFetchResponse(f *testing.F) {
	e, _ := proto.Marshal(&pb.Entry{Index: proto.Uint64(3), Term: proto.Uint64(1), Data: []byte(`{"node":1}`)})
	b, _ := json.Marshal(fetchResponse{Leader: 1, Entries: [][]byte{e}})
	f.Add(b)
	f.Add([]byte(`{"leader":-1,"snapshot":"AAE="}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		decodeFetchResponse(b)
	})
}

type readWriter struct {
	io.Reader
	io.Writer
}
