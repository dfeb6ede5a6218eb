package server

// Connection security: the listener's protocol, the principal, and the
// SASL state machine (SaslHandshake, key 17, versions 0-1; SaslAuthenticate,
// key 36, versions 0-2).
//
// On SASL listeners nothing but ApiVersions, SaslHandshake and
// SaslAuthenticate is served until authentication succeeds; any other
// request is answered with ILLEGAL_SASL_STATE where its response has a
// top-level error code, and the connection is closed. Wrong credentials
// get SASL_AUTHENTICATION_FAILED, then the connection is closed.
//
// SaslHandshake v0 switches the connection to raw SASL tokens: the next
// frames carry mechanism bytes without a request header, until the
// exchange ends (the pre-KIP-152 protocol).
//
// KIP-368: with connections.max.reauth.ms > 0, SaslAuthenticate v1+ tells
// the client its session lifetime; the client must re-authenticate (same
// principal) on the same connection before it ends. A request other than
// the SASL ones after expiry closes the connection.

import (
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"reflect"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/quillstream/quill/internal/auth"
	"github.com/quillstream/quill/internal/config"
)

const (
	saslHandshakeKey    = 17
	saslAuthenticateKey = 36
)

// connSecurity is one connection's security state; only the connection's
// goroutine touches it.
type connSecurity struct {
	listener *Listener

	principal     string       // "" until known
	authenticated bool         // SASL exchange completed (SASL listeners)
	mech          auth.Session // exchange in progress, or nil
	raw           bool         // SaslHandshake v0: frames are raw tokens
	expiry        time.Time    // KIP-368 session end; zero: none
	closeAfter    bool         // write the response, then close
	throttleUntil time.Time    // quota: delay the next request until then
}

func (c *conn) initSecurity(l *Listener) {
	c.sec.listener = l
}

func (sec *connSecurity) isSASL() bool {
	if sec.listener == nil {
		return false
	}
	p := sec.listener.Protocol
	return p == config.ProtocolSASLPlaintext || p == config.ProtocolSASLSSL
}

// principal returns the connection's principal: the SASL identity, the
// TLS client certificate's DN, or User:ANONYMOUS.
func (c *conn) principal() string {
	if c.sec.principal != "" {
		return c.sec.principal
	}
	if tc, ok := c.nc.(*tls.Conn); ok && !c.sec.isSASL() {
		// The handshake is complete: a request has been read. dispatch
		// has refused DNs the mapping rules reject.
		var rules *auth.PrincipalRules
		if c.sec.listener != nil {
			rules = c.sec.listener.PrincipalRules
		}
		p, err := auth.MappedCertPrincipal(tc.ConnectionState(), rules)
		if err != nil {
			return auth.Anonymous // not reached: see dispatch
		}
		c.sec.principal = p
		return c.sec.principal
	}
	if !c.sec.isSASL() {
		c.sec.principal = auth.Anonymous
		return c.sec.principal
	}
	return auth.Anonymous
}

// clientHost is the client's IP address, as ACL hosts name it.
func (c *conn) clientHost() string {
	if a, ok := c.nc.RemoteAddr().(*net.TCPAddr); ok {
		return a.IP.String()
	}
	h, _, err := net.SplitHostPort(c.remote)
	if err != nil {
		return c.remote
	}
	return h
}

// errSASLClose closes the connection after a SASL failure (the response,
// if any, has been written).
var errSASLClose = errors.New("SASL failure: closing connection")

// dispatch runs a request's handler once the connection may send it, and
// applies ACLs when an authorizer is configured.
func (c *conn) dispatch(h *handler, r *request) (kmsg.Response, error) {
	sec := &c.sec
	if sec.principal == "" && sec.listener != nil && sec.listener.PrincipalRules != nil && !sec.isSASL() {
		if tc, ok := c.nc.(*tls.Conn); ok {
			if _, err := auth.MappedCertPrincipal(tc.ConnectionState(), sec.listener.PrincipalRules); err != nil {
				return nil, fmt.Errorf("client certificate refused: %w", err)
			}
		}
	}
	c.waitThrottle()
	switch r.key {
	case apiVersionsKey, saslHandshakeKey, saslAuthenticateKey:
		resp, err := h.fn(r)
		if err == nil && sec.closeAfter && resp != nil {
			resp.SetVersion(r.version)
			if werr := c.writeResponse(r, resp); werr != nil {
				return nil, werr
			}
			return nil, errSASLClose
		}
		return resp, err
	}
	if sec.isSASL() && (!sec.authenticated || sec.mech != nil) {
		return nil, c.illegalSASLState(r)
	}
	if !sec.expiry.IsZero() && time.Now().After(sec.expiry) {
		return nil, fmt.Errorf("SASL session of %s expired (connections.max.reauth.ms)", sec.principal)
	}
	var resp kmsg.Response
	var err error
	start := time.Now()
	if c.s.authz != nil {
		resp, err = c.s.authorized(h, r)
	} else {
		resp, err = h.fn(r)
	}
	if err == nil && resp != nil {
		c.s.fillAuthorizedOps(r, resp)
	}
	if err == nil {
		c.applyQuotas(r, resp, time.Since(start)-r.waited)
	}
	return resp, err
}

