package interbroker

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/quillstream/quill/internal/auth"
	"github.com/quillstream/quill/internal/metadata"
)

// Security protocols, as in listener.security.protocol.map.
const (
	ProtocolPlaintext     = "PLAINTEXT"
	ProtocolSSL           = "SSL"
	ProtocolSASLPlaintext = "SASL_PLAINTEXT"
	ProtocolSASLSSL       = "SASL_SSL"
)

// Security is how this broker connects to the others: the inter-broker
// listener and its settings.
type Security struct {
	// Listener is the inter-broker listener's name: the endpoint of each
	// broker that is dialled.
	Listener string
	// Protocol is the listener's security protocol; "" is PLAINTEXT.
	Protocol string

	// TLS (SSL, SASL_SSL): TruststoreLocation (PEM) verifies the peer's
	// certificate (system roots if empty); KeystoreLocation (PEM key and
	// chain, KeyPassword for a legacy encrypted key), if set, is
	// presented as the client certificate. Both are read at every dial,
	// so rotated files are picked up.
	TruststoreLocation string
	KeystoreLocation   string
	KeyPassword        string
	// NoHostnameCheck skips the check of the peer's host name against its
	// certificate (ssl.endpoint.identification.algorithm empty); the
	// chain is still verified.
	NoHostnameCheck bool

	// SASL (SASL_PLAINTEXT, SASL_SSL): Mechanism is PLAIN, SCRAM-SHA-256
	// or SCRAM-SHA-512 (sasl.mechanism.inter.broker.protocol).
	Mechanism string
	Username  string
	Password  string
}

func (s *Security) tls() bool { return s.Protocol == ProtocolSSL || s.Protocol == ProtocolSASLSSL }
func (s *Security) sasl() bool {
	return s.Protocol == ProtocolSASLPlaintext || s.Protocol == ProtocolSASLSSL
}

// Validate checks that the settings are complete for the protocol.
func (s *Security) Validate() error {
	switch s.Protocol {
	case "", ProtocolPlaintext, ProtocolSSL, ProtocolSASLPlaintext, ProtocolSASLSSL:
	default:
		return fmt.Errorf("inter-broker listener %s: unknown security protocol %q", s.Listener, s.Protocol)
	}
	if s.sasl() {
		if _, err := s.mechanism(); err != nil {
			return err
		}
		if s.Username == "" {
			return fmt.Errorf("inter-broker listener %s: no username for %s: set username=\"...\" password=\"...\" in listener.name.%s.%s.sasl.jaas.config",
				s.Listener, s.Mechanism, strings.ToLower(s.Listener), strings.ToLower(s.Mechanism))
		}
	}
	return nil
}

func (s *Security) mechanism() (sasl.Mechanism, error) {
	switch s.Mechanism {
	case auth.MechPlain:
		return plain.Auth{User: s.Username, Pass: s.Password}.AsMechanism(), nil
	case auth.MechScramSHA256:
		return scram.Auth{User: s.Username, Pass: s.Password}.AsSha256Mechanism(), nil
	case auth.MechScramSHA512:
		return scram.Auth{User: s.Username, Pass: s.Password}.AsSha512Mechanism(), nil
	}
	return nil, fmt.Errorf("sasl.mechanism.inter.broker.protocol: %q is not PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", s.Mechanism)
}

// clientTLS returns the TLS configuration for dialling host.
func (s *Security) clientTLS(host string) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: host}
	if s.TruststoreLocation != "" {
		pool, err := auth.LoadTruststore(s.TruststoreLocation)
		if err != nil {
			return nil, err
		}
		cfg.RootCAs = pool
	}
	if s.KeystoreLocation != "" {
		cert, err := auth.LoadKeystore(s.KeystoreLocation, s.KeyPassword)
		if err != nil {
			return nil, err
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	if s.NoHostnameCheck {
		roots := cfg.RootCAs
		cfg.InsecureSkipVerify = true // the chain is verified below
		cfg.VerifyPeerCertificate = func(raw [][]byte, _ [][]*x509.Certificate) error {
			return verifyChain(raw, roots)
		}
	}
	return cfg, nil
}

// verifyChain verifies a peer's certificate chain against roots (system
// roots if nil) without a host name.
func verifyChain(raw [][]byte, roots *x509.CertPool) error {
	if len(raw) == 0 {
		return errors.New("the broker sent no certificate")
	}
	certs := make([]*x509.Certificate, len(raw))
	for i, b := range raw {
		c, err := x509.ParseCertificate(b)
		if err != nil {
			return err
		}
		certs[i] = c
	}
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	_, err := certs[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter})
	return err
}

// Credentials returns the username and password options of a
// sasl.jaas.config value, as Kafka's PlainLoginModule and
// ScramLoginModule take a client's credentials:
//
//	org.apache.kafka.common.security.scram.ScramLoginModule required username="broker" password="secret";
func Credentials(jaas string) (user, password string, err error) {
	j, err := auth.ParseJAAS(jaas)
	if err != nil {
		return "", "", err
	}
	return j.Options["username"], j.Options["password"], nil
}

