package interbroker

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/quillstream/quill/internal/auth"
	"github.com/quillstream/quill/internal/metadata"
)

// fakeBroker serves ApiVersions, SaslHandshake, SaslAuthenticate (with
// internal/auth's server side) and Metadata, enough to check the client
// side of the handshake against Quill's SASL mechanisms.
type fakeBroker struct {
	ln    net.Listener
	mechs *auth.Mechanisms
	// lifetime is the SessionLifetimeMillis answered (KIP-368).
	lifetime int64
	auths    chan string // principals authenticated, in order
}

func startFake(t *testing.T, mechs *auth.Mechanisms, lifetime int64) *fakeBroker {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeBroker{ln: ln, mechs: mechs, lifetime: lifetime, auths: make(chan string, 10)}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			go f.serve(nc)
		}
	}()
	return f
}

func (f *fakeBroker) serve(nc net.Conn) {
	defer nc.Close()
	r := bufio.NewReader(nc)
	var sess auth.Session
	authed := false
	for {
		var hdr [4]byte
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return
		}
		frame := make([]byte, binary.BigEndian.Uint32(hdr[:]))
		if _, err := io.ReadFull(r, frame); err != nil {
			return
		}
		key, version := int16(binary.BigEndian.Uint16(frame)), int16(binary.BigEndian.Uint16(frame[2:]))
		corr := binary.BigEndian.Uint32(frame[4:])
		idLen := int(int16(binary.BigEndian.Uint16(frame[8:])))
		body := frame[10+max(idLen, 0):]
		req := kmsg.RequestForKey(key)
		req.SetVersion(version)
		if req.IsFlexible() {
			body = body[1:] // no tags in our client's headers
		}
		if err := req.ReadFrom(body); err != nil {
			return
		}
		var resp kmsg.Response
		switch q := req.(type) {
		case *kmsg.ApiVersionsRequest:
			resp = q.ResponseKind()
		case *kmsg.SASLHandshakeRequest:
			hr := q.ResponseKind().(*kmsg.SASLHandshakeResponse)
			var err error
			if sess, err = f.mechs.Start(q.Mechanism); err != nil {
				hr.ErrorCode = 33 // UNSUPPORTED_SASL_MECHANISM
			}
			resp = hr
		case *kmsg.SASLAuthenticateRequest:
			ar := q.ResponseKind().(*kmsg.SASLAuthenticateResponse)
			out, done, err := sess.Step(q.SASLAuthBytes)
			switch {
			case err != nil:
				ar.ErrorCode = 58 // SASL_AUTHENTICATION_FAILED
			case done:
				authed = true
				ar.SessionLifetimeMillis = f.lifetime
				f.auths <- sess.Principal()
			}
			ar.SASLAuthBytes = out
			resp = ar
		case *kmsg.MetadataRequest:
			if !authed {
				return
			}
			resp = q.ResponseKind()
		default:
			return
		}
		resp.SetVersion(version)
		out := binary.BigEndian.AppendUint32(make([]byte, 4), corr)
		if resp.IsFlexible() && key != 18 {
			out = append(out, 0)
		}
		out = resp.AppendTo(out)
		binary.BigEndian.PutUint32(out, uint32(len(out)-4))
		if _, err := nc.Write(out); err != nil {
			return
		}
	}
}

func (f *fakeBroker) image() *metadata.Image {
	img := metadata.Empty()
	a := f.ln.Addr().(*net.TCPAddr)
	img.Brokers[2] = &metadata.Broker{ID: 2, Host: "127.0.0.1", Port: 1, Endpoints: []metadata.Endpoint{
		{Name: "EXTERNAL", Host: "127.0.0.1", Port: 1, Protocol: ProtocolPlaintext},
		{Name: "INTERNAL", Host: "127.0.0.1", Port: int32(a.Port), Protocol: ProtocolSASLPlaintext}}}
	return img
}

func metadataReq() *kmsg.MetadataRequest {
	req := kmsg.NewPtrMetadataRequest()
	req.SetVersion(12)
	return req
}

