package e2e

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/quillstream/quill/internal/testutil"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/oauth"
	"github.com/twmb/franz-go/pkg/sasl/plain"
)

// roundTrip produces n records to a new topic with cl and reads them back.
func roundTrip(t *testing.T, adm func() *kgo.Client, cl *kgo.Client, topic string) {
	t.Helper()
	var recs []*kgo.Record
	for i := 0; i < 10; i++ {
		recs = append(recs, &kgo.Record{Topic: topic, Value: []byte{byte('a' + i)}})
	}
	produceSync(t, cl, recs...)
	c := adm()
	c.AddConsumeTopics(topic)
	got := 0
	ctx := ctxT(t, 20*time.Second)
	for got < len(recs) {
		fs := c.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d of %d: %v", got, len(recs), err)
		}
		fs.EachError(func(_ string, _ int32, err error) { t.Fatalf("fetch: %v", err) })
		got += fs.NumRecords()
	}
}

// TestSecurityListeners: one broker with PLAINTEXT, SSL (client
// certificates required), SASL_SSL and SASL_PLAINTEXT listeners at once.
// Metadata answers each listener with its own address, so a client
// bootstrapped on the SSL port stays on it.
func TestSecurityListeners(t *testing.T) {
	t.Parallel()
	sb := startSecureBroker(t, nil)
	_, _, alice := sb.pki.client(t, "alice", pkix.Name{CommonName: "alice", Organization: []string{"Quill"}})

	t.Run("ssl-mtls", func(t *testing.T) {
		topic := topicName(t)
		cl := sb.client(t, append(sb.tlsOpts(alice), kgo.AllowAutoTopicCreation())...)
		roundTrip(t, func() *kgo.Client {
			return sb.client(t, append(sb.tlsOpts(alice), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))...)
		}, cl, topic)
		// Metadata gave the SSL listener's port.
		req := kmsg.NewPtrMetadataRequest()
		resp, err := req.RequestWith(ctxT(t, 10*time.Second), cl)
		if err != nil {
			t.Fatal(err)
		}
		if got := net.JoinHostPort(resp.Brokers[0].Host, itoa(resp.Brokers[0].Port)); got != sb.SSL {
			t.Errorf("metadata over SSL advertises %s, want %s", got, sb.SSL)
		}
	})

	// Large fetches take the file-to-socket path on plaintext; over TLS
	// the bytes must go through the TLS connection.
	t.Run("ssl-large-fetch", func(t *testing.T) {
		topic := topicName(t)
		createTopic(t, sb.Admin(t), topic, 1, nil)
		cl := sb.client(t, append(sb.tlsOpts(alice), kgo.ProducerBatchMaxBytes(2<<20))...)
		var recs []*kgo.Record
		for i := 0; i < 6; i++ {
			v := bytes.Repeat([]byte{byte('a' + i)}, 700<<10)
			recs = append(recs, &kgo.Record{Topic: topic, Value: v})
		}
		produceSync(t, cl, recs...)
		c := sb.client(t, append(sb.tlsOpts(alice), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
			kgo.FetchMaxBytes(8<<20), kgo.FetchMaxPartitionBytes(8<<20))...)
		got := 0
		ctx := ctxT(t, 20*time.Second)
		for got < len(recs) {
			fs := c.PollFetches(ctx)
			if ctx.Err() != nil {
				t.Fatalf("consumed %d of %d", got, len(recs))
			}
			fs.EachError(func(_ string, _ int32, err error) { t.Fatalf("fetch: %v", err) })
			fs.EachRecord(func(r *kgo.Record) {
				if !bytes.Equal(r.Value, recs[r.Offset].Value) {
					t.Fatalf("record %d differs", r.Offset)
				}
				got++
			})
		}
	})

	t.Run("ssl-without-client-cert", func(t *testing.T) {
		cl := sb.client(t, sb.tlsOpts()...)
		if err := cl.Ping(ctxT(t, 10*time.Second)); err == nil {
			t.Fatal("SSL listener with ssl.client.auth=required accepted a client without a certificate")
		}
	})

	t.Run("ssl-untrusted-server", func(t *testing.T) {
		c, err := tls.Dial("tcp", sb.SSL, &tls.Config{ServerName: "127.0.0.1"})
		if err == nil {
			c.Close()
			t.Fatal("test CA certificate trusted by the system roots?")
		}
	})

	t.Run("sasl-ssl-plain", func(t *testing.T) {
		topic := topicName(t)
		cl := sb.client(t, append(sb.plainOpts("alice", "alice-secret"), kgo.AllowAutoTopicCreation())...)
		roundTrip(t, func() *kgo.Client {
			return sb.client(t, append(sb.plainOpts("bob", "bob-secret"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))...)
		}, cl, topic)
	})

	t.Run("sasl-plain-wrong-password", func(t *testing.T) {
		for _, up := range [][2]string{{"alice", "wrong"}, {"mallory", "alice-secret"}} {
			cl := sb.client(t, sb.plainOpts(up[0], up[1])...)
			err := cl.Ping(ctxT(t, 10*time.Second))
			if !errors.Is(err, kerr.SaslAuthenticationFailed) {
				t.Errorf("PLAIN %s/%s: %v, want SASL_AUTHENTICATION_FAILED", up[0], up[1], err)
			}
		}
	})

	t.Run("sasl-plaintext-plain", func(t *testing.T) {
		cl := sb.client(t, kgo.SeedBrokers(sb.SASLPlain), kgo.SASL(plain.Auth{User: "carol", Pass: "carol-secret"}.AsMechanism()))
		if err := cl.Ping(ctxT(t, 10*time.Second)); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("oauthbearer-unsecured", func(t *testing.T) {
		enc := base64.RawURLEncoding.EncodeToString
		tok := enc([]byte(`{"alg":"none"}`)) + "." + enc([]byte(`{"sub":"dev","exp":`+strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10)+`}`)) + "."
		cl := sb.client(t, kgo.SeedBrokers(sb.SASLSSL), kgo.DialTLSConfig(sb.pki.clientTLS()),
			kgo.SASL(oauth.Auth{Token: tok}.AsMechanism()))
		if err := cl.Ping(ctxT(t, 10*time.Second)); err != nil {
			t.Fatalf("unsecured OAUTHBEARER: %v", err)
		}
		bad := sb.client(t, kgo.SeedBrokers(sb.SASLSSL), kgo.DialTLSConfig(sb.pki.clientTLS()),
			kgo.SASL(oauth.Auth{Token: "not.a-jws"}.AsMechanism()))
		if err := bad.Ping(ctxT(t, 10*time.Second)); !errors.Is(err, kerr.SaslAuthenticationFailed) {
			t.Errorf("bad token: %v, want SASL_AUTHENTICATION_FAILED", err)
		}
	})

	t.Run("scram", func(t *testing.T) {
		addScramUser(t, sb.Admin(t), "sam", "sam-pass")
		for _, mech := range []string{"SCRAM-SHA-256", "SCRAM-SHA-512"} {
			topic := topicName(t)
			cl := sb.client(t, append(sb.scramOpts(mech, "sam", "sam-pass"), kgo.AllowAutoTopicCreation())...)
			roundTrip(t, func() *kgo.Client {
				return sb.client(t, append(sb.scramOpts(mech, "sam", "sam-pass"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))...)
			}, cl, topic)
			bad := sb.client(t, sb.scramOpts(mech, "sam", "nope")...)
			if err := bad.Ping(ctxT(t, 10*time.Second)); !errors.Is(err, kerr.SaslAuthenticationFailed) {
				t.Errorf("%s wrong password: %v, want SASL_AUTHENTICATION_FAILED", mech, err)
			}
			unknown := sb.client(t, sb.scramOpts(mech, "nobody", "sam-pass")...)
			if err := unknown.Ping(ctxT(t, 10*time.Second)); !errors.Is(err, kerr.SaslAuthenticationFailed) {
				t.Errorf("%s unknown user: %v, want SASL_AUTHENTICATION_FAILED", mech, err)
			}
		}
		desc, err := sb.Admin(t).DescribeUserSCRAMs(ctxT(t, 10*time.Second), "sam")
		if err != nil || desc.Error() != nil {
			t.Fatalf("describe: %v %v", err, desc.Error())
		}
		if d := desc["sam"]; len(d.CredInfos) != 2 || d.CredInfos[0].Iterations != 4096 || d.CredInfos[1].Iterations != 8192 {
			t.Errorf("described %+v", d)
		}
	})
}