// Dialer opens connections to other brokers.
type Dialer struct {
	// NodeID is this broker's id; the client id is "quill-broker-<id>".
	NodeID int32
	// Image returns the current metadata image (the brokers' endpoints).
	Image func() *metadata.Image
	// Security is the inter-broker listener's settings.
	Security Security
	// Timeout bounds the dial and the TLS and SASL handshakes; 0: 10 s.
	Timeout time.Duration
	// CheckResponse, when set, vets every response body before kmsg
	// decodes it (kmsg trusts counts in the bytes; see
	// server.ValidatePeerResponse).
	CheckResponse func(key, version int16, body []byte) error
}

// Dial connects to broker nodeID's endpoint of the inter-broker listener
// and authenticates. ctx bounds the dial and handshakes only, not the
// connection's life: close the Conn when done.
func (d *Dialer) Dial(ctx context.Context, nodeID int32) (*Conn, error) {
	b := d.Image().Brokers[nodeID]
	if b == nil {
		return nil, fmt.Errorf("broker %d is not registered", nodeID)
	}
	host, port, ok := b.Endpoint(d.Security.Listener)
	if !ok {
		return nil, fmt.Errorf("broker %d has no endpoint for the inter-broker listener %s", nodeID, d.Security.Listener)
	}
	return d.DialAddr(ctx, net.JoinHostPort(host, strconv.Itoa(int(port))))
}

// DialAddr connects to a broker at host:port on the inter-broker
// listener and authenticates.
func (d *Dialer) DialAddr(ctx context.Context, addr string) (*Conn, error) {
	timeout := d.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	deadline, _ := ctx.Deadline()
	sec := &d.Security
	var nd net.Dialer
	nc, err := nd.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if sec.tls() {
		host, _, _ := net.SplitHostPort(addr)
		cfg, err := sec.clientTLS(host)
		if err != nil {
			nc.Close()
			return nil, err
		}
		tc := tls.Client(nc, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			nc.Close()
			return nil, fmt.Errorf("TLS handshake with %s: %w", addr, err)
		}
		nc = tc
	}
	c := &Conn{nc: nc, r: bufio.NewReaderSize(nc, 64<<10), clientID: fmt.Sprintf("quill-broker-%d", d.NodeID), check: d.CheckResponse}
	if err := c.apiVersions(deadline); err != nil {
		c.Close()
		return nil, fmt.Errorf("ApiVersions with %s: %w", addr, err)
	}
	if sec.sasl() {
		if err := c.authenticate(ctx, sec, deadline); err != nil {
			c.Close()
			return nil, fmt.Errorf("SASL %s with %s as %s: %w", sec.Mechanism, addr, sec.Username, err)
		}
		// Re-authentication uses its own deadline, not the dial's
		// context, which ends with this call.
		c.reauth = func(deadline time.Time) error { return c.authenticate(context.Background(), sec, deadline) }
	}
	_ = nc.SetDeadline(time.Time{})
	return c, nil
}

func (c *Conn) apiVersions(deadline time.Time) error {
	req := kmsg.NewPtrApiVersionsRequest()
	req.SetVersion(3)
	req.ClientSoftwareName = "quill-broker"
	req.ClientSoftwareVersion = "1"
	kr, err := c.do(req, deadline)
	if err != nil {
		return err
	}
	if code := kr.(*kmsg.ApiVersionsResponse).ErrorCode; code != 0 {
		return kerr.ErrorForCode(code)
	}
	return nil
}

// authenticate runs SaslHandshake v1 and SaslAuthenticate v1 (also for
// KIP-368 re-authentication on the same connection).
func (c *Conn) authenticate(ctx context.Context, sec *Security, deadline time.Time) error {
	mech, err := sec.mechanism()
	if err != nil {
		return err
	}
	hs := kmsg.NewPtrSASLHandshakeRequest()
	hs.SetVersion(1)
	hs.Mechanism = mech.Name()
	kr, err := c.do(hs, deadline)
	if err != nil {
		return err
	}
	if code := kr.(*kmsg.SASLHandshakeResponse).ErrorCode; code != 0 {
		return fmt.Errorf("SaslHandshake: %w (enabled: %v)", kerr.ErrorForCode(code), kr.(*kmsg.SASLHandshakeResponse).SupportedMechanisms)
	}
	sess, msg, err := mech.Authenticate(ctx, c.nc.RemoteAddr().String())
	if err != nil {
		return err
	}
	start := time.Now()
	for {
		req := kmsg.NewPtrSASLAuthenticateRequest()
		req.SetVersion(1)
		req.SASLAuthBytes = msg
		kr, err := c.do(req, deadline)
		if err != nil {
			return err
		}
		resp := kr.(*kmsg.SASLAuthenticateResponse)
		if resp.ErrorCode != 0 {
			err := kerr.ErrorForCode(resp.ErrorCode)
			if resp.ErrorMessage != nil {
				err = fmt.Errorf("%w: %s", err, *resp.ErrorMessage)
			}
			return err
		}
		done, next, err := sess.Challenge(resp.SASLAuthBytes)
		if err != nil {
			return err
		}
		if done && len(next) > 0 {
			return errors.New("SASL mechanism wants a last message without an answer; not supported over SaslAuthenticate")
		}
		if done {
			c.reauthAt = time.Time{}
			if ms := resp.SessionLifetimeMillis; ms > 0 {
				// Like Kafka's clients: re-authenticate at about 85 %
				// of the session, counted from when it began.
				c.reauthAt = start.Add(time.Duration(ms) * time.Millisecond * 85 / 100)
			}
			return nil
		}
		msg = next
	}
}
