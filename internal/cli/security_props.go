package cli

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"regexp"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// clientSecurity is the TLS and SASL part of --command-config, with the
// keys of Kafka's Java clients and of librdkafka:
//
//	security.protocol                      PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL
//	sasl.mechanism (sasl.mechanisms)       PLAIN, SCRAM-SHA-256, SCRAM-SHA-512
//	sasl.username, sasl.password           the credentials, or
//	sasl.jaas.config                       ... username="u" password="p";
//	ssl.truststore.location (ssl.ca.location)            PEM CA certificates
//	ssl.keystore.location                  PEM key and certificate chain, or
//	ssl.certificate.location, ssl.key.location           PEM certificate and key
//	ssl.endpoint.identification.algorithm  https (default) or empty: no
//	                                       host name check
type clientSecurity struct {
	protocol string
	tls      *tls.Config
	mech     sasl.Mechanism
	// ignored lists keys that the protocol does not use (ssl.* without
	// TLS, sasl.* without SASL), for a warning.
	ignored []string
}

// securityKey reports whether a --command-config key belongs to
// clientSecurity.
func securityKey(k string) bool {
	return k == "security.protocol" || strings.HasPrefix(k, "sasl.") || strings.HasPrefix(k, "ssl.")
}

var jaasOption = regexp.MustCompile(`(\w+)\s*=\s*"((?:[^"\\]|\\.)*)"`)

