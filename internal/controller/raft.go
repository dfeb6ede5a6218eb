package controller

import (
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
	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/quillstream/quill/internal/metadata"
)

// The controller quorum (docs/decisions/0004-raft-controller-quorum.md).
//
// Every metadata change is one Raft entry: JSON of raftEntry, the same
// metadata.Records the single-node log holds, plus who proposed it. Any
// member may propose (etcd raft forwards proposals to the leader); every
// member applies committed entries in log order through the same
// Builder, so all images agree, and the proposer learns the outcome when
// it applies its own entry. An entry applies atomically: if one record
// does not apply, none does.
//
// Changes whose validity depends on state read at proposal time (a
// partition's leader and ISR, the producer-id counter) carry the image
// offset they were computed on (Base); they are rejected at apply if any
// other change came first, and the caller retries. The controller's own
// decisions (fencing, elections) are taken on the leader, serialized by
// Controller.mu.

// raftEntry is the payload of a normal Raft entry.
type raftEntry struct {
	Node    int32             `json:"node"`
	Inc     uint64            `json:"inc"` // proposer's process incarnation
	Seq     uint64            `json:"seq"`
	Base    int64             `json:"base"` // -1: unconditional
	Records []metadata.Record `json:"records"`
}

// errNotController is answered when no quorum leader is known.
var errNotController = &Error{Kafka: kerr.NotController, Message: "no active controller: the controller quorum has no leader"}

const (
	raftTick         = 100 * time.Millisecond
	electionTicks    = 10 // 1 s
	heartbeatTicks   = 1
	proposeTimeout   = 15 * time.Second
	defaultSnapEvery = 1000 // entries between snapshots
	snapKeep         = 100  // entries kept after a snapshot for slow followers
)

type raftNode struct {
	c     *Controller
	id    uint64 // raft id: node id + 1 (raft ids are never 0)
	inc   uint64
	node  raft.Node
	store *raft.MemoryStorage
	disk  *raftDisk
	tr    *transport
	log   *slog.Logger

	// Owned by the run goroutine.
	confState *pb.ConfState
	hard      *pb.HardState
	snapIndex uint64
	applied   uint64
	snapEvery uint64

	leaderTerm atomic.Uint64 // term in which this node leads, 0 if not leader
	lead       atomic.Uint64 // raft id of the known leader, 0 if none
	ready      atomic.Bool   // leader that has applied every earlier entry
	appliedIdx atomic.Uint64

	seq   atomic.Uint64
	mu    sync.Mutex
	waits map[uint64]pending // guarded by mu, by Seq

	warnedVote atomic.Bool

	stop    chan struct{}
	done    chan struct{}
	closing chan struct{} // closed when Close starts: waiting proposals give up
}

