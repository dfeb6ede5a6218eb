// Package interbroker owns the client side of the connections brokers
// open to each other: follower fetches today, transaction markers next.
//
// A Dialer looks up the target broker's endpoint for the inter-broker
// listener (inter.broker.listener.name or security.inter.broker.protocol)
// in the metadata image, dials it, completes TLS when the listener's
// protocol is SSL or SASL_SSL (the listener's trust store verifies the
// peer; its key store, if set, is the client certificate for mTLS), and
// authenticates with SASL when it is SASL_PLAINTEXT or SASL_SSL
// (ApiVersions, SaslHandshake v1, SaslAuthenticate v1 with PLAIN or
// SCRAM-SHA-256/512, the username and password of the listener's JAAS
// config). The result is a Conn that sends one request at a time.
//
//	d := &interbroker.Dialer{NodeID: 1, Image: ctrl.Image, Security: sec}
//	c, err := d.Dial(ctx, 2)        // broker 2, authenticated
//	resp, err := c.Do(req, deadline) // one request, one response
//	c.Close()
//
// The broker at the other end sees the principal of these credentials (or
// of the client certificate on SSL); with an authorizer it needs
// ClusterAction on the cluster, e.g. as one of super.users.
package interbroker

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/quillstream/quill/internal/protowalk"
)

// maxResponse bounds a response frame read from a peer.
const maxResponse = 256 << 20

// Conn is one authenticated connection to another broker. Do is not safe
// for concurrent use; Close may be called at any time, also while Do runs
// (Do then fails).
type Conn struct {
	nc       net.Conn
	r        *bufio.Reader
	corr     int32
	clientID string
	// KIP-368: when the peer gave the SASL session a lifetime, reauth
	// re-authenticates before the next request after reauthAt.
	reauth   func(deadline time.Time) error
	reauthAt time.Time
	// check, when set (Dialer.CheckResponse), vets a response body
	// before kmsg decodes it.
	check func(key, version int16, body []byte) error
}

// Close closes the connection.
func (c *Conn) Close() error { return c.nc.Close() }

// RemoteAddr is the peer's address.
func (c *Conn) RemoteAddr() net.Addr { return c.nc.RemoteAddr() }

// Do sends req (its version set by the caller) and reads its response, all
// before deadline. After an error the connection is unusable: close it.
func (c *Conn) Do(req kmsg.Request, deadline time.Time) (kmsg.Response, error) {
	if c.reauth != nil && !c.reauthAt.IsZero() && time.Now().After(c.reauthAt) {
		if err := c.reauth(deadline); err != nil {
			return nil, fmt.Errorf("re-authentication: %w", err)
		}
	}
	return c.do(req, deadline)
}

func (c *Conn) do(req kmsg.Request, deadline time.Time) (kmsg.Response, error) {
	c.corr++
	f := kmsg.NewRequestFormatter(kmsg.FormatterClientID(c.clientID))
	buf := f.AppendRequest(nil, req, c.corr)
	if err := c.nc.SetDeadline(deadline); err != nil {
		return nil, err
	}
	if _, err := c.nc.Write(buf); err != nil {
		return nil, err
	}
	return readResponseChecked(c.r, req, c.corr, c.check)
}

// readResponse reads one response frame for req from r: size, correlation
// id, the header's tagged fields (flexible versions, except ApiVersions,
// whose response header is always v0), then the body.
func readResponse(r io.Reader, req kmsg.Request, corr int32) (kmsg.Response, error) {
	return readResponseChecked(r, req, corr, nil)
}

// readResponseChecked is readResponse with check (if not nil) run on the
// body, after the header's tags, before kmsg decodes it.
func readResponseChecked(r io.Reader, req kmsg.Request, corr int32, check func(key, version int16, body []byte) error) (kmsg.Response, error) {
	var hdr [8]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	size := int32(binary.BigEndian.Uint32(hdr[:4]))
	if size < 4 || size > maxResponse {
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
	if resp.IsFlexible() && req.Key() != 18 {
		var err error
		if body, err = skipTags(body); err != nil {
			return nil, err
		}
	}
	// kmsg's tag-section loops trust the counts in the bytes: responses
	// with a schema in protowalk (Fetch, ListOffsets, ApiVersions and the
	// SASL ones) are walked first, every count bounded by the body.
	if err := protowalk.Response(req.Key(), req.GetVersion(), body); err != nil && !errors.Is(err, protowalk.ErrNoSchema) {
		return nil, err
	}
	if check != nil {
		if err := check(req.Key(), req.GetVersion(), body); err != nil {
			return nil, err
		}
	}
	if err := resp.ReadFrom(body); err != nil {
		return nil, err
	}
	return resp, nil
}

// skipTags skips a tagged-field section.
func skipTags(b []byte) ([]byte, error) {
	n, k := binary.Uvarint(b)
	if k <= 0 {
		return nil, errors.New("bad response header tags")
	}
	b = b[k:]
	for range n {
		if _, k = binary.Uvarint(b); k <= 0 {
			return nil, errors.New("bad response header tag")
		}
		b = b[k:]
		sz, k := binary.Uvarint(b)
		if k <= 0 || sz > uint64(len(b)-k) {
			return nil, errors.New("bad response header tag")
		}
		b = b[k+int(sz):]
	}
	return b, nil
}