func itoa(n int32) string { return strconv.Itoa(int(n)) }

// TestSecurityBeforeAuthentication: on a SASL listener only ApiVersions,
// SaslHandshake and SaslAuthenticate are served before authentication.
func TestSecurityBeforeAuthentication(t *testing.T) {
	t.Parallel()
	sb := startSecureBroker(t, nil)
	dial := func() (net.Conn, *bufio.Reader) {
		c, err := net.DialTimeout("tcp", sb.SASLPlain, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		c.SetDeadline(time.Now().Add(10 * time.Second))
		return c, bufio.NewReader(c)
	}
	send := func(c net.Conn, br *bufio.Reader, req kmsg.Request) ([]byte, error) {
		frame := kmsg.NewRequestFormatter(kmsg.FormatterClientID("raw")).AppendRequest(nil, req, 1)
		if _, err := c.Write(frame); err != nil {
			return nil, err
		}
		return testutil.ReadFrame(br, 1<<20)
	}

	// ApiVersions is served, and lists the SASL APIs.
	c, br := dial()
	av := kmsg.NewPtrApiVersionsRequest()
	av.Version = 0
	body, err := send(c, br, av)
	if err != nil {
		t.Fatal(err)
	}
	avr := kmsg.NewPtrApiVersionsResponse()
	if err := avr.ReadFrom(body[4:]); err != nil || avr.ErrorCode != 0 {
		t.Fatalf("ApiVersions: %v %d", err, avr.ErrorCode)
	}
	keys := map[int16]bool{}
	for _, k := range avr.ApiKeys {
		keys[k.ApiKey] = true
	}
	for _, k := range []int16{17, 36, 29, 30, 31, 50, 51} {
		if !keys[k] {
			t.Errorf("ApiVersions lacks key %d", k)
		}
	}

	// Anything else: ILLEGAL_SASL_STATE (where the response has a
	// top-level error code), then the connection is closed.
	md := kmsg.NewPtrMetadataRequest()
	md.Version = 4
	if _, err := send(c, br, md); err == nil {
		// Metadata has a top-level error code (v13+) that may carry
		// ILLEGAL_SASL_STATE; the connection must be closed either way.
		if _, err := testutil.ReadFrame(br, 1<<20); err == nil {
			t.Fatal("connection still open after Metadata before authentication")
		}
	}
	c, br = dial()
	ip := kmsg.NewPtrInitProducerIDRequest()
	ip.Version = 1
	body, err = send(c, br, ip)
	if err != nil {
		t.Fatalf("InitProducerId before authentication: %v", err)
	}
	ipr := kmsg.NewPtrInitProducerIDResponse()
	ipr.Version = 1
	if err := ipr.ReadFrom(body[4:]); err != nil || ipr.ErrorCode != kerr.IllegalSaslState.Code {
		t.Fatalf("InitProducerId before authentication: %v, code %d", err, ipr.ErrorCode)
	}
	if _, err := testutil.ReadFrame(br, 1<<20); err == nil {
		t.Fatal("connection still open after ILLEGAL_SASL_STATE")
	}

	// SaslAuthenticate without a handshake: ILLEGAL_SASL_STATE.
	c, br = dial()
	sa := kmsg.NewPtrSASLAuthenticateRequest()
	sa.Version = 1
	sa.SASLAuthBytes = []byte("\x00alice\x00alice-secret")
	body, err = send(c, br, sa)
	if err != nil {
		t.Fatal(err)
	}
	sar := kmsg.NewPtrSASLAuthenticateResponse()
	sar.Version = 1
	if err := sar.ReadFrom(body[4:]); err != nil || sar.ErrorCode != kerr.IllegalSaslState.Code {
		t.Fatalf("SaslAuthenticate without handshake: %v, code %d", err, sar.ErrorCode)
	}

	// An unknown mechanism: UNSUPPORTED_SASL_MECHANISM and the list.
	c, br = dial()
	hs := kmsg.NewPtrSASLHandshakeRequest()
	hs.Version = 1
	hs.Mechanism = "GSSAPI"
	body, err = send(c, br, hs)
	if err != nil {
		t.Fatal(err)
	}
	hsr := kmsg.NewPtrSASLHandshakeResponse()
	hsr.Version = 1
	if err := hsr.ReadFrom(body[4:]); err != nil || hsr.ErrorCode != kerr.UnsupportedSaslMechanism.Code || len(hsr.SupportedMechanisms) != 4 {
		t.Fatalf("GSSAPI handshake: %v, %+v", err, hsr)
	}

	// SaslHandshake v0 and raw tokens: a PLAIN exchange, then Metadata.
	c, br = dial()
	hs = kmsg.NewPtrSASLHandshakeRequest()
	hs.Version = 0
	hs.Mechanism = "PLAIN"
	if _, err = send(c, br, hs); err != nil {
		t.Fatal(err)
	}
	tok := []byte("\x00bob\x00bob-secret")
	if _, err := c.Write(append([]byte{0, 0, 0, byte(len(tok))}, tok...)); err != nil {
		t.Fatal(err)
	}
	if body, err = testutil.ReadFrame(br, 1<<20); err != nil || len(body) != 0 {
		t.Fatalf("raw PLAIN token answer %q, %v", body, err)
	}
	md = kmsg.NewPtrMetadataRequest()
	md.Version = 4
	if _, err := send(c, br, md); err != nil {
		t.Fatalf("Metadata after raw SASL: %v", err)
	}
}

// TestSecurityReauthentication (KIP-368): with connections.max.reauth.ms
// SaslAuthenticate v1 returns the session lifetime; a client that
// re-authenticates on the same connection (same principal) keeps it, one
// that does not is disconnected on its first request after expiry.
func TestSecurityReauthentication(t *testing.T) {
	t.Parallel()
	sb := startSecureBroker(t, map[string]string{"connections.max.reauth.ms": "1500"})
	type rawConn struct {
		c  net.Conn
		br *bufio.Reader
	}
	dial := func() *rawConn {
		c, err := net.DialTimeout("tcp", sb.SASLPlain, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		c.SetDeadline(time.Now().Add(20 * time.Second))
		return &rawConn{c, bufio.NewReader(c)}
	}
	send := func(rc *rawConn, req kmsg.Request, resp kmsg.Response) error {
		frame := kmsg.NewRequestFormatter(kmsg.FormatterClientID("raw")).AppendRequest(nil, req, 1)
		if _, err := rc.c.Write(frame); err != nil {
			return err
		}
		body, err := testutil.ReadFrame(rc.br, 1<<20)
		if err != nil {
			return err
		}
		resp.SetVersion(req.GetVersion())
		skip := 4
		if resp.IsFlexible() {
			skip++
		}
		return resp.ReadFrom(body[skip:])
	}
	login := func(rc *rawConn, user string) int64 {
		t.Helper()
		hs := kmsg.NewPtrSASLHandshakeRequest()
		hs.Version, hs.Mechanism = 1, "PLAIN"
		if err := send(rc, hs, kmsg.NewPtrSASLHandshakeResponse()); err != nil {
			t.Fatal(err)
		}
		sa := kmsg.NewPtrSASLAuthenticateRequest()
		sa.Version = 1
		sa.SASLAuthBytes = []byte("\x00" + user + "\x00" + user + "-secret")
		resp := kmsg.NewPtrSASLAuthenticateResponse()
		if err := send(rc, sa, resp); err != nil {
			t.Fatal(err)
		}
		if resp.ErrorCode != 0 {
			t.Fatalf("authenticate %s: code %d", user, resp.ErrorCode)
		}
		return resp.SessionLifetimeMillis
	}
	metadata := func(rc *rawConn) error {
		md := kmsg.NewPtrMetadataRequest()
		md.Version = 4
		return send(rc, md, kmsg.NewPtrMetadataResponse())
	}

	stale, fresh := dial(), dial()
	if ms := login(stale, "alice"); ms != 1500 {
		t.Fatalf("session lifetime %d ms, want 1500", ms)
	}
	login(fresh, "alice")
	time.Sleep(1000 * time.Millisecond)
	login(fresh, "alice") // re-authentication before expiry
	time.Sleep(800 * time.Millisecond)
	if err := metadata(fresh); err != nil {
		t.Fatalf("re-authenticated connection: %v", err)
	}
	if err := metadata(stale); err == nil {
		t.Fatal("expired session still served")
	}

	// Re-authenticating as someone else is refused.
	other := dial()
	login(other, "alice")
	hs := kmsg.NewPtrSASLHandshakeRequest()
	hs.Version, hs.Mechanism = 1, "PLAIN"
	if err := send(other, hs, kmsg.NewPtrSASLHandshakeResponse()); err != nil {
		t.Fatal(err)
	}
	sa := kmsg.NewPtrSASLAuthenticateRequest()
	sa.Version = 1
	sa.SASLAuthBytes = []byte("\x00bob\x00bob-secret")
	resp := kmsg.NewPtrSASLAuthenticateResponse()
	if err := send(other, sa, resp); err != nil || resp.ErrorCode != kerr.SaslAuthenticationFailed.Code {
		t.Fatalf("re-authentication as bob: %v, code %d", err, resp.ErrorCode)
	}

	// franz-go follows the session lifetime and keeps working.
	cl := sb.client(t, sb.plainOpts("alice", "alice-secret")...)
	deadline := time.Now().Add(4 * time.Second)
	for time.Now().Before(deadline) {
		if err := cl.Ping(ctxT(t, 10*time.Second)); err != nil {
			t.Fatalf("franz-go across re-authentication: %v", err)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// TestSecurityCertificateReload: a new certificate in ssl.keystore.location
// is served to new connections without a restart.
func TestSecurityCertificateReload(t *testing.T) {
	t.Parallel()
	sb := startSecureBroker(t, nil)
	serial := func() int64 {
		c, err := tls.Dial("tcp", sb.SASLSSL, sb.pki.clientTLS())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0].SerialNumber.Int64()
	}
	if s := serial(); s != 2 {
		t.Fatalf("serial %d, want 2", s)
	}
	time.Sleep(1100 * time.Millisecond) // mtime granularity and the 1 s check
	sb.pki.writeServer(t, 3)
	testutil.WaitFor(t, 10*time.Second, "the new certificate", func() (bool, string) {
		s := serial()
		return s == 3, "serial " + strconv.FormatInt(s, 10)
	})
}