// openRaft opens a quorum member: replays the snapshot and log, binds the
// controller listener and starts Raft.
func openRaft(cfg Config) (*Controller, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	c := &Controller{cfg: cfg, log: cfg.Logger}
	c.image.Store(metadata.Empty())
	disk, st, err := openRaftDisk(cfg.Dir, cfg.NodeID, cfg.Voters)
	if err != nil {
		return nil, err
	}
	r := &raftNode{c: c, id: uint64(cfg.NodeID) + 1, disk: disk, log: cfg.Logger,
		store: raft.NewMemoryStorage(), waits: map[uint64]pending{},
		confState: &pb.ConfState{}, stop: make(chan struct{}), done: make(chan struct{}), closing: make(chan struct{}),
		snapEvery: uint64(cfg.SnapshotEvery)}
	if r.snapEvery == 0 {
		r.snapEvery = defaultSnapEvery
	}
	var b [8]byte
	rand.Read(b[:])
	r.inc = binary.BigEndian.Uint64(b[:])
	if st.snap != nil {
		if err := r.store.ApplySnapshot(st.snap); err != nil {
			disk.close()
			return nil, err
		}
		img, err := metadata.DecodeSnapshot(st.snap.GetData())
		if err != nil {
			disk.close()
			return nil, fmt.Errorf("controller: snapshot: %w", err)
		}
		c.image.Store(img)
		r.confState = proto.Clone(st.snap.GetMetadata().GetConfState()).(*pb.ConfState)
		r.snapIndex = st.snap.GetMetadata().GetIndex()
		r.applied = r.snapIndex
		r.appliedIdx.Store(r.applied)
	}
	if len(st.entries) > 0 {
		if err := r.store.Append(st.entries); err != nil {
			disk.close()
			return nil, err
		}
	}
	if st.hard != nil {
		r.hard = st.hard
		if err := r.store.SetHardState(st.hard); err != nil {
			disk.close()
			return nil, err
		}
	}
	if cfg.ClusterID != "" {
		if id := c.image.Load().ClusterID; id != "" && id != cfg.ClusterID {
			disk.close()
			return nil, fmt.Errorf("controller: metadata in %s belongs to cluster %s, not the configured cluster.id %s", cfg.Dir, id, cfg.ClusterID)
		}
	}

	ln := cfg.Listener
	if ln == nil {
		var self *Voter
		for i := range cfg.Voters {
			if cfg.Voters[i].ID == cfg.NodeID {
				self = &cfg.Voters[i]
			}
		}
		if self == nil {
			disk.close()
			return nil, fmt.Errorf("controller: node %d is not in controller.quorum.voters", cfg.NodeID)
		}
		addr := cfg.ListenAddr
		if addr == "" {
			addr = self.addr()
		}
		if ln, err = net.Listen("tcp", addr); err != nil {
			disk.close()
			return nil, fmt.Errorf("controller listener: %w", err)
		}
	}
	r.tr = newTransport(cfg.NodeID, ln, cfg.Voters, cfg.Logger)
	r.tr.clusterID = func() string { return c.image.Load().ClusterID }
	r.tr.onRaft = func(m *pb.Message) {
		if t := m.GetType(); (t == pb.MsgVote || t == pb.MsgPreVote) && r.mustNotVote() {
			return
		}
		if m.GetType() == pb.MsgProp {
			// A proposal a follower forwarded to us as leader. etcd raft
			// takes proposals only while it knows a leader: stepped
			// inline, one arriving just after we lost leadership would
			// block this connection's reader until a leader is known,
			// and we learn the new leader from messages on the very
			// connections blocked behind it (seen after a network cut
			// healed: the old leader never rejoined). Off the reader,
			// bounded; a dropped proposal times out at its proposer,
			// which retries.
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), forwardedProposalTimeout)
				defer cancel()
				r.node.Step(ctx, m)
			}()
			return
		}
		r.node.Step(context.Background(), m)
	}
	r.tr.onBeat = c.handleHeartbeat
	r.tr.onFetch = r.serveFetch   // observer.go
	r.tr.onPropose = r.proposeFor // observer.go
	r.tr.onLost = func(peer int32) { r.node.ReportUnreachable(uint64(peer) + 1) }

	election := electionTicks
	if cfg.ElectionTimeout > 0 {
		election = max(int(cfg.ElectionTimeout/raftTick), 2*heartbeatTicks+1)
	}
	rc := &raft.Config{
		ID: r.id, ElectionTick: election, HeartbeatTick: heartbeatTicks,
		Storage: r.store, Applied: r.applied, MaxSizePerMsg: 1 << 20, MaxInflightMsgs: 256,
		CheckQuorum: true, PreVote: true, Logger: raftLogger{cfg.Logger},
	}
	if st.fresh {
		peers := make([]raft.Peer, len(cfg.Voters))
		for i, v := range cfg.Voters {
			peers[i] = raft.Peer{ID: uint64(v.ID) + 1}
		}
		r.node = raft.StartNode(rc, peers)
	} else {
		r.node = raft.RestartNode(rc)
	}
	c.raft = r
	r.tr.start()
	go r.run()
	// Replay what this node knows to be committed before returning, so the
	// broker starts from the image it had (no quorum needed for that).
	if st.hard != nil {
		deadline := time.Now().Add(30 * time.Second)
		for r.appliedIdx.Load() < st.hard.GetCommit() && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
	}
	c.startCluster()
	return c, nil
}

