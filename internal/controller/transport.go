package controller

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// The controller transport carries Raft messages and broker heartbeats
// between quorum members over the CONTROLLER listener
// (docs/decisions/0004-raft-controller-quorum.md). A connection is one-way:
// the dialer sends, the acceptor reads. Frames are
//
//	length uint32 | kind byte | payload
//
// The first frame is a hello (JSON: sender node id and cluster id); a
// receiver drops connections from nodes that are not voters or that belong
// to another cluster, which is how a node with data from another cluster is
// kept out. Messages are fire-and-forget, as Raft allows: a full queue or a
// broken connection drops them and Raft retransmits.

const (
	frameHello     = 'H'
	frameRaft      = 'R'
	frameHeartbeat = 'B'
	maxNetFrame    = 64 << 20
	peerQueue      = 1024
)

type hello struct {
	Node      int32  `json:"node"`
	ClusterID string `json:"clusterId"`
}

// Voter is one controller quorum member (controller.quorum.voters).
type Voter struct {
	ID   int32  `json:"id"`
	Host string `json:"host"`
	Port int    `json:"port"`
}

func (v Voter) addr() string { return net.JoinHostPort(v.Host, strconv.Itoa(v.Port)) }

type transport struct {
	self      int32
	log       *slog.Logger
	clusterID func() string
	onRaft    func(*pb.Message)
	onBeat    func(Heartbeat)
	// onLost is told that messages to a peer may have been lost (a
	// failed dial or write): Raft must probe and resend, since TCP may
	// have swallowed what was written before the failure showed.
	onLost func(peer int32)
	// onFetch and onPropose serve observers (broker-only nodes,
	// observer.go); nil: connections from non-voters are refused.
	onFetch   func(fetchRequest) fetchResponse
	onPropose func(node int32, entry []byte) error
	voters    map[int32]Voter

	ln    net.Listener
	peers map[int32]*peer
	wg    sync.WaitGroup
	stop  chan struct{}

	connMu  sync.Mutex
	conns   map[net.Conn]struct{}
	refused map[int32]time.Time // guarded by connMu: last refusal logged per node

	// peersHaveCluster: some peer's hello carried a cluster id.
	peersHaveCluster atomic.Bool
}

type peer struct {
	id    int32
	addr  string
	queue chan []byte
}

func newTransport(self int32, ln net.Listener, voters []Voter, log *slog.Logger) *transport {
	t := &transport{self: self, log: log, ln: ln, voters: map[int32]Voter{}, peers: map[int32]*peer{},
		stop: make(chan struct{}), conns: map[net.Conn]struct{}{}, refused: map[int32]time.Time{}}
	for _, v := range voters {
		t.voters[v.ID] = v
		if v.ID != self {
			t.peers[v.ID] = &peer{id: v.ID, addr: v.addr(), queue: make(chan []byte, peerQueue)}
		}
	}
	return t
}

func (t *transport) start() {
	if t.ln != nil {
		t.wg.Add(1)
		go t.accept()
	}
	for _, p := range t.peers {
		t.wg.Add(1)
		go t.send(p)
	}
}

func (t *transport) close() {
	close(t.stop)
	if t.ln != nil {
		t.ln.Close()
	}
	t.connMu.Lock()
	for c := range t.conns {
		c.Close()
	}
	t.connMu.Unlock()
	t.wg.Wait()
}

func (t *transport) track(c net.Conn) bool {
	t.connMu.Lock()
	defer t.connMu.Unlock()
	select {
	case <-t.stop:
		return false
	default:
	}
	t.conns[c] = struct{}{}
	return true
}

func (t *transport) untrack(c net.Conn) {
	t.connMu.Lock()
	delete(t.conns, c)
	t.connMu.Unlock()
	c.Close()
}

func frame(kind byte, payload []byte) []byte {
	b := make([]byte, 5, 5+len(payload))
	binary.BigEndian.PutUint32(b, uint32(len(payload)+1))
	b[4] = kind
	return append(b, payload...)
}

// sendRaft queues a Raft message; false if it was dropped.
func (t *transport) sendRaft(m *pb.Message) bool {
	p := t.peers[int32(m.GetTo()-1)]
	if p == nil {
		return false
	}
	b, err := proto.Marshal(m)
	if err != nil {
		return false
	}
	return t.enqueue(p, frame(frameRaft, b))
}

func (t *transport) sendHeartbeat(to int32, hb Heartbeat) bool {
	p := t.peers[to]
	if p == nil {
		return false
	}
	b, _ := json.Marshal(hb)
	return t.enqueue(p, frame(frameHeartbeat, b))
}

// sendPropose queues an observer's proposal for voter to.
func (t *transport) sendPropose(to int32, entry []byte) bool {
	p := t.peers[to]
	if p == nil {
		return false
	}
	return t.enqueue(p, frame(framePropose, entry))
}

func (t *transport) enqueue(p *peer, f []byte) bool {
	select {
	case p.queue <- f:
		return true
	default:
		return false
	}
}

// send keeps a connection to p and writes its queue.
func (t *transport) send(p *peer) {
	defer t.wg.Done()
	backoff := 50 * time.Millisecond
	for {
		select {
		case <-t.stop:
			return
		default:
		}
		c, err := dialPeer(p.addr) // transport_linux.go
		if err != nil {
			t.drain(p)
			t.lost(p.id)
			select {
			case <-t.stop:
				return
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, time.Second)
			continue
		}
		backoff = 50 * time.Millisecond
		if !t.track(c) {
			c.Close()
			return
		}
		t.writeLoop(c, p)
		t.untrack(c)
		t.lost(p.id)
	}
}

