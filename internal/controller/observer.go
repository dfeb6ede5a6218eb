package controller

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/quillstream/quill/internal/metadata"
)

// Broker-only nodes (process.roles=broker) follow the metadata log as
// observers, in the spirit of KRaft's observers
// (docs/decisions/0009-broker-only-observers.md): they are not Raft
// members. An observer keeps one connection to a voter's CONTROLLER
// listener (the active controller when it knows it) and pulls committed
// entries with fetch frames: the voter answers with the entries after the
// observer's applied index, up to its own applied index, or with its
// latest snapshot when those entries were compacted away. The observer
// persists them in its metadata directory (the voters' raft.log and
// raft.snap formats), applies them in order through the same Builder, and
// restarts from that copy. It heartbeats and forwards metadata changes
// (proposal frames, one-way, on its outbound transport) to the active
// controller, and learns a proposal's outcome when it applies the entry,
// exactly as a voter does.

const (
	frameFetch   = 'F' // observer -> voter: fetchRequest; voter -> observer: fetchResponse
	framePropose = 'P' // observer -> voter: a raftEntry to propose

	observerFetchWait   = 250 * time.Millisecond
	observerFetchBytes  = 1 << 20
	observerReadTimeout = 10 * time.Second
	// A voter that knows no leader for this many fetches in a row is
	// left for another: it may be cut off from the quorum.
	observerLeaderlessPolls = 8
	// observerStartWait bounds how long Open waits to catch up with the
	// voters before the broker starts from its local copy (KRaft brokers
	// also catch up with the metadata log before serving).
	observerStartWait = 5 * time.Second
)

// fetchRequest asks a voter for committed entries from index From on.
type fetchRequest struct {
	From   uint64 `json:"from"`
	WaitMs int    `json:"waitMs"`
}

// fetchResponse answers a fetchRequest. Snapshot (a marshaled
// raftpb.Snapshot) is set when From is below the voter's first kept
// entry; Entries (marshaled raftpb.Entry) follow it, contiguous.
type fetchResponse struct {
	Leader   int32    `json:"leader"` // active controller as the voter sees it, -1 unknown
	Term     uint64   `json:"term"`   // the voter's Raft term
	Snapshot []byte   `json:"snapshot,omitempty"`
	Entries  [][]byte `json:"entries,omitempty"`
}

// decodeFetchResponse decodes a voter's answer: untrusted bytes
// (fuzz_test.go).
func decodeFetchResponse(b []byte) (*pb.Snapshot, []*pb.Entry, fetchResponse, error) {
	var fr fetchResponse
	if err := json.Unmarshal(b, &fr); err != nil {
		return nil, nil, fr, fmt.Errorf("fetch response: %w", err)
	}
	var snap *pb.Snapshot
	if len(fr.Snapshot) > 0 {
		snap = &pb.Snapshot{}
		if err := proto.Unmarshal(fr.Snapshot, snap); err != nil {
			return nil, nil, fr, fmt.Errorf("fetch response snapshot: %w", err)
		}
	}
	ents := make([]*pb.Entry, 0, len(fr.Entries))
	for _, eb := range fr.Entries {
		e := &pb.Entry{}
		if err := proto.Unmarshal(eb, e); err != nil {
			return nil, nil, fr, fmt.Errorf("fetch response entry: %w", err)
		}
		ents = append(ents, e)
	}
	fr.Snapshot, fr.Entries = nil, nil
	return snap, ents, fr, nil
}