// mustNotVote says whether this member has lost its metadata (an empty
// directory) while the quorum already has a cluster: it must not vote
// until a leader has caught it up. Raft assumes a voter never forgets what
// it acknowledged; a wiped voter voting could elect a leader that lacks
// committed entries (the problem KIP-853's directory ids solve).
func (r *raftNode) mustNotVote() bool {
	if r.c.image.Load().ClusterID != "" || !r.tr.peersHaveCluster.Load() {
		return false
	}
	if r.warnedVote.CompareAndSwap(false, true) {
		r.log.Warn("controller: this node has no metadata but its peers have a cluster: it will not vote until the leader has caught it up")
	}
	return true
}

func (r *raftNode) close() error {
	close(r.stop)
	<-r.done
	r.node.Stop()
	r.tr.close()
	return r.disk.close()
}

func (r *raftNode) run() {
	defer close(r.done)
	t := time.NewTicker(raftTick)
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-t.C:
			r.node.Tick()
		case rd := <-r.node.Ready():
			if err := r.handleReady(rd); err != nil {
				// The metadata log cannot be written: continuing would
				// acknowledge changes that are not durable.
				r.log.Error("controller: cannot persist the metadata log; stopping the quorum member", "err", err)
				r.lead.Store(0)
				r.leaderTerm.Store(0)
				r.ready.Store(false)
				return
			}
			r.node.Advance()
		}
	}
}

func (r *raftNode) handleReady(rd raft.Ready) error {
	leadChanged := false
	if rd.SoftState != nil {
		leadChanged = r.lead.Swap(rd.SoftState.Lead) != rd.SoftState.Lead
		if rd.SoftState.RaftState == raft.StateLeader {
			if r.leaderTerm.Load() == 0 {
				st := r.node.Status()
				r.leaderTerm.Store(st.GetTerm())
				r.log.Info("controller: this node is the active controller", "term", st.GetTerm())
			}
		} else if r.leaderTerm.Load() != 0 {
			r.leaderTerm.Store(0)
			r.ready.Store(false)
			r.log.Info("controller: no longer the active controller", "leader", int64(rd.SoftState.Lead)-1)
		}
	}
	if rd.HardState != nil {
		r.hard = rd.HardState
		if t := r.leaderTerm.Load(); t != 0 && rd.HardState.GetTerm() != t {
			r.leaderTerm.Store(rd.HardState.GetTerm())
		}
	}
	if rd.Snapshot != nil && !raft.IsEmptySnap(rd.Snapshot) {
		if err := r.disk.saveSnapshot(rd.Snapshot, r.hard, nil); err != nil {
			return err
		}
		if err := r.store.ApplySnapshot(rd.Snapshot); err != nil {
			return err
		}
		if err := r.applySnapshot(rd.Snapshot); err != nil {
			return err
		}
	}
	if err := r.disk.save(rd.HardState, rd.Entries, rd.MustSync); err != nil {
		return err
	}
	if len(rd.Entries) > 0 {
		if err := r.store.Append(rd.Entries); err != nil {
			return err
		}
	}
	if rd.HardState != nil {
		if err := r.store.SetHardState(rd.HardState); err != nil {
			return err
		}
	}
	for _, m := range rd.Messages {
		ok := r.tr.sendRaft(m)
		if !ok {
			r.node.ReportUnreachable(m.GetTo())
		}
		if m.GetType() == pb.MsgSnap {
			if ok {
				r.node.ReportSnapshot(m.GetTo(), raft.SnapshotFinish)
			} else {
				r.node.ReportSnapshot(m.GetTo(), raft.SnapshotFailure)
			}
		}
	}
	for _, e := range rd.CommittedEntries {
		if err := r.applyEntry(e); err != nil {
			return err
		}
	}
	if leadChanged {
		r.failStale(r.lead.Load())
	}
	return r.maybeSnapshot()
}

