package server

import (
	"bufio"
	"io"
	"log/slog"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/quillstream/quill/internal/auth"
)

// saslTestConn is a connection on a SASL_PLAINTEXT listener with PLAIN
// user alice/secret and SCRAM-SHA-256 user sam/pw, without a socket.
func saslTestConn(t testing.TB) *conn {
	cred, err := auth.NewScramCredential(auth.MechScramSHA256, "pw", 4096)
	if err != nil {
		t.Fatal(err)
	}
	l := &Listener{Name: "SASL_PLAINTEXT", Protocol: "SASL_PLAINTEXT", SASL: &auth.Mechanisms{
		Enabled:    []string{auth.MechPlain, auth.MechScramSHA256, auth.MechOAuthBearer},
		PlainUsers: map[string]string{"alice": "secret"},
		Scram: func(mech, user string) (auth.ScramCredential, bool) {
			return cred, mech == auth.MechScramSHA256 && user == "sam"
		},
	}}
	s := &Server{log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	c := &conn{s: s, bw: bufio.NewWriter(io.Discard)}
	c.initSecurity(l)
	return c
}

func saslRound(c *conn, version int16, mech string, tokens ...[]byte) (codes []int16) {
	hs := kmsg.NewPtrSASLHandshakeRequest()
	hs.Mechanism = mech
	r := &request{c: c, version: version}
	resp, _ := c.s.handleSaslHandshake(r, hs)
	codes = append(codes, resp.(*kmsg.SASLHandshakeResponse).ErrorCode)
	for _, tok := range tokens {
		if c.sec.raw {
			if err := c.handleRawSASL(tok); err != nil {
				return append(codes, -1)
			}
			continue
		}
		sa := kmsg.NewPtrSASLAuthenticateRequest()
		sa.SASLAuthBytes = tok
		resp, _ := c.s.handleSaslAuthenticate(&request{c: c, version: 1}, sa)
		codes = append(codes, resp.(*kmsg.SASLAuthenticateResponse).ErrorCode)
	}
	return codes
}

func TestSASLStates(t *testing.T) {
	c := saslTestConn(t)
	if codes := saslRound(c, 1, "PLAIN", []byte("\x00alice\x00secret")); codes[0] != 0 || codes[1] != 0 || !c.sec.authenticated || c.principal() != "User:alice" {
		t.Fatalf("PLAIN: %v %+v", codes, c.sec)
	}
	c = saslTestConn(t)
	if codes := saslRound(c, 1, "PLAIN", []byte("\x00alice\x00nope")); codes[1] != kerr.SaslAuthenticationFailed.Code || !c.sec.closeAfter || c.sec.authenticated {
		t.Fatalf("bad PLAIN: %v %+v", codes, c.sec)
	}
	c = saslTestConn(t)
	if codes := saslRound(c, 1, "GSSAPI"); codes[0] != kerr.UnsupportedSaslMechanism.Code || !c.sec.closeAfter {
		t.Fatalf("GSSAPI: %v", codes)
	}
	c = saslTestConn(t)
	if codes := saslRound(c, 0, "PLAIN", []byte("\x00alice\x00secret")); codes[0] != 0 || !c.sec.authenticated || c.sec.raw {
		t.Fatalf("raw PLAIN: %v %+v", codes, c.sec)
	}
}

// FuzzSASLExchange feeds arbitrary tokens to every mechanism, through
// SaslAuthenticate and as raw v0 frames: nothing may panic, and random
// bytes never authenticate as sam (SCRAM).
func FuzzSASLExchange(f *testing.F) {
	f.Add("SCRAM-SHA-256", []byte("n,,n=sam,r=abc"), []byte("c=biws,r=abcdef,p=AAAA"), false)
	f.Add("PLAIN", []byte("\x00alice\x00secret"), []byte{}, true)
	f.Add("OAUTHBEARER", []byte("n,,\x01auth=Bearer a.b.\x01\x01"), []byte("x"), false)
	f.Fuzz(func(t *testing.T, mech string, a, b []byte, raw bool) {
		c := saslTestConn(t)
		v := int16(1)
		if raw {
			v = 0
		}
		saslRound(c, v, mech, a, b)
		if mech == "SCRAM-SHA-256" && c.sec.authenticated {
			t.Fatalf("random SCRAM tokens authenticated: %q %q", a, b)
		}
	})
}
