package interbroker

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/quillstream/quill/internal/auth"
)

type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	file string
}

func newTestCA(t *testing.T, dir, name string) *testCA {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	ca := &testCA{cert: c, key: key, file: filepath.Join(dir, name+".pem")}
	if err := os.WriteFile(ca.file, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return ca
}

// keystore issues a certificate for DNS name "localhost" only (no IP) with
// both extended key usages and writes key and certificate as a PEM key
// store.
func (ca *testCA) keystore(t *testing.T, dir, name string) string {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), DNSNames: []string{"localhost"},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalPKCS8PrivateKey(key)
	path := filepath.Join(dir, name+"-keystore.pem")
	b := append(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestDialTLS: the peer's chain is verified against the trust store, its
// host name unless ssl.endpoint.identification.algorithm is empty, and the
// key store is the client certificate of an mTLS listener.
func TestDialTLS(t *testing.T) {
	dir := t.TempDir()
	ca, other := newTestCA(t, dir, "ca"), newTestCA(t, dir, "other")
	store := ca.keystore(t, dir, "broker")
	srv, err := auth.NewServerTLS(auth.TLSOptions{KeystoreLocation: store, TruststoreLocation: ca.file, ClientAuth: "required"})
	if err != nil {
		t.Fatal(err)
	}
	f := startFake(t, &auth.Mechanisms{}, 0)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			go f.serve(tls.Server(nc, srv))
		}
	}()
	addr := ln.Addr().String()
	for _, c := range []struct {
		name string
		sec  Security
		ok   bool
	}{
		{"mTLS, host name not in the certificate", Security{Protocol: ProtocolSSL, TruststoreLocation: ca.file, KeystoreLocation: store}, false},
		{"mTLS, no host name check", Security{Protocol: ProtocolSSL, TruststoreLocation: ca.file, KeystoreLocation: store, NoHostnameCheck: true}, true},
		{"no client certificate", Security{Protocol: ProtocolSSL, TruststoreLocation: ca.file, NoHostnameCheck: true}, false},
		{"untrusted broker", Security{Protocol: ProtocolSSL, TruststoreLocation: other.file, KeystoreLocation: store, NoHostnameCheck: true}, false},
	} {
		d := &Dialer{NodeID: 1, Security: c.sec, Timeout: 5 * time.Second}
		conn, err := d.DialAddr(context.Background(), addr)
		if (err == nil) != c.ok {
			t.Errorf("%s: dial error %v", c.name, err)
			continue
		}
		if err == nil {
			conn.Close()
		}
	}
}