// pending is a proposal waiting to be applied.
type pending struct {
	ch   chan error // buffered: one result
	lead uint64     // the leader known when it was proposed
}

// errLeaderChanged answers proposals made under a leader that is gone.
var errLeaderChanged = &Error{Kafka: kerr.NotController,
	Message: "controller: the active controller changed before the change was committed; it may still apply"}

// failStale answers every proposal made under another leader than lead
// with NOT_CONTROLLER, as Kafka's controller fails its pending operations
// when it resigns. A proposal forwarded to a leader that lost it (cut off,
// crashed) is gone; waiting for proposeTimeout held its caller, often
// under Controller.mu, and so stalled the new active controller's fencing
// and elections for 15 s (found by the network-cut e2e test). As after a
// timeout, the outcome is unknown: the entry may still commit.
func (r *raftNode) failStale(lead uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for seq, w := range r.waits {
		if w.lead != lead {
			delete(r.waits, seq)
			w.ch <- errLeaderChanged
		}
	}
}

func (r *raftNode) applySnapshot(s *pb.Snapshot) error {
	img, err := metadata.DecodeSnapshot(s.GetData())
	if err != nil {
		return fmt.Errorf("controller: snapshot from leader: %w", err)
	}
	r.confState = proto.Clone(s.GetMetadata().GetConfState()).(*pb.ConfState)
	r.snapIndex = s.GetMetadata().GetIndex()
	r.applied = r.snapIndex
	r.appliedIdx.Store(r.applied)
	r.c.publish(img)
	return nil
}

func (r *raftNode) applyEntry(e *pb.Entry) error {
	idx := e.GetIndex()
	if idx <= r.applied {
		return nil
	}
	defer func() {
		r.applied = idx
		r.appliedIdx.Store(idx)
	}()
	switch e.GetType() {
	case pb.EntryConfChange:
		cc := &pb.ConfChange{}
		if err := proto.Unmarshal(e.GetData(), cc); err != nil {
			return err
		}
		r.confState = r.node.ApplyConfChange(cc)
		return nil
	case pb.EntryConfChangeV2:
		cc := &pb.ConfChangeV2{}
		if err := proto.Unmarshal(e.GetData(), cc); err != nil {
			return err
		}
		r.confState = r.node.ApplyConfChange(cc)
		return nil
	}
	if len(e.GetData()) == 0 {
		// The empty entry a new leader appends: once it applies, every
		// entry of earlier terms has too.
		if t := r.leaderTerm.Load(); t != 0 && e.GetTerm() == t {
			r.ready.Store(true)
			r.c.becameActive()
		}
		return nil
	}
	var ent raftEntry
	if err := json.Unmarshal(e.GetData(), &ent); err != nil {
		// Every member rejects it the same way.
		r.log.Error("controller: undecodable metadata entry skipped", "index", idx, "err", err)
		return nil
	}
	result := r.c.applyRecords(int64(idx), ent)
	if ent.Node == r.c.cfg.NodeID && ent.Inc == r.inc {
		r.mu.Lock()
		w, ok := r.waits[ent.Seq]
		delete(r.waits, ent.Seq)
		r.mu.Unlock()
		if ok {
			w.ch <- result
		}
	}
	return nil
}

// maybeSnapshot snapshots the image and compacts the log every snapEvery
// applied entries.
func (r *raftNode) maybeSnapshot() error {
	if r.applied-r.snapIndex < r.snapEvery {
		return nil
	}
	img := r.c.image.Load()
	s, err := r.store.CreateSnapshot(r.applied, r.confState, metadata.EncodeSnapshot(img))
	if err != nil {
		if errors.Is(err, raft.ErrSnapOutOfDate) {
			return nil
		}
		return err
	}
	compact := uint64(0)
	if r.applied > snapKeep {
		compact = r.applied - snapKeep
	}
	if compact > r.snapIndex {
		if err := r.store.Compact(compact); err != nil && !errors.Is(err, raft.ErrCompacted) {
			return err
		}
	}
	first, _ := r.store.FirstIndex()
	last, _ := r.store.LastIndex()
	var keep []*pb.Entry
	if last >= first {
		keep, err = r.store.Entries(first, last+1, 1<<62)
		if err != nil {
			return err
		}
	}
	// The snapshot file holds the image; the rewritten log holds every
	// entry after it, so nothing is lost if the snapshot index is below
	// the kept entries.
	if err := r.disk.saveSnapshot(s, r.hard, keep); err != nil {
		return err
	}
	r.snapIndex = r.applied
	r.log.Debug("controller: metadata snapshot", "index", r.applied)
	return nil
}

