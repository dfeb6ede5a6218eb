package auth

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"
)

// TLSOptions are a listener's ssl.* settings (PEM only).
type TLSOptions struct {
	// KeystoreLocation is a PEM file with the private key and the
	// certificate chain, leaf first (ssl.keystore.location).
	KeystoreLocation string
	// KeyPassword decrypts a legacy encrypted PEM private key
	// (ssl.key.password).
	KeyPassword string
	// TruststoreLocation is a PEM file of CA certificates that client
	// certificates must chain to (ssl.truststore.location).
	TruststoreLocation string
	// ClientAuth is ssl.client.auth: "required", "requested" or "none".
	ClientAuth string
}

// NewServerTLS returns a server TLS configuration that reloads the key
// store and trust store when their files change (checked at most once a
// second, on new handshakes), so certificates rotate without a restart. A
// reload that fails keeps the previous files in use.
func NewServerTLS(o TLSOptions) (*tls.Config, error) {
	if o.KeystoreLocation == "" {
		return nil, errors.New("ssl.keystore.location is required for SSL and SASL_SSL listeners")
	}
	r := &tlsReloader{opts: o}
	if err := r.load(); err != nil {
		return nil, err
	}
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			return r.current(), nil
		},
	}, nil
}

type tlsReloader struct {
	opts TLSOptions

	mu      sync.Mutex
	cfg     *tls.Config // guarded by mu
	checked time.Time   // last mtime check
	keyMod  time.Time
	caMod   time.Time
}

func (r *tlsReloader) current() *tls.Config {
	r.mu.Lock()
	defer r.mu.Unlock()
	if time.Since(r.checked) >= time.Second {
		r.checked = time.Now()
		if r.changedLocked() {
			if err := r.loadLocked(); err != nil {
				// Keep serving with the old files; the next check retries.
				r.keyMod, r.caMod = time.Time{}, time.Time{}
			}
		}
	}
	return r.cfg
}

func mtime(path string) time.Time {
	if path == "" {
		return time.Time{}
	}
	fi, err := os.Stat(path)
	if err != nil {
		return time.Time{}
	}
	return fi.ModTime()
}

func (r *tlsReloader) changedLocked() bool {
	return !mtime(r.opts.KeystoreLocation).Equal(r.keyMod) || !mtime(r.opts.TruststoreLocation).Equal(r.caMod)
}

func (r *tlsReloader) load() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.checked = time.Now()
	return r.loadLocked()
}

func (r *tlsReloader) loadLocked() error {
	keyMod, caMod := mtime(r.opts.KeystoreLocation), mtime(r.opts.TruststoreLocation)
	cert, err := LoadKeystore(r.opts.KeystoreLocation, r.opts.KeyPassword)
	if err != nil {
		return err
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
	if r.opts.TruststoreLocation != "" {
		pool, err := LoadTruststore(r.opts.TruststoreLocation)
		if err != nil {
			return err
		}
		cfg.ClientCAs = pool
	}
	switch r.opts.ClientAuth {
	case "required":
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	case "requested":
		cfg.ClientAuth = tls.VerifyClientCertIfGiven
	case "", "none":
		cfg.ClientAuth = tls.NoClientCert
	default:
		return fmt.Errorf("ssl.client.auth: %q is not required, requested or none", r.opts.ClientAuth)
	}
	if cfg.ClientAuth != tls.NoClientCert && cfg.ClientCAs == nil {
		pool, err := x509.SystemCertPool()
		if err != nil {
			return fmt.Errorf("ssl.client.auth=%s needs ssl.truststore.location: %w", r.opts.ClientAuth, err)
		}
		cfg.ClientCAs = pool
	}
	r.cfg, r.keyMod, r.caMod = cfg, keyMod, caMod
	return nil
}

// LoadKeystore reads a PEM key store: one private key (PKCS#1, PKCS#8 or
// EC; a legacy encrypted PEM block is decrypted with password) and the
// certificate chain.
func LoadKeystore(path, password string) (tls.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("ssl.keystore.location: %w", err)
	}
	var certs, keys []*pem.Block
	for rest := data; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		switch {
		case b.Type == "CERTIFICATE":
			certs = append(certs, b)
		case b.Type == "PRIVATE KEY" || b.Type == "RSA PRIVATE KEY" || b.Type == "EC PRIVATE KEY":
			//lint:ignore SA1019 legacy encrypted PEM is what openssl -des3 writes
			if x509.IsEncryptedPEMBlock(b) { //nolint:staticcheck
				if password == "" {
					return tls.Certificate{}, fmt.Errorf("ssl.keystore.location %s: the private key is encrypted; set ssl.key.password", path)
				}
				der, err := x509.DecryptPEMBlock(b, []byte(password)) //nolint:staticcheck
				if err != nil {
					return tls.Certificate{}, fmt.Errorf("ssl.keystore.location %s: decrypt private key: %w", path, err)
				}
				b = &pem.Block{Type: b.Type, Bytes: der}
			}
			keys = append(keys, b)
		case b.Type == "ENCRYPTED PRIVATE KEY":
			return tls.Certificate{}, fmt.Errorf("ssl.keystore.location %s: encrypted PKCS#8 keys are not supported; decrypt the key (openssl pkcs8) or use a legacy encrypted PEM key", path)
		}
	}
	if len(certs) == 0 || len(keys) != 1 {
		return tls.Certificate{}, fmt.Errorf("ssl.keystore.location %s: want one private key and at least one certificate, found %d keys and %d certificates", path, len(keys), len(certs))
	}
	var certPEM []byte
	for _, c := range certs {
		certPEM = append(certPEM, pem.EncodeToMemory(c)...)
	}
	cert, err := tls.X509KeyPair(certPEM, pem.EncodeToMemory(keys[0]))
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("ssl.keystore.location %s: %w", path, err)
	}
	return cert, nil
}

// LoadTruststore reads PEM CA certificates.
func LoadTruststore(path string) (*x509.CertPool, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("ssl.truststore.location: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("ssl.truststore.location %s: no PEM certificates found", path)
	}
	return pool, nil
}

// CertPrincipal is the principal of a verified client certificate: its
// subject DN in RFC 2253 form ("CN=alice,OU=eng,O=Example"), as Kafka's
// default principal builder gives it; Anonymous without a certificate.
func CertPrincipal(state tls.ConnectionState) string {
	p, _ := MappedCertPrincipal(state, nil)
	return p
}

// MappedCertPrincipal is CertPrincipal with ssl.principal.mapping.rules
// applied to the DN; a DN no rule matches is an error (the client is
// refused).
func MappedCertPrincipal(state tls.ConnectionState, rules *PrincipalRules) (string, error) {
	if len(state.PeerCertificates) == 0 {
		return Anonymous, nil
	}
	name, err := rules.Map(state.PeerCertificates[0].Subject.String())
	if err != nil {
		return "", err
	}
	return UserPrincipal(name), nil
}