func parseClientSecurity(props map[string]string, path string) (clientSecurity, error) {
	bad := func(format string, args ...any) (clientSecurity, error) {
		return clientSecurity{}, usageErrorf("--command-config %s: "+format, append([]any{path}, args...)...)
	}
	var cs clientSecurity
	cs.protocol = strings.ToUpper(props["security.protocol"])
	if cs.protocol == "" {
		cs.protocol = "PLAINTEXT"
	}
	useTLS, useSASL := false, false
	switch cs.protocol {
	case "PLAINTEXT":
	case "SSL":
		useTLS = true
	case "SASL_PLAINTEXT":
		useSASL = true
	case "SASL_SSL":
		useTLS, useSASL = true, true
	default:
		return bad("security.protocol=%q: must be PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL", props["security.protocol"])
	}
	get := func(keys ...string) string {
		for _, k := range keys {
			if v := props[k]; v != "" {
				return v
			}
		}
		return ""
	}
	for _, k := range slices.Sorted(maps.Keys(props)) {
		if !useTLS && strings.HasPrefix(k, "ssl.") || !useSASL && strings.HasPrefix(k, "sasl.") {
			cs.ignored = append(cs.ignored, k)
		}
	}
	if useTLS {
		cs.tls = &tls.Config{MinVersion: tls.VersionTLS12}
		if ca := get("ssl.truststore.location", "ssl.ca.location"); ca != "" {
			data, err := os.ReadFile(ca)
			if err != nil {
				return bad("%v", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(data) {
				return bad("%s holds no PEM certificates (only PEM trust stores are supported)", ca)
			}
			cs.tls.RootCAs = pool
		}
		if t := get("ssl.truststore.type", "ssl.keystore.type"); t != "" && !strings.EqualFold(t, "PEM") {
			return bad("only PEM key and trust stores are supported, not %s", t)
		}
		certFile, keyFile := get("ssl.certificate.location"), get("ssl.key.location")
		if ks := get("ssl.keystore.location"); ks != "" {
			certFile, keyFile = ks, ks
		}
		if certFile != "" || keyFile != "" {
			cert, err := loadPEMPair(certFile, keyFile)
			if err != nil {
				return bad("%v", err)
			}
			cs.tls.Certificates = []tls.Certificate{cert}
		}
		if alg, ok := props["ssl.endpoint.identification.algorithm"]; ok && alg == "" {
			cs.tls.InsecureSkipVerify = true // no host name check asked; chain still checked below
			roots := cs.tls.RootCAs
			cs.tls.VerifyPeerCertificate = func(raw [][]byte, _ [][]*x509.Certificate) error {
				return verifyChainOnly(raw, roots)
			}
		}
	}
	if useSASL {
		mech := strings.ToUpper(get("sasl.mechanism", "sasl.mechanisms"))
		if mech == "" {
			mech = "GSSAPI" // Kafka's default, which we cannot speak
		}
		switch mech {
		case "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512":
		default:
			return bad("sasl.mechanism=%s is not supported (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512)", mech)
		}
		user, pass := get("sasl.username"), get("sasl.password")
		if jaas := props["sasl.jaas.config"]; jaas != "" && user == "" {
			for _, m := range jaasOption.FindAllStringSubmatch(jaas, -1) {
				v := strings.NewReplacer(`\"`, `"`, `\\`, `\`).Replace(m[2])
				switch m[1] {
				case "username":
					user = v
				case "password":
					pass = v
				}
			}
		}
		if user == "" {
			return bad("SASL needs sasl.username and sasl.password (or username and password in sasl.jaas.config)")
		}
		switch mech {
		case "PLAIN":
			cs.mech = plain.Auth{User: user, Pass: pass}.AsMechanism()
		case "SCRAM-SHA-256":
			cs.mech = scram.Auth{User: user, Pass: pass}.AsSha256Mechanism()
		case "SCRAM-SHA-512":
			cs.mech = scram.Auth{User: user, Pass: pass}.AsSha512Mechanism()
		}
	}
	return cs, nil
}

func loadPEMPair(certFile, keyFile string) (tls.Certificate, error) {
	if certFile == "" || keyFile == "" {
		return tls.Certificate{}, fmt.Errorf("a client certificate needs both ssl.certificate.location and ssl.key.location (or ssl.keystore.location)")
	}
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return tls.Certificate{}, err
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return tls.Certificate{}, err
	}
	// A key store file holds both: split it into its certificates and key.
	var certs, key []byte
	for rest := append(certPEM, keyPEM...); ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type == "CERTIFICATE" {
			certs = append(certs, pem.EncodeToMemory(b)...)
		} else if strings.HasSuffix(b.Type, "PRIVATE KEY") && key == nil {
			key = pem.EncodeToMemory(b)
		}
	}
	return tls.X509KeyPair(certs, key)
}

func verifyChainOnly(raw [][]byte, roots *x509.CertPool) error {
	if len(raw) == 0 {
		return fmt.Errorf("the broker sent no certificate")
	}
	var certs []*x509.Certificate
	for _, r := range raw {
		c, err := x509.ParseCertificate(r)
		if err != nil {
			return err
		}
		certs = append(certs, c)
	}
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	_, err := certs[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter})
	return err
}

// opts returns the kgo options for SASL (TLS is applied by dial).
func (cs clientSecurity) opts() []kgo.Opt {
	if cs.mech == nil {
		return nil
	}
	return []kgo.Opt{kgo.SASL(cs.mech)}
}

// dial wraps a TCP dial in TLS when the protocol asks for it.
func (cs clientSecurity) dial(ctx context.Context, d *net.Dialer, network, host string) (net.Conn, error) {
	if cs.tls == nil {
		return d.DialContext(ctx, network, host)
	}
	cfg := cs.tls.Clone()
	if cfg.ServerName == "" {
		if h, _, err := net.SplitHostPort(host); err == nil {
			cfg.ServerName = h
		}
	}
	td := &tls.Dialer{NetDialer: d, Config: cfg}
	return td.DialContext(ctx, network, host)
}

// isAuthError reports whether err is an authentication or authorization
// failure: retrying does not help, so commands stop at once.
func isAuthError(err error) bool {
	for _, k := range []*kerr.Error{kerr.SaslAuthenticationFailed, kerr.TopicAuthorizationFailed,
		kerr.GroupAuthorizationFailed, kerr.ClusterAuthorizationFailed, kerr.TransactionalIDAuthorizationFailed} {
		if errors.Is(err, k) {
			return true
		}
	}
	return false
}