func (t *transport) lost(id int32) {
	if t.onLost != nil {
		t.onLost(id)
	}
}

// drain drops what queued while the peer is unreachable: Raft resends.
func (t *transport) drain(p *peer) {
	for {
		select {
		case <-p.queue:
		default:
			return
		}
	}
}

func (t *transport) writeLoop(c net.Conn, p *peer) {
	w := bufio.NewWriterSize(c, 64<<10)
	hb, _ := json.Marshal(hello{Node: t.self, ClusterID: t.clusterID()})
	if _, err := w.Write(frame(frameHello, hb)); err != nil {
		return
	}
	for {
		if err := w.Flush(); err != nil {
			return
		}
		var f []byte
		select {
		case <-t.stop:
			return
		case f = <-p.queue:
		}
		for {
			c.SetWriteDeadline(time.Now().Add(5 * time.Second))
			if _, err := w.Write(f); err != nil {
				return
			}
			select {
			case f = <-p.queue:
				continue
			default:
			}
			break
		}
	}
}

func (t *transport) accept() {
	defer t.wg.Done()
	for {
		c, err := t.ln.Accept()
		if err != nil {
			select {
			case <-t.stop:
				return
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(10 * time.Millisecond)
			continue
		}
		if !t.track(c) {
			c.Close()
			return
		}
		t.wg.Add(1)
		go func() {
			defer t.wg.Done()
			defer t.untrack(c)
			if err := t.readLoop(c, c.RemoteAddr().String()); err != nil && !errors.Is(err, io.EOF) {
				select {
				case <-t.stop:
				default:
					t.log.Debug("controller connection closed", "remote", c.RemoteAddr().String(), "err", err)
				}
			}
		}()
	}
}

// logRefusal logs a refused peer at most every 30 s: it redials every
// second.
func (t *transport) logRefusal(node int32, msg string, args ...any) {
	t.connMu.Lock()
	last := t.refused[node]
	now := time.Now()
	if now.Sub(last) < 30*time.Second {
		t.connMu.Unlock()
		return
	}
	t.refused[node] = now
	t.connMu.Unlock()
	t.log.Error(msg, args...)
}

func readFrame(r *bufio.Reader) (byte, []byte, error) {
	var hdr [5]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, nil, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n == 0 || n > maxNetFrame {
		return 0, nil, fmt.Errorf("bad frame length %d", n)
	}
	b := make([]byte, n-1)
	if _, err := io.ReadFull(r, b); err != nil {
		return 0, nil, err
	}
	return hdr[4], b, nil
}

// readLoop reads one inbound connection: untrusted bytes (fuzz_test.go).
// Connections from voters are one-way; an observer's connection (c is
// also an io.Writer) carries fetch answers back.
func (t *transport) readLoop(c io.Reader, remote string) error {
	r := bufio.NewReaderSize(c, 64<<10)
	w, _ := c.(io.Writer)
	kind, b, err := readFrame(r)
	if err != nil {
		return err
	}
	var h hello
	if kind != frameHello || json.Unmarshal(b, &h) != nil {
		return errors.New("no hello")
	}
	_, voter := t.voters[h.Node]
	if (!voter && t.onFetch == nil) || h.Node == t.self || h.Node < 0 {
		t.logRefusal(h.Node, "refusing controller connection from a node that is not a voter", "node", h.Node, "remote", remote)
		return errors.New("not a voter")
	}
	if mine := t.clusterID(); mine != "" && h.ClusterID != "" && mine != h.ClusterID {
		t.logRefusal(h.Node, "refusing controller connection from another cluster", "node", h.Node, "theirCluster", h.ClusterID, "ourCluster", mine)
		return errors.New("cluster id mismatch")
	}
	if h.ClusterID != "" && voter {
		t.peersHaveCluster.Store(true)
	}
	for {
		kind, b, err := readFrame(r)
		if err != nil {
			return err
		}
		switch kind {
		case frameRaft:
			if !voter {
				return fmt.Errorf("raft message from node %d, an observer", h.Node)
			}
			m := &pb.Message{}
			if err := proto.Unmarshal(b, m); err != nil {
				return err
			}
			if m.GetFrom() != uint64(h.Node)+1 || m.GetTo() != uint64(t.self)+1 {
				return fmt.Errorf("raft message from %d to %d on a connection from node %d", m.GetFrom(), m.GetTo(), h.Node)
			}
			t.onRaft(m)
		case frameHeartbeat:
			var hb Heartbeat
			if err := json.Unmarshal(b, &hb); err != nil {
				return err
			}
			if hb.Node != h.Node {
				return fmt.Errorf("heartbeat for node %d on a connection from node %d", hb.Node, h.Node)
			}
			t.onBeat(hb)
		case frameFetch:
			var req fetchRequest
			if voter || w == nil || json.Unmarshal(b, &req) != nil {
				return fmt.Errorf("bad fetch from node %d", h.Node)
			}
			resp, err := json.Marshal(t.onFetch(req))
			if err != nil {
				return err
			}
			if conn, ok := c.(net.Conn); ok {
				conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
			}
			if _, err := w.Write(frame(frameFetch, resp)); err != nil {
				return err
			}
		case framePropose:
			if voter {
				return fmt.Errorf("proposal frame from voter %d", h.Node)
			}
			if err := t.onPropose(h.Node, b); err != nil {
				return err
			}
		default:
			return fmt.Errorf("unknown frame kind %q", kind)
		}
	}
}
