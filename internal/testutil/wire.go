package testutil

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func be32(b []byte) uint32 { return binary.BigEndian.Uint32(b) }

// ReadFrame reads one int32-length-prefixed frame and returns its body.
func ReadFrame(r io.Reader, maxSize int) ([]byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	n := int32(be32(hdr[:]))
	if n < 0 || int(n) > maxSize {
		return nil, fmt.Errorf("frame length %d out of range", n)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return nil, err
	}
	return body, nil
}

// RawConn is a hand-driven Kafka connection for malformed-input tests.
type RawConn struct {
	t    testing.TB
	c    net.Conn
	r    *bufio.Reader
	corr int32
}

// DialRaw opens a TCP connection to addr, closed in t.Cleanup.
func DialRaw(t testing.TB, addr string) *RawConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return &RawConn{t: t, c: c, r: bufio.NewReader(c), corr: 100}
}

// Close closes the connection.
func (rc *RawConn) Close() error { return rc.c.Close() }

// Write writes raw bytes (a whole frame, part of one, or garbage).
func (rc *RawConn) Write(b []byte) {
	rc.t.Helper()
	_ = rc.c.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := rc.c.Write(b); err != nil {
		rc.t.Fatalf("raw write: %v", err)
	}
}

// WriteTolerant writes and returns the error instead of failing the test (a
// broker that closes early may make large writes fail with EPIPE/ECONNRESET).
func (rc *RawConn) WriteTolerant(b []byte) error {
	_ = rc.c.SetWriteDeadline(time.Now().Add(10 * time.Second))
	_, err := rc.c.Write(b)
	return err
}

// Frame prefixes body with its int32 length.
func Frame(body []byte) []byte {
	out := binary.BigEndian.AppendUint32(make([]byte, 0, 4+len(body)), uint32(len(body)))
	return append(out, body...)
}

// RequestHeader encodes a request header v1 (or v2 when flexible) for a body
// that the caller appends.
func RequestHeader(key, version int16, corr int32, clientID string, flexible bool) []byte {
	b := binary.BigEndian.AppendUint16(nil, uint16(key))
	b = binary.BigEndian.AppendUint16(b, uint16(version))
	b = binary.BigEndian.AppendUint32(b, uint32(corr))
	b = binary.BigEndian.AppendUint16(b, uint16(len(clientID)))
	b = append(b, clientID...)
	if flexible {
		b = append(b, 0)
	}
	return b
}

// NextCorrelation returns a fresh correlation id for this connection.
func (rc *RawConn) NextCorrelation() int32 { rc.corr++; return rc.corr }

// Send writes req (at req.GetVersion()) with a fresh correlation id.
func (rc *RawConn) Send(req kmsg.Request) int32 {
	rc.t.Helper()
	corr := rc.NextCorrelation()
	rc.Write(kmsg.NewRequestFormatter(kmsg.FormatterClientID("quill-e2e-raw")).AppendRequest(nil, req, corr))
	return corr
}

// ReadResponseBody reads one frame within timeout, checks the correlation id
// and strips the response header (v1 tags for flexible responses other than
// ApiVersions). It returns the body for resp.ReadFrom.
func (rc *RawConn) ReadResponseBody(corr int32, flexibleHeader bool, timeout time.Duration) ([]byte, error) {
	_ = rc.c.SetReadDeadline(time.Now().Add(timeout))
	body, err := ReadFrame(rc.r, 256<<20)
	if err != nil {
		return nil, err
	}
	if len(body) < 4 {
		return nil, fmt.Errorf("response frame of %d bytes", len(body))
	}
	if got := int32(be32(body)); got != corr {
		return nil, fmt.Errorf("correlation id %d, want %d", got, corr)
	}
	body = body[4:]
	if flexibleHeader {
		n, k := binary.Uvarint(body)
		if k <= 0 {
			return nil, errors.New("bad response header tag count")
		}
		body = body[k:]
		for i := uint64(0); i < n; i++ {
			_, k1 := binary.Uvarint(body)
			if k1 <= 0 {
				return nil, errors.New("bad response header tag")
			}
			sz, k2 := binary.Uvarint(body[k1:])
			if k2 <= 0 || uint64(len(body[k1+k2:])) < sz {
				return nil, errors.New("bad response header tag size")
			}
			body = body[k1+k2+int(sz):]
		}
	}
	return body, nil
}

// Request sends req and decodes the response at the same version, failing
// the test on any error.
func (rc *RawConn) Request(req kmsg.Request) kmsg.Response {
	rc.t.Helper()
	resp, err := rc.RequestErr(req, 10*time.Second)
	if err != nil {
		rc.t.Fatalf("%s v%d: %v", kmsg.NameForKey(req.Key()), req.GetVersion(), err)
	}
	return resp
}

// RequestErr is Request returning errors.
func (rc *RawConn) RequestErr(req kmsg.Request, timeout time.Duration) (kmsg.Response, error) {
	corr := rc.Send(req)
	flexHdr := req.IsFlexible() && req.Key() != 18
	body, err := rc.ReadResponseBody(corr, flexHdr, timeout)
	if err != nil {
		return nil, err
	}
	resp := req.ResponseKind()
	resp.SetVersion(req.GetVersion())
	if err := resp.ReadFrom(body); err != nil {
		return nil, fmt.Errorf("decode response: %v", err)
	}
	return resp, nil
}

// ExpectClosed fails the test unless the broker closes the connection within
// timeout. Any bytes the broker sends first are reported.
func (rc *RawConn) ExpectClosed(timeout time.Duration) {
	rc.t.Helper()
	if err := rc.WaitClosed(timeout); err != nil {
		rc.t.Fatal(err)
	}
}

// WaitClosed returns nil once the peer has closed (EOF or reset) within
// timeout, or an error describing what happened instead.
func (rc *RawConn) WaitClosed(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	_ = rc.c.SetReadDeadline(deadline)
	var got []byte
	buf := make([]byte, 4096)
	for {
		n, err := rc.r.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				return fmt.Errorf("connection still open after %v (received %d bytes: % x)", timeout, len(got), got[:min(len(got), 64)])
			}
			// EOF or ECONNRESET: closed. Data before a close is
			// tolerated by Kafka clients only if it is a valid
			// response; report it so the caller can judge.
			if len(got) > 0 {
				return fmt.Errorf("connection closed, but only after %d unexpected bytes: % x", len(got), got[:min(len(got), 64)])
			}
			return nil
		}
	}
}
