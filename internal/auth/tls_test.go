package auth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func selfSigned(t *testing.T, cn string) ([]byte, *ecdsa.PrivateKey) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn, Organization: []string{"Quill"}},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return der, key
}

func TestLoadKeystore(t *testing.T) {
	dir := t.TempDir()
	der, key := selfSigned(t, "broker")
	kb, _ := x509.MarshalECPrivateKey(key)
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})

	plain := filepath.Join(dir, "plain.pem")
	os.WriteFile(plain, append(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), certPEM...), 0o600)
	if _, err := LoadKeystore(plain, ""); err != nil {
		t.Errorf("plain key store: %v", err)
	}

	//lint:ignore SA1019 testing the legacy format operators still have
	enc, err := x509.EncryptPEMBlock(rand.Reader, "EC PRIVATE KEY", kb, []byte("pw"), x509.PEMCipherAES256) //nolint:staticcheck
	if err != nil {
		t.Fatal(err)
	}
	encrypted := filepath.Join(dir, "enc.pem")
	os.WriteFile(encrypted, append(pem.EncodeToMemory(enc), certPEM...), 0o600)
	if _, err := LoadKeystore(encrypted, "pw"); err != nil {
		t.Errorf("encrypted key with its password: %v", err)
	}
	if _, err := LoadKeystore(encrypted, ""); err == nil {
		t.Error("encrypted key without ssl.key.password accepted")
	}
	if _, err := LoadKeystore(encrypted, "wrong"); err == nil {
		t.Error("encrypted key with a wrong password accepted")
	}
	certOnly := filepath.Join(dir, "cert.pem")
	os.WriteFile(certOnly, certPEM, 0o600)
	if _, err := LoadKeystore(certOnly, ""); err == nil {
		t.Error("key store without a key accepted")
	}
}

func TestServerTLSReloadAndPrincipal(t *testing.T) {
	dir := t.TempDir()
	write := func(cn string) {
		der, key := selfSigned(t, cn)
		kb, _ := x509.MarshalPKCS8PrivateKey(key)
		os.WriteFile(filepath.Join(dir, "ks.pem.tmp"), append(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}),
			pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...), 0o600)
		os.Rename(filepath.Join(dir, "ks.pem.tmp"), filepath.Join(dir, "ks.pem"))
	}
	write("one")
	cfg, err := NewServerTLS(TLSOptions{KeystoreLocation: filepath.Join(dir, "ks.pem"), ClientAuth: "none"})
	if err != nil {
		t.Fatal(err)
	}
	cn := func() string {
		c, _ := cfg.GetConfigForClient(nil)
		leaf, _ := x509.ParseCertificate(c.Certificates[0].Certificate[0])
		return leaf.Subject.CommonName
	}
	if got := cn(); got != "one" {
		t.Fatalf("CN %q", got)
	}
	time.Sleep(1100 * time.Millisecond)
	write("two")
	if got := cn(); got != "two" {
		t.Errorf("after the file changed: CN %q, want two", got)
	}
	if _, err := NewServerTLS(TLSOptions{KeystoreLocation: filepath.Join(dir, "ks.pem"), ClientAuth: "maybe"}); err == nil {
		t.Error("bad ssl.client.auth accepted")
	}

	der, _ := selfSigned(t, "alice")
	leaf, _ := x509.ParseCertificate(der)
	if p := CertPrincipal(tls.ConnectionState{PeerCertificates: []*x509.Certificate{leaf}}); p != "User:CN=alice,O=Quill" {
		t.Errorf("principal %q", p)
	}
	if p := CertPrincipal(tls.ConnectionState{}); p != Anonymous {
		t.Errorf("principal without a certificate %q", p)
	}
}
