package server

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/quillstream/quill/internal/protowalk"
)

// A connection is served by one goroutine that reads a request, handles
// it and writes its response before reading the next, as Kafka does
// (it mutes a socket until the response is sent). Responses are therefore
// in request order. Clients still pipeline: their next requests wait in
// the read buffer, and responses are flushed when no further request is
// buffered or before a handler that may wait (long-poll Fetch, JoinGroup).
type conn struct {
	s        *Server
	nc       net.Conn
	br       *bufio.Reader
	bw       *bufio.Writer
	listener string
	remote   string

	stopping atomic.Bool
	sec      connSecurity // listener protocol, principal, SASL state (auth_conn.go)
	hdr      [4]byte
	out      []byte      // response scratch buffer, reused
	marks    []fetchMark // zero-copy fetch scratch (fetch_write.go), reused
}

func newConn(s *Server, nc net.Conn, listener string) *conn {
	return &conn{
		s: s, nc: nc, listener: listener, remote: nc.RemoteAddr().String(),
		br: bufio.NewReaderSize(nc, 64<<10),
		bw: bufio.NewWriterSize(nc, 64<<10),
	}
}

// stopReading makes the connection finish after its current request.
func (c *conn) stopReading() {
	c.stopping.Store(true)
	c.nc.SetReadDeadline(time.Now())
}

// request is one decoded request being handled.
type request struct {
	c        *conn
	key      int16
	version  int16
	corr     int32
	clientID string
	body     kmsg.Request
	// waited is how long the handler waited for data, replicas or a
	// rebalance: not counted against request quotas (auth_quotas.go).
	waited time.Duration
}

// errCloseConn makes the connection close without a response (Kafka's
// answer to unsupported versions and undecodable requests).
var errCloseConn = errors.New("close connection")

