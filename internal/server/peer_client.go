package server

// The inter-broker client of the transaction coordinator and of the
// partition leaders' KIP-890 verification: WriteTxnMarkers to partition
// leaders, AddPartitionsToTxn v4 (VerifyOnly) to transaction coordinators.
//
// Connections come from Peers.Dial, which cmd/quill points at
// internal/interbroker (TLS and SASL as the inter-broker listener
// requires); DialPeer, a plain TCP dial, is the default for tests. The
// rest only sees BrokerCaller.

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// BrokerCaller sends one request to another broker of the cluster and
// returns its response. The request's version must be set by the caller.
type BrokerCaller interface {
	Call(ctx context.Context, nodeID int32, req kmsg.Request) (kmsg.Response, error)
}

// PeerConn is one connection to another broker; requests on it are
// serialized by its user.
type PeerConn interface {
	Do(ctx context.Context, req kmsg.Request) (kmsg.Response, error)
	Close() error
}

// DialPeer opens a connection to the broker at addr. It is the only
// constructor of inter-broker connections in this package.
func DialPeer(ctx context.Context, addr, clientID string) (PeerConn, error) {
	var d net.Dialer
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	c, err := d.DialContext(dctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	return &tcpPeer{c: c, r: bufio.NewReaderSize(c, 16<<10), clientID: clientID}, nil
}

// peerCallTimeout bounds a call whose context has no deadline.
const peerCallTimeout = 30 * time.Second

// maxIdlePeerConns is how many idle connections per broker are kept.
const maxIdlePeerConns = 4

// Peers is a BrokerCaller over pooled connections: a call takes an idle
// connection to the node (or dials one) and returns it afterwards, so
// calls to one broker run concurrently. A call failing on a reused
// connection is retried once on a fresh one (the callers' requests are
// idempotent: markers and verifications).
type Peers struct {
	// Addr resolves a node id to host:port (from the metadata image).
	Addr     func(nodeID int32) (string, bool)
	ClientID string
	// Dial opens a connection to addr, authenticated as the inter-broker
	// listener requires (cmd/quill wires internal/interbroker); nil: a
	// plain TCP dial (DialPeer).
	Dial func(ctx context.Context, addr string) (PeerConn, error)

	mu   sync.Mutex
	idle map[int32][]peerEntry // guarded by mu
}

type peerEntry struct {
	addr string
	conn PeerConn
}

var _ BrokerCaller = (*Peers)(nil)

// Call implements BrokerCaller.
func (p *Peers) Call(ctx context.Context, nodeID int32, req kmsg.Request) (kmsg.Response, error) {
	addr, ok := p.Addr(nodeID)
	if !ok {
		return nil, fmt.Errorf("broker %d is not registered", nodeID)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, peerCallTimeout)
		defer cancel()
	}
	if c := p.take(nodeID, addr); c != nil {
		resp, err := c.Do(ctx, req)
		if err == nil {
			p.put(nodeID, addr, c)
			return resp, nil
		}
		c.Close()
		if ctx.Err() != nil {
			return nil, err
		}
	}
	var c PeerConn
	var err error
	if p.Dial != nil {
		c, err = p.Dial(ctx, addr)
	} else {
		c, err = DialPeer(ctx, addr, p.ClientID)
	}
	if err != nil {
		return nil, err
	}
	resp, err := c.Do(ctx, req)
	if err != nil {
		c.Close()
		return nil, err
	}
	p.put(nodeID, addr, c)
	return resp, nil
}

// take returns an idle connection to nodeID at addr, or nil; connections to
// an old address are closed.
func (p *Peers) take(nodeID int32, addr string) PeerConn {
	p.mu.Lock()
	defer p.mu.Unlock()
	for {
		l := p.idle[nodeID]
		if len(l) == 0 {
			return nil
		}
		e := l[len(l)-1]
		p.idle[nodeID] = l[:len(l)-1]
		if e.addr == addr {
			return e.conn
		}
		e.conn.Close()
	}
}

func (p *Peers) put(nodeID int32, addr string, c PeerConn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.idle == nil {
		p.idle = map[int32][]peerEntry{}
	}
	if len(p.idle[nodeID]) >= maxIdlePeerConns {
		c.Close()
		return
	}
	p.idle[nodeID] = append(p.idle[nodeID], peerEntry{addr, c})
}

// Close closes the idle connections.
func (p *Peers) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, l := range p.idle {
		for _, e := range l {
			e.conn.Close()
		}
	}
	p.idle = nil
}

// tcpPeer is a Kafka client connection over plain TCP.
type tcpPeer struct {
	c        net.Conn
	r        *bufio.Reader
	corr     int32
	clientID string
}

func (t *tcpPeer) Close() error { return t.c.Close() }

// Do sends req and reads its response, within ctx's deadline.
func (t *tcpPeer) Do(ctx context.Context, req kmsg.Request) (kmsg.Response, error) {
	t.corr++
	f := kmsg.NewRequestFormatter(kmsg.FormatterClientID(t.clientID))
	buf := f.AppendRequest(nil, req, t.corr)
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(peerCallTimeout)
	}
	t.c.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { t.c.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if _, err := t.c.Write(buf); err != nil {
		return nil, err
	}
	return readPeerResponse(t.r, req, t.corr)
}

// maxPeerResponse bounds a response frame from another broker.
const maxPeerResponse = 64 << 20

// readPeerResponse reads one response frame for req with correlation id
// corr: size, correlation id, the flexible header's tags, the body.
func readPeerResponse(r io.Reader, req kmsg.Request, corr int32) (kmsg.Response, error) {
	var hdr [8]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	size := int32(binary.BigEndian.Uint32(hdr[:4]))
	if size < 4 || size > maxPeerResponse {
		return nil, fmt.Errorf("bad response size %d", size)
	}
	if got := int32(binary.BigEndian.Uint32(hdr[4:])); got != corr {
		return nil, fmt.Errorf("correlation id %d, want %d", got, corr)
	}
	body := make([]byte, size-4)
	if _, err := io.ReadFull(r, body); err != nil {
		return nil, err
	}
	resp := req.ResponseKind()
	resp.SetVersion(req.GetVersion())
	if resp.IsFlexible() {
		// Response header v1: skip its tagged fields.
		n, rest, err := peerUvarint(body)
		if err != nil {
			return nil, err
		}
		body = rest
		for range n {
			_, rest, err := peerUvarint(body)
			if err != nil {
				return nil, err
			}
			sz, rest, err := peerUvarint(rest)
			if err != nil || uint64(len(rest)) < sz {
				return nil, errors.New("bad response header tags")
			}
			body = rest[sz:]
		}
	}
	if err := ValidatePeerResponse(req.Key(), req.GetVersion(), body); err != nil {
		return nil, err
	}
	if err := resp.ReadFrom(body); err != nil {
		return nil, err
	}
	return resp, nil
}

func peerUvarint(b []byte) (uint64, []byte, error) {
	v, n := binary.Uvarint(b)
	if n <= 0 {
		return 0, nil, errors.New("bad uvarint")
	}
	return v, b[n:], nil
}