// serveFetch answers an observer's fetch on a voter: committed entries
// only (at most this voter's applied index), waiting up to the request's
// wait for new ones.
func (r *raftNode) serveFetch(req fetchRequest) fetchResponse {
	wait := min(time.Duration(max(req.WaitMs, 0))*time.Millisecond, 2*time.Second)
	deadline := time.Now().Add(wait)
	for r.appliedIdx.Load() < req.From && time.Now().Before(deadline) {
		select {
		case <-r.closing:
			return fetchResponse{Leader: -1}
		case <-time.After(10 * time.Millisecond):
		}
	}
	resp := fetchResponse{Leader: r.c.ActiveController(), Term: r.node.Status().GetTerm()}
	applied := r.appliedIdx.Load()
	from := max(req.From, 1)
	for try := 0; try < 3; try++ {
		first, _ := r.store.FirstIndex()
		if from < first {
			s, err := r.store.Snapshot()
			if err != nil || s.GetMetadata().GetIndex() == 0 {
				return resp
			}
			b, err := proto.Marshal(s)
			if err != nil {
				return resp
			}
			resp.Snapshot = b
			from = s.GetMetadata().GetIndex() + 1
			applied = max(applied, s.GetMetadata().GetIndex())
		}
		if from > applied {
			return resp
		}
		ents, err := r.store.Entries(from, applied+1, observerFetchBytes)
		if err != nil {
			// Compacted meanwhile: answer with the snapshot.
			resp.Snapshot = nil
			from = 0
			continue
		}
		for _, e := range ents {
			b, err := proto.Marshal(e)
			if err != nil {
				return resp
			}
			resp.Entries = append(resp.Entries, b)
		}
		return resp
	}
	return resp
}