func (c *conn) serve() {
	defer c.nc.Close()
	for !c.stopping.Load() {
		if c.br.Buffered() == 0 {
			if err := c.bw.Flush(); err != nil {
				return
			}
		}
		frame, err := c.readFrame()
		if err != nil {
			if !errors.Is(err, io.EOF) && !c.stopping.Load() && !isTimeout(err) {
				c.s.log.Debug("closing connection", "remote", c.remote, "err", err)
			}
			return
		}
		if err := c.handle(frame); err != nil {
			c.s.log.Debug("closing connection", "remote", c.remote, "err", err)
			c.bw.Flush()
			return
		}
	}
	c.bw.Flush()
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func (c *conn) readFrame() ([]byte, error) {
	if idle := c.s.cfg.ConnectionsMaxIdle; idle > 0 && c.br.Buffered() == 0 && !c.stopping.Load() {
		// connections.max.idle.ms: a connection with no request for this
		// long is closed.
		c.nc.SetReadDeadline(time.Now().Add(idle))
		if c.stopping.Load() { // raced with stopReading: keep its deadline
			c.nc.SetReadDeadline(time.Now())
		}
	}
	if _, err := io.ReadFull(c.br, c.hdr[:]); err != nil {
		return nil, err
	}
	n := int32(binary.BigEndian.Uint32(c.hdr[:]))
	if n < 0 || n < 8 && !c.sec.raw { // key, version, correlation id at the least (raw SASL tokens are shorter)
		return nil, fmt.Errorf("invalid frame size %d", n)
	}
	if max := c.s.cfg.SocketRequestMaxBytes; max > 0 && n > max {
		return nil, fmt.Errorf("frame of %d bytes exceeds socket.request.max.bytes %d", n, max)
	}
	frame := make([]byte, n)
	if _, err := io.ReadFull(c.br, frame); err != nil {
		return nil, err
	}
	return frame, nil
}

// parseHeader decodes a request header: key, version, correlation id,
// client id (int16-length nullable string even in header v2), then tagged
// fields when the request is flexible. It returns the body.
func parseHeader(frame []byte, flexible func(key, version int16) bool) (r request, body []byte, err error) {
	if len(frame) < 10 {
		return r, nil, errors.New("request header truncated")
	}
	r.key = int16(binary.BigEndian.Uint16(frame))
	r.version = int16(binary.BigEndian.Uint16(frame[2:]))
	r.corr = int32(binary.BigEndian.Uint32(frame[4:]))
	idLen := int16(binary.BigEndian.Uint16(frame[8:]))
	rest := frame[10:]
	if idLen > 0 {
		if int(idLen) > len(rest) {
			return r, nil, errors.New("client id truncated")
		}
		r.clientID = string(rest[:idLen])
		rest = rest[idLen:]
	} else if idLen < -1 {
		return r, nil, errors.New("invalid client id length")
	}
	if flexible(r.key, r.version) {
		rest, err = skipTags(rest)
		if err != nil {
			return r, nil, err
		}
	}
	return r, rest, nil
}

// skipTags skips a tagged-field section.
func skipTags(b []byte) ([]byte, error) {
	n, k := binary.Uvarint(b)
	if k <= 0 {
		return nil, errors.New("tagged fields truncated")
	}
	b = b[k:]
	for range n {
		if _, k = binary.Uvarint(b); k <= 0 {
			return nil, errors.New("tag truncated")
		}
		b = b[k:]
		size, k := binary.Uvarint(b)
		if k <= 0 || size > uint64(len(b)-k) {
			return nil, errors.New("tag truncated")
		}
		b = b[k+int(size):]
	}
	return b, nil
}

func (c *conn) handle(frame []byte) error {
	if c.sec.raw {
		return c.handleRawSASL(frame)
	}
	s := c.s
	r, body, err := parseHeader(frame, func(key, version int16) bool {
		req := kmsg.RequestForKey(key)
		if req == nil || key == apiVersionsKey { // ApiVersions' header is never parsed as flexible here: clients send it v2 but we skip the body on errors
			return req != nil && key == apiVersionsKey && version >= 3
		}
		req.SetVersion(version)
		return req.IsFlexible()
	})
	if err != nil {
		return err
	}
	r.c = c
	h := s.handler(r.key)
	if h == nil || r.version < h.min || r.version > h.max {
		if r.key == apiVersionsKey {
			// KIP-511: answer an unknown ApiVersions version with a v0
			// body listing our ApiVersions range.
			resp := kmsg.NewPtrApiVersionsResponse()
			resp.ErrorCode = kerr.UnsupportedVersion.Code
			resp.ApiKeys = []kmsg.ApiVersionsResponseApiKey{{ApiKey: apiVersionsKey, MinVersion: h.min, MaxVersion: h.max}}
			resp.SetVersion(0)
			return c.writeResponse(&r, resp)
		}
		return fmt.Errorf("unsupported %s v%d from %q", kmsg.NameForKey(r.key), r.version, r.clientID)
	}
	req := kmsg.RequestForKey(r.key)
	req.SetVersion(r.version)
	// The structural walk bounds every count by the body's length before
	// kmsg, whose tag-section loops are unbounded, sees the body; a body
	// failing it is treated as one kmsg fails to decode.
	err = protowalk.Request(r.key, r.version, body)
	if err == nil {
		err = req.ReadFrom(body)
	}
	if err != nil {
		if r.key == apiVersionsKey {
			resp := kmsg.NewPtrApiVersionsResponse()
			resp.ErrorCode = kerr.InvalidRequest.Code
			resp.SetVersion(r.version)
			return c.writeResponse(&r, resp)
		}
		return fmt.Errorf("decode %s v%d: %w", kmsg.NameForKey(r.key), r.version, err)
	}
	r.body = req
	if h.blocking {
		if err := c.bw.Flush(); err != nil {
			return err
		}
	}
	start := time.Now()
	resp, err := c.dispatch(h, &r)
	s.cfg.Observer.Request(r.key, r.version, time.Since(start))
	if err != nil {
		return err
	}
	if resp == nil { // acks=0 Produce
		return nil
	}
	resp.SetVersion(r.version)
	return c.writeResponse(&r, resp)
}

// writeResponse frames resp: size, correlation id, a tag section for
// flexible versions (never for ApiVersions, whose response header is v0
// so that clients can parse it before they know our versions).
func (c *conn) writeResponse(r *request, resp kmsg.Response) error {
	if f, ok := resp.(*fetchFrame); ok && zeroCopyFetch {
		if done, err := c.writeFetch(r, f); done {
			return err
		}
	}
	b := c.out[:0]
	b = append(b, 0, 0, 0, 0)
	b = binary.BigEndian.AppendUint32(b, uint32(r.corr))
	if resp.IsFlexible() && r.key != apiVersionsKey {
		b = append(b, 0)
	}
	b = resp.AppendTo(b)
	binary.BigEndian.PutUint32(b, uint32(len(b)-4))
	_, err := c.bw.Write(b)
	if cap(b) <= 1<<20 {
		c.out = b[:0]
	} else {
		c.out = nil
	}
	return err
}