// forwardedProposalTimeout bounds how long a proposal forwarded by a
// follower waits for this node's raft to take it.
const forwardedProposalTimeout = 2 * time.Second

// propose replicates an entry and waits until this node applies it.
func (r *raftNode) propose(recs []metadata.Record, base int64) error {
	// An election takes about a second: wait for one rather than fail
	// every change made while it runs.
	for wait := 0; r.lead.Load() == 0; wait++ {
		if wait >= 150 {
			return errNotController
		}
		select {
		case <-r.done:
			return errNotController
		case <-r.closing:
			return errNotController
		case <-time.After(20 * time.Millisecond):
		}
	}
	seq := r.seq.Add(1)
	ch := make(chan error, 1)
	r.mu.Lock()
	r.waits[seq] = pending{ch: ch, lead: r.lead.Load()}
	r.mu.Unlock()
	forget := func() {
		r.mu.Lock()
		delete(r.waits, seq)
		r.mu.Unlock()
	}
	data, err := json.Marshal(raftEntry{Node: r.c.cfg.NodeID, Inc: r.inc, Seq: seq, Base: base, Records: recs})
	if err != nil {
		forget()
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), proposeTimeout)
	defer cancel()
	if err := r.node.Propose(ctx, data); err != nil {
		forget()
		if errors.Is(err, raft.ErrProposalDropped) {
			return errNotController
		}
		return &Error{Kafka: kerr.RequestTimedOut, Message: fmt.Sprintf("controller: propose: %v", err)}
	}
	select {
	case err := <-ch:
		return err
	case <-ctx.Done():
		forget()
		return &Error{Kafka: kerr.RequestTimedOut, Message: "controller: the metadata change was not committed in time"}
	case <-r.done:
		forget()
		return errNotController
	case <-r.closing:
		forget()
		return errNotController
	}
}

// raftLogger sends etcd raft's log to slog, quietly.
type raftLogger struct{ l *slog.Logger }

func (g raftLogger) Debug(v ...any)                 {}
func (g raftLogger) Debugf(format string, v ...any) {}
func (g raftLogger) Info(v ...any)                  { g.l.Debug("raft: " + fmt.Sprint(v...)) }
func (g raftLogger) Infof(format string, v ...any)  { g.l.Debug("raft: " + fmt.Sprintf(format, v...)) }
func (g raftLogger) Warning(v ...any)               { g.l.Warn("raft: " + fmt.Sprint(v...)) }
func (g raftLogger) Warningf(format string, v ...any) {
	g.l.Warn("raft: " + fmt.Sprintf(format, v...))
}
func (g raftLogger) Error(v ...any)                 { g.l.Error("raft: " + fmt.Sprint(v...)) }
func (g raftLogger) Errorf(format string, v ...any) { g.l.Error("raft: " + fmt.Sprintf(format, v...)) }
func (g raftLogger) Fatal(v ...any)                 { panic("raft: " + fmt.Sprint(v...)) }
func (g raftLogger) Fatalf(format string, v ...any) { panic("raft: " + fmt.Sprintf(format, v...)) }
func (g raftLogger) Panic(v ...any)                 { panic("raft: " + fmt.Sprint(v...)) }
func (g raftLogger) Panicf(format string, v ...any) { panic("raft: " + fmt.Sprintf(format, v...)) }