// TestDialSASL authenticates with PLAIN and SCRAM against Quill's own
// server-side mechanisms, on the inter-broker listener's endpoint, and
// re-authenticates (KIP-368) when the session lifetime passes.
func TestDialSASL(t *testing.T) {
	cred, err := auth.NewScramCredential(auth.MechScramSHA512, "broker-secret", 4096)
	if err != nil {
		t.Fatal(err)
	}
	mechs := &auth.Mechanisms{
		Enabled:    []string{auth.MechPlain, auth.MechScramSHA512},
		PlainUsers: map[string]string{"broker": "broker-secret"},
		Scram: func(mech, user string) (auth.ScramCredential, bool) {
			return cred, mech == auth.MechScramSHA512 && user == "broker"
		},
	}
	for _, c := range []struct {
		mech, password string
		ok             bool
	}{
		{auth.MechPlain, "broker-secret", true},
		{auth.MechScramSHA512, "broker-secret", true},
		{auth.MechScramSHA512, "wrong", false},
		{auth.MechScramSHA256, "broker-secret", false}, // not enabled
	} {
		f := startFake(t, mechs, 1) // 1 ms sessions: every request re-authenticates
		d := &Dialer{NodeID: 1, Image: f.image, Security: Security{Listener: "INTERNAL", Protocol: ProtocolSASLPlaintext,
			Mechanism: c.mech, Username: "broker", Password: c.password}}
		if err := d.Security.Validate(); err != nil {
			t.Fatal(err)
		}
		conn, err := d.Dial(context.Background(), 2)
		if (err == nil) != c.ok {
			t.Fatalf("%s/%s: dial error %v", c.mech, c.password, err)
		}
		if err != nil {
			continue
		}
		if p := <-f.auths; p != "User:broker" {
			t.Errorf("%s: principal %s", c.mech, p)
		}
		time.Sleep(5 * time.Millisecond) // past the session lifetime
		if _, err := conn.Do(metadataReq(), time.Now().Add(5*time.Second)); err != nil {
			t.Fatalf("%s: Metadata: %v", c.mech, err)
		}
		select {
		case <-f.auths:
		default:
			t.Errorf("%s: no re-authentication after the session lifetime", c.mech)
		}
		conn.Close()
	}
}

func TestDialUnknownEndpoint(t *testing.T) {
	f := startFake(t, &auth.Mechanisms{}, 0)
	d := &Dialer{NodeID: 1, Image: f.image, Security: Security{Listener: "NOPE"}}
	if _, err := d.Dial(context.Background(), 2); err == nil {
		t.Error("dialled a listener the broker does not have")
	}
	if _, err := d.Dial(context.Background(), 7); err == nil {
		t.Error("dialled an unregistered broker")
	}
}

func TestCredentials(t *testing.T) {
	u, p, err := Credentials(`org.apache.kafka.common.security.scram.ScramLoginModule required username="broker" password="s\"ecret";`)
	if err != nil || u != "broker" || p != `s"ecret` {
		t.Errorf("credentials %q %q %v", u, p, err)
	}
	if err := (&Security{Listener: "X", Protocol: ProtocolSASLSSL, Mechanism: "GSSAPI", Username: "u"}).Validate(); err == nil {
		t.Error("GSSAPI accepted")
	}
	if err := (&Security{Listener: "X", Protocol: ProtocolSASLSSL, Mechanism: auth.MechPlain}).Validate(); err == nil {
		t.Error("SASL without a username accepted")
	}
}

// FuzzReadResponse: response frames from a peer never panic the reader.
func FuzzReadResponse(f *testing.F) {
	resp := kmsg.NewPtrMetadataResponse()
	resp.SetVersion(12)
	frame := binary.BigEndian.AppendUint32(make([]byte, 4), 1)
	frame = append(frame, 0)
	frame = resp.AppendTo(frame)
	binary.BigEndian.PutUint32(frame, uint32(len(frame)-4))
	f.Add(frame, int16(3), int16(12))
	f.Add([]byte{0, 0, 0, 5, 0, 0, 0, 1, 0xff}, int16(18), int16(3))
	f.Fuzz(func(t *testing.T, b []byte, key, version int16) {
		req := kmsg.RequestForKey(key)
		if req == nil || version < 0 || version > req.MaxVersion() {
			return
		}
		req.SetVersion(version)
		_, _ = readResponse(bytes.NewReader(b), req, 1)
	})
}