// illegalSASLState answers a request sent before authentication with
// ILLEGAL_SASL_STATE, if its response has a top-level error code, and
// closes the connection.
func (c *conn) illegalSASLState(r *request) error {
	resp := r.body.ResponseKind()
	v := reflect.ValueOf(resp).Elem()
	if f := v.FieldByName("ErrorCode"); f.IsValid() && f.Kind() == reflect.Int16 && f.CanSet() {
		f.SetInt(int64(kerr.IllegalSaslState.Code))
		resp.SetVersion(r.version)
		if err := c.writeResponse(r, resp); err != nil {
			return err
		}
	}
	return fmt.Errorf("%s before SASL authentication: %w", kmsg.NameForKey(r.key), errSASLClose)
}

func (s *Server) handleSaslHandshake(r *request, req *kmsg.SASLHandshakeRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.SASLHandshakeResponse)
	c := r.c
	sec := &c.sec
	if !sec.isSASL() || sec.listener.SASL == nil {
		resp.ErrorCode = kerr.IllegalSaslState.Code
		return resp, nil
	}
	resp.SupportedMechanisms = sec.listener.SASL.Enabled
	if sec.mech != nil || (sec.authenticated && r.version == 0) {
		resp.ErrorCode = kerr.IllegalSaslState.Code
		sec.closeAfter = true
		return resp, nil
	}
	mech, err := sec.listener.SASL.Start(req.Mechanism)
	if err != nil {
		resp.ErrorCode = kerr.UnsupportedSaslMechanism.Code
		sec.closeAfter = true
		return resp, nil
	}
	sec.mech = mech
	sec.raw = r.version == 0
	return resp, nil
}

func (s *Server) handleSaslAuthenticate(r *request, req *kmsg.SASLAuthenticateRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.SASLAuthenticateResponse)
	resp.SASLAuthBytes = []byte{}
	sec := &r.c.sec
	if sec.mech == nil || sec.raw {
		resp.ErrorCode = kerr.IllegalSaslState.Code
		msg := "SaslAuthenticate without a SaslHandshake v1"
		resp.ErrorMessage = &msg
		sec.closeAfter = true
		return resp, nil
	}
	out, lifetime, err := r.c.saslStep(req.SASLAuthBytes)
	if err != nil {
		resp.ErrorCode = kerr.SaslAuthenticationFailed.Code
		msg := err.Error()
		resp.ErrorMessage = &msg
		sec.closeAfter = true
		return resp, nil
	}
	resp.SASLAuthBytes = out
	if r.version >= 1 {
		resp.SessionLifetimeMillis = lifetime
	}
	return resp, nil
}

// saslStep feeds one client message to the exchange. When it completes,
// the connection is authenticated and lifetime is the session lifetime in
// ms (0: no re-authentication).
func (c *conn) saslStep(in []byte) (out []byte, lifetime int64, err error) {
	sec := &c.sec
	out, done, err := sec.mech.Step(in)
	if err != nil {
		sec.mech = nil
		c.s.log.Info("SASL authentication failed", "remote", c.remote, "listener", c.listener, "err", err)
		if errors.Is(err, auth.ErrBadMessage) {
			return nil, 0, err
		}
		return nil, 0, auth.ErrAuthFailed
	}
	if !done {
		return out, 0, nil
	}
	p := sec.mech.Principal()
	sec.mech = nil
	if sec.authenticated && p != sec.principal {
		return nil, 0, fmt.Errorf("%w: re-authentication as %s on a connection of %s", auth.ErrAuthFailed, p, sec.principal)
	}
	sec.principal, sec.authenticated = p, true
	if d := sec.listener.MaxReauth; d > 0 {
		sec.expiry = time.Now().Add(d)
		lifetime = d.Milliseconds()
	}
	if out == nil {
		out = []byte{}
	}
	return out, lifetime, nil
}

// handleRawSASL serves one raw token frame after SaslHandshake v0. A
// failure closes the connection without an answer, as Kafka does.
func (c *conn) handleRawSASL(frame []byte) error {
	out, _, err := c.saslStep(frame)
	if err != nil {
		c.sec.raw = false
		return err
	}
	if c.sec.mech == nil {
		c.sec.raw = false
	}
	var hdr [4]byte
	binary.BigEndian.PutUint32(hdr[:], uint32(len(out)))
	if _, err := c.bw.Write(hdr[:]); err != nil {
		return err
	}
	_, err = c.bw.Write(out)
	return err
}