// proposeFor proposes an observer's entry on a voter; etcd raft forwards
// it to the leader. The entry must carry the observer's node id.
func (r *raftNode) proposeFor(node int32, data []byte) error {
	var ent raftEntry
	if err := json.Unmarshal(data, &ent); err != nil {
		return err
	}
	if ent.Node != node {
		return fmt.Errorf("proposal for node %d on a connection from node %d", ent.Node, node)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := r.node.Propose(ctx, data); err != nil {
		r.log.Debug("controller: observer proposal dropped", "node", node, "err", err)
	}
	return nil
}

// observer is the metadata follower of a broker-only node.
type observer struct {
	c         *Controller
	inc       uint64
	disk      *raftDisk
	tr        *transport // outbound only: heartbeats and proposals
	voters    []Voter
	log       *slog.Logger
	snapEvery uint64

	// Owned by the run goroutine.
	snapIndex uint64
	lastTerm  uint64

	applied atomic.Uint64
	lead    atomic.Int32  // active controller, -1 unknown
	term    atomic.Uint64 // Raft term as the last voter asked reported it

	seq   atomic.Uint64
	mu    sync.Mutex
	waits map[uint64]chan error // guarded by mu, by Seq
	conn  net.Conn              // guarded by mu: the fetch connection, closed by close

	stop    chan struct{}
	done    chan struct{}
	closing chan struct{}

	caughtUp     chan struct{} // closed at the first fetch that brought nothing new
	caughtUpOnce sync.Once
}

// openObserver opens a broker-only node's metadata follower: replays the
// local copy, then follows the voters.
func openObserver(cfg Config) (*Controller, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	c := &Controller{cfg: cfg, log: cfg.Logger}
	c.image.Store(metadata.Empty())
	disk, st, err := openRaftDisk(cfg.Dir, cfg.NodeID, cfg.Voters)
	if err != nil {
		return nil, err
	}
	o := &observer{c: c, disk: disk, voters: cfg.Voters, log: cfg.Logger, waits: map[uint64]chan error{},
		snapEvery: uint64(cfg.SnapshotEvery), stop: make(chan struct{}), done: make(chan struct{}), closing: make(chan struct{}),
		caughtUp: make(chan struct{})}
	if o.snapEvery == 0 {
		o.snapEvery = defaultSnapEvery
	}
	o.lead.Store(-1)
	var b [8]byte
	rand.Read(b[:])
	o.inc = binary.BigEndian.Uint64(b[:])
	if st.snap != nil {
		img, err := metadata.DecodeSnapshot(st.snap.GetData())
		if err != nil {
			disk.close()
			return nil, fmt.Errorf("controller: snapshot: %w", err)
		}
		c.image.Store(img)
		o.snapIndex = st.snap.GetMetadata().GetIndex()
		o.lastTerm = st.snap.GetMetadata().GetTerm()
		o.applied.Store(o.snapIndex)
	}
	for _, e := range st.entries {
		o.applyEntry(e)
	}
	if cfg.ClusterID != "" {
		if id := c.image.Load().ClusterID; id != "" && id != cfg.ClusterID {
			disk.close()
			return nil, fmt.Errorf("controller: metadata in %s belongs to cluster %s, not the configured cluster.id %s", cfg.Dir, id, cfg.ClusterID)
		}
	}
	o.tr = newTransport(cfg.NodeID, nil, cfg.Voters, cfg.Logger)
	o.tr.clusterID = func() string { return c.image.Load().ClusterID }
	c.obs = o
	o.tr.start()
	go o.run()
	// Start from a current image when a voter answers: a broker acting on
	// its stale copy would briefly lead partitions that moved while it
	// was down.
	select {
	case <-o.caughtUp:
	case <-time.After(observerStartWait):
		o.log.Warn("controller: no voter answered; starting from the local copy of the metadata log", "applied", o.applied.Load())
	}
	c.startCluster()
	return c, nil
}

func (o *observer) close() error {
	close(o.stop)
	o.mu.Lock()
	if o.conn != nil {
		o.conn.Close()
	}
	o.mu.Unlock()
	<-o.done
	o.tr.close()
	return o.disk.close()
}

// run keeps a fetch session with a voter, preferring the active
// controller.
func (o *observer) run() {
	defer close(o.done)
	next := 0
	backoff := 50 * time.Millisecond
	for {
		select {
		case <-o.stop:
			return
		default:
		}
		target := o.voters[next%len(o.voters)]
		next++
		if l := o.lead.Load(); l >= 0 {
			for _, v := range o.voters {
				if v.ID == l {
					target = v
				}
			}
		}
		err := o.session(target)
		select {
		case <-o.stop:
			return
		default:
		}
		if err != nil {
			o.lead.Store(-1)
			o.log.Debug("controller: metadata fetch session ended", "voter", target.ID, "err", err)
			select {
			case <-o.stop:
				return
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, time.Second)
			continue
		}
		backoff = 50 * time.Millisecond
	}
}

var errSwitchVoter = errors.New("switching voter")

// session fetches from voter v until the connection fails or another
// voter should be asked (nil error).
func (o *observer) session(v Voter) error {
	conn, err := net.DialTimeout("tcp", v.addr(), time.Second)
	if err != nil {
		return err
	}
	o.mu.Lock()
	select {
	case <-o.stop:
		o.mu.Unlock()
		conn.Close()
		return nil
	default:
	}
	o.conn = conn
	o.mu.Unlock()
	defer func() {
		o.mu.Lock()
		o.conn = nil
		o.mu.Unlock()
		conn.Close()
	}()
	w := bufio.NewWriter(conn)
	r := bufio.NewReaderSize(conn, 64<<10)
	hb, _ := json.Marshal(hello{Node: o.c.cfg.NodeID, ClusterID: o.c.image.Load().ClusterID})
	if _, err := w.Write(frame(frameHello, hb)); err != nil {
		return err
	}
	leaderless := 0
	for {
		req, _ := json.Marshal(fetchRequest{From: o.applied.Load() + 1, WaitMs: int(observerFetchWait / time.Millisecond)})
		conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
		if _, err := w.Write(frame(frameFetch, req)); err != nil {
			return err
		}
		if err := w.Flush(); err != nil {
			return err
		}
		conn.SetReadDeadline(time.Now().Add(observerReadTimeout))
		kind, b, err := readFrame(r)
		if err != nil {
			return err
		}
		if kind != frameFetch {
			return fmt.Errorf("unexpected frame %q from voter %d", kind, v.ID)
		}
		snap, ents, fr, err := decodeFetchResponse(b)
		if err != nil {
			return err
		}
		leader := fr.Leader
		o.lead.Store(leader)
		o.term.Store(fr.Term)
		if err := o.apply(snap, ents); err != nil {
			return err
		}
		if len(ents) == 0 && snap == nil && leader >= 0 {
			o.caughtUpOnce.Do(func() { close(o.caughtUp) })
		}
		switch {
		case leader < 0:
			leaderless++
			if leaderless >= observerLeaderlessPolls {
				return nil
			}
		case leader != v.ID && len(ents) == 0 && snap == nil:
			return nil // caught up with this voter: follow the leader
		default:
			leaderless = 0
		}
	}
}

// apply persists and applies a fetch response.
func (o *observer) apply(snap *pb.Snapshot, ents []*pb.Entry) error {
	if snap != nil && snap.GetMetadata().GetIndex() > o.applied.Load() {
		img, err := metadata.DecodeSnapshot(snap.GetData())
		if err != nil {
			return fmt.Errorf("snapshot from voter: %w", err)
		}
		if err := o.disk.saveSnapshot(snap, nil, nil); err != nil {
			return o.fatal(err)
		}
		o.c.publish(img)
		o.snapIndex = snap.GetMetadata().GetIndex()
		o.lastTerm = snap.GetMetadata().GetTerm()
		o.applied.Store(o.snapIndex)
	}
	// Only the entries that extend what is applied, contiguously.
	var keep []*pb.Entry
	next := o.applied.Load() + 1
	for _, e := range ents {
		switch {
		case e.GetIndex() < next:
			continue
		case e.GetIndex() > next:
			return fmt.Errorf("metadata entries from voter skip index %d (got %d)", next, e.GetIndex())
		}
		keep = append(keep, e)
		next++
	}
	if len(keep) == 0 {
		return nil
	}
	// No fsync: the voters hold every entry; a lost tail is fetched again.
	if err := o.disk.save(nil, keep, false); err != nil {
		return o.fatal(err)
	}
	for _, e := range keep {
		o.applyEntry(e)
	}
	if o.applied.Load()-o.snapIndex >= o.snapEvery {
		idx := o.applied.Load()
		s := &pb.Snapshot{Data: metadata.EncodeSnapshot(o.c.image.Load()),
			Metadata: &pb.SnapshotMetadata{Index: proto.Uint64(idx), Term: proto.Uint64(o.lastTerm), ConfState: &pb.ConfState{}}}
		if err := o.disk.saveSnapshot(s, nil, nil); err != nil {
			return o.fatal(err)
		}
		o.snapIndex = idx
	}
	return nil
}

func (o *observer) fatal(err error) error {
	o.log.Error("controller: cannot persist the metadata log copy", "err", err)
	return err
}

// applyEntry applies one committed entry (in order).
func (o *observer) applyEntry(e *pb.Entry) {
	idx := e.GetIndex()
	if idx <= o.applied.Load() {
		return
	}
	defer func() {
		o.applied.Store(idx)
		o.lastTerm = e.GetTerm()
	}()
	if e.GetType() != pb.EntryType_EntryNormal || len(e.GetData()) == 0 {
		return
	}
	var ent raftEntry
	if err := json.Unmarshal(e.GetData(), &ent); err != nil {
		o.log.Error("controller: undecodable metadata entry skipped", "index", idx, "err", err)
		return
	}
	result := o.c.applyRecords(int64(idx), ent)
	if ent.Node == o.c.cfg.NodeID && ent.Inc == o.inc {
		o.mu.Lock()
		ch := o.waits[ent.Seq]
		delete(o.waits, ent.Seq)
		o.mu.Unlock()
		if ch != nil {
			ch <- result
		}
	}
}

// propose sends a change to the active controller and waits until this
// node applies it.
func (o *observer) propose(recs []metadata.Record, base int64) error {
	// The observer learns the leader from its fetches, a little after the
	// voters do: wait longer than they would.
	for wait := 0; o.lead.Load() < 0; wait++ {
		if wait >= 500 {
			return errNotController
		}
		select {
		case <-o.closing:
			return errNotController
		case <-time.After(20 * time.Millisecond):
		}
	}
	seq := o.seq.Add(1)
	ch := make(chan error, 1)
	o.mu.Lock()
	o.waits[seq] = ch
	o.mu.Unlock()
	forget := func() {
		o.mu.Lock()
		delete(o.waits, seq)
		o.mu.Unlock()
	}
	data, err := json.Marshal(raftEntry{Node: o.c.cfg.NodeID, Inc: o.inc, Seq: seq, Base: base, Records: recs})
	if err != nil {
		forget()
		return err
	}
	if !o.tr.sendPropose(o.lead.Load(), data) {
		forget()
		return errNotController
	}
	t := time.NewTimer(proposeTimeout)
	defer t.Stop()
	select {
	case err := <-ch:
		return err
	case <-t.C:
		forget()
		return &Error{Kafka: kerr.RequestTimedOut, Message: "controller: the metadata change was not committed in time"}
	case <-o.closing:
		forget()
		return errNotController
	}
}
