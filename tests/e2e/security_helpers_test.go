package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/quillstream/quill/internal/testutil"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// testPKI is a CA with a server certificate for 127.0.0.1/localhost and
// client certificates, written as PEM files in a temp dir: what a Kafka
// operator would produce with openssl, made with crypto/x509.
type testPKI struct {
	dir    string
	ca     *x509.Certificate
	caKey  *ecdsa.PrivateKey
	CAFile string // CA certificate (trust store)
	// ServerFile holds the server's key and chain (ssl.keystore.location).
	ServerFile string
}

func newTestPKI(t testing.TB) *testPKI {
	t.Helper()
	p := &testPKI{dir: t.TempDir()}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "Quill Test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	p.ca, _ = x509.ParseCertificate(der)
	p.caKey = key
	p.CAFile = filepath.Join(p.dir, "ca.pem")
	writePEM(t, p.CAFile, pemBlock("CERTIFICATE", der))
	p.ServerFile = filepath.Join(p.dir, "server.pem")
	p.writeServer(t, 2)
	return p
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func writePEM(t testing.TB, path string, parts ...[]byte) {
	t.Helper()
	var all []byte
	for _, p := range parts {
		all = append(all, p...)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, all, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// issue signs a leaf certificate and returns its DER and key.
func (p *testPKI) issue(t testing.TB, serial int64, subject pkix.Name, server bool) ([]byte, *ecdsa.PrivateKey) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial),
		Subject:      subject,
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
		tmpl.DNSNames = []string{"localhost"}
	} else {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, &key.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	return der, key
}

// writeServer (re)writes the server key store with a certificate of the
// given serial number.
func (p *testPKI) writeServer(t testing.TB, serial int64) {
	t.Helper()
	der, key := p.issue(t, serial, pkix.Name{CommonName: "localhost", Organization: []string{"Quill"}}, true)
	kb, _ := x509.MarshalPKCS8PrivateKey(key)
	writePEM(t, p.ServerFile, pemBlock("PRIVATE KEY", kb), pemBlock("CERTIFICATE", der))
}

// client issues a client certificate with the subject and writes
// <name>.pem (certificate) and <name>-key.pem (key).
func (p *testPKI) client(t testing.TB, name string, subject pkix.Name) (certFile, keyFile string, cert tls.Certificate) {
	t.Helper()
	der, key := p.issue(t, time.Now().UnixNano(), subject, false)
	kb, _ := x509.MarshalPKCS8PrivateKey(key)
	certFile, keyFile = filepath.Join(p.dir, name+".pem"), filepath.Join(p.dir, name+"-key.pem")
	writePEM(t, certFile, pemBlock("CERTIFICATE", der))
	writePEM(t, keyFile, pemBlock("PRIVATE KEY", kb))
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile, cert
}

func (p *testPKI) clientTLS(certs ...tls.Certificate) *tls.Config {
	pool := x509.NewCertPool()
	pool.AddCert(p.ca)
	return &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", Certificates: certs}
}

// secureBroker is a broker with PLAINTEXT, SSL, SASL_SSL and
// SASL_PLAINTEXT listeners.
type secureBroker struct {
	*testutil.Broker
	pki                     *testPKI
	SSL, SASLSSL, SASLPlain string // host:port of each listener
}

const jaasUsers = `org.apache.kafka.common.security.plain.PlainLoginModule required user_admin="admin-secret" user_alice="alice-secret" user_bob="bob-secret" user_carol="carol-secret";`

// startSecureBroker starts a broker whose SSL listener requires client
// certificates, with PLAIN users admin, alice, bob and carol (password
// <name>-secret). extra overrides are added last.
func startSecureBroker(t *testing.T, extra map[string]string) *secureBroker {
	t.Helper()
	pki := newTestPKI(t)
	port := testutil.FreePort(t)
	addr := func(p int) string { return "127.0.0.1:" + strconv.Itoa(p) }
	sb := &secureBroker{pki: pki,
		SSL: addr(testutil.FreePort(t)), SASLSSL: addr(testutil.FreePort(t)), SASLPlain: addr(testutil.FreePort(t))}
	ov := map[string]string{
		"listeners":                                           fmt.Sprintf("PLAINTEXT://%s,SSL://%s,SASL_SSL://%s,SASL_PLAINTEXT://%s", addr(port), sb.SSL, sb.SASLSSL, sb.SASLPlain),
		"ssl.keystore.location":                               pki.ServerFile,
		"ssl.truststore.location":                             pki.CAFile,
		"listener.name.ssl.ssl.client.auth":                   "required",
		"sasl.enabled.mechanisms":                             "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512,OAUTHBEARER",
		"listener.name.sasl_ssl.plain.sasl.jaas.config":       jaasUsers,
		"listener.name.sasl_plaintext.plain.sasl.jaas.config": jaasUsers,
	}
	for k, v := range extra {
		ov[k] = v
	}
	sb.Broker = testutil.StartBroker(t, testutil.WithPort(port), testutil.WithOverrides(ov))
	return sb
}

// clientOpts returns franz-go options for a listener.
func (sb *secureBroker) tlsOpts(certs ...tls.Certificate) []kgo.Opt {
	return []kgo.Opt{kgo.SeedBrokers(sb.SSL), kgo.DialTLSConfig(sb.pki.clientTLS(certs...))}
}

func (sb *secureBroker) plainOpts(user, password string) []kgo.Opt {
	return []kgo.Opt{kgo.SeedBrokers(sb.SASLSSL), kgo.DialTLSConfig(sb.pki.clientTLS()),
		kgo.SASL(plain.Auth{User: user, Pass: password}.AsMechanism())}
}

func (sb *secureBroker) scramOpts(mech, user, password string) []kgo.Opt {
	a := scram.Auth{User: user, Pass: password}
	m := a.AsSha256Mechanism()
	if mech == "SCRAM-SHA-512" {
		m = a.AsSha512Mechanism()
	}
	return []kgo.Opt{kgo.SeedBrokers(sb.SASLSSL), kgo.DialTLSConfig(sb.pki.clientTLS()), kgo.SASL(m)}
}

// client returns a franz-go client with opts; the seed in opts replaces
// the PLAINTEXT one.
func (sb *secureBroker) client(t testing.TB, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	all := append([]kgo.Opt{kgo.ClientID("quill-e2e-security"), kgo.RetryTimeout(5 * time.Second),
		kgo.RequestRetries(2)}, opts...)
	cl, err := kgo.NewClient(all...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func (sb *secureBroker) admin(t testing.TB, opts ...kgo.Opt) *kadm.Client {
	return kadm.NewClient(sb.client(t, opts...))
}

// addScramUser creates SCRAM-SHA-256 and -512 credentials for user with
// adm.
func addScramUser(t testing.TB, adm *kadm.Client, user, password string) {
	t.Helper()
	res, err := adm.AlterUserSCRAMs(ctxT(t, 20*time.Second), nil, []kadm.UpsertSCRAM{
		{User: user, Mechanism: kadm.ScramSha256, Iterations: 4096, Password: password},
		{User: user, Mechanism: kadm.ScramSha512, Iterations: 8192, Password: password},
	})
	if err == nil {
		err = res.Error()
	}
	if err != nil {
		t.Fatalf("create SCRAM user %s: %v", user, err)
	}
}
