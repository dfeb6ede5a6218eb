package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/quillstream/quill/internal/testutil"
)

// Inter-broker security: clusters whose only broker listener is SASL_SSL
// (SCRAM-SHA-512) or SSL with required client certificates, so that
// followers must complete TLS and SASL to replicate, under an authorizer
// whose only super user is the brokers' principal.

// TestClusterInterBrokerSASLSSL: three nodes with a SASL_SSL listener
// (and the controller listener) only. The brokers create the SCRAM user of
// their sasl.jaas.config themselves, replicate over SASL_SSL, and the data
// of an acks=all topic survives kill -9 of its leader.
func TestClusterInterBrokerSASLSSL(t *testing.T) {
	pki := newTestPKI(t)
	admin := scram.Auth{User: "admin", Pass: "admin-secret"}.AsSha512Mechanism()
	c := testutil.StartCluster(t, 3,
		testutil.WithClientListener("SASL_SSL", pki.clientTLS(), kgo.DialTLSConfig(pki.clientTLS()), kgo.SASL(admin)),
		testutil.WithOverrides(map[string]string{
			"security.inter.broker.protocol":                        "SASL_SSL",
			"sasl.enabled.mechanisms":                               "SCRAM-SHA-512",
			"sasl.mechanism.inter.broker.protocol":                  "SCRAM-SHA-512",
			"listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config": `org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="admin-secret";`,
			"ssl.keystore.location":                                 pki.ServerFile,
			"ssl.truststore.location":                               pki.CAFile,
			"authorizer.class.name":                                 "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
			"super.users":                                           "User:admin",
			"min.insync.replicas":                                   "2",
		}))
	checkReplicatedSurvivesLeaderKill(t, c)
	checkTransactionsAcrossBrokers(t, c)

	// A client with a wrong password is refused, on every node.
	bad, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...), kgo.DialTLSConfig(pki.clientTLS()),
		kgo.SASL(scram.Auth{User: "admin", Pass: "wrong"}.AsSha512Mechanism()), kgo.RequestRetries(0))
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	if err := bad.Ping(testutil.Context(t, 10*time.Second)); err == nil {
		t.Error("a wrong password was accepted")
	}
}

// TestClusterInterBrokerMTLS: the same with an SSL listener that requires
// client certificates: brokers present their key store's certificate to
// each other and are authorized as its DN.
func TestClusterInterBrokerMTLS(t *testing.T) {
	pki := newTestPKI(t)
	brokerStore := writeBrokerKeystore(t, pki)
	_, _, adminCert := pki.client(t, "admin", pkix.Name{CommonName: "admin"})
	tc := pki.clientTLS(adminCert)
	c := testutil.StartCluster(t, 3,
		testutil.WithClientListener("SSL", tc, kgo.DialTLSConfig(tc)),
		testutil.WithOverrides(map[string]string{
			"inter.broker.listener.name": "SSL",
			"ssl.keystore.location":      brokerStore,
			"ssl.truststore.location":    pki.CAFile,
			"ssl.client.auth":            "required",
			"authorizer.class.name":      "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
			"super.users":                "User:CN=broker,O=Quill;User:CN=admin",
			"min.insync.replicas":        "2",
		}))
	checkReplicatedSurvivesLeaderKill(t, c)
}

// checkReplicatedSurvivesLeaderKill produces acks=all to an RF 3 topic,
// waits for the full ISR (every follower fetched over the secured
// listener), kills the leader with SIGKILL and reads everything back from
// the new leader.
func checkReplicatedSurvivesLeaderKill(t *testing.T, c *testutil.Cluster) {
	t.Helper()
	topic := topicName(t)
	createClusterTopic(t, c.Admin(t), topic, 1, 3, nil)
	p := c.WaitPartition(topic, 0, "leader and full ISR", func(p testutil.Partition) bool {
		return p.Leader > 0 && len(p.ISR) == 3
	})
	produceSeq(t, c.Client(t, kgo.RequiredAcks(kgo.AllISRAcks())), topic, 0, 200)
	c.WaitPartition(topic, 0, "full ISR after the writes", func(p testutil.Partition) bool {
		return len(p.ISR) == 3
	})
	checkSeq(t, consumeSecure(t, c, topic, 200), 200)

	old := p.Leader
	c.Node(old).Kill()
	c.WaitPartition(topic, 0, "a new leader", func(p testutil.Partition) bool {
		return p.Leader > 0 && p.Leader != old && !slices.Contains(p.ISR, old)
	})
	checkSeq(t, consumeSecure(t, c, topic, 200), 200)
}

// consumeSecure reads partition 0 of topic from the beginning through the
// running nodes with the cluster's client options.
func consumeSecure(t *testing.T, c *testutil.Cluster, topic string, n int) []string {
	t.Helper()
	var live []string
	for _, b := range c.Brokers {
		if b.Running() {
			live = append(live, b.Addr())
		}
	}
	cl := c.Client(t, kgo.SeedBrokers(live...), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	ctx := testutil.Context(t, 60*time.Second)
	var got []string
	for len(got) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of %d records", len(got), n)
		}
		fs.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
	}
	return got
}

// writeBrokerKeystore issues the brokers' certificate, for 127.0.0.1 and
// usable as server and as client certificate (mTLS between brokers needs
// both extended key usages), and writes it with its key as a PEM key store.
func writeBrokerKeystore(t *testing.T, p *testPKI) string {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "broker", Organization: []string{"Quill"}},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, &key.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalPKCS8PrivateKey(key)
	path := filepath.Join(p.dir, "broker-keystore.pem")
	writePEM(t, path, pemBlock("PRIVATE KEY", kb), pemBlock("CERTIFICATE", der))
	return path
}

// checkTransactionsAcrossBrokers commits, aborts and commits transactions
// over partitions led by different brokers: the coordinator's markers and
// the leaders' KIP-890 verifications travel between brokers on the
// secured inter-broker listener. A read_committed consumer sees exactly
// the committed records.
func checkTransactionsAcrossBrokers(t *testing.T, c *testutil.Cluster) {
	t.Helper()
	topic := topicName(t) + "-txn"
	createClusterTopic(t, c.Admin(t), topic, 3, 2, nil) // one node is down
	for p := range int32(3) {
		c.WaitPartition(topic, p, "a leader", func(p testutil.Partition) bool { return p.Leader > 0 })
	}
	var live []string
	for _, b := range c.Brokers {
		if b.Running() {
			live = append(live, b.Addr())
		}
	}
	pr := c.Client(t, kgo.SeedBrokers(live...), kgo.TransactionalID(topic), kgo.DefaultProduceTopic(topic),
		kgo.RecordPartitioner(kgo.RoundRobinPartitioner()), kgo.TransactionTimeout(30*time.Second))
	ctx := testutil.Context(t, 90*time.Second)
	for i, commit := range []bool{true, false, true} {
		if err := pr.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		for j := range 30 {
			if err := pr.ProduceSync(ctx, &kgo.Record{Value: []byte(fmt.Sprintf("t%d-%d", i, j))}).FirstErr(); err != nil {
				t.Fatalf("transaction %d: %v", i, err)
			}
		}
		if err := pr.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
			t.Fatalf("end transaction %d (commit %v): %v", i, commit, err)
		}
	}
	cl := c.Client(t, kgo.SeedBrokers(live...), kgo.ConsumeTopics(topic), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	seen := map[string]bool{}
	for len(seen) < 60 { // t0 and t2; t1 (aborted) sits between them
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %d of 60 committed records", len(seen))
		}
		fs.EachRecord(func(r *kgo.Record) {
			if strings.HasPrefix(string(r.Value), "t1-") {
				t.Errorf("read an aborted record %q", r.Value)
			}
			seen[string(r.Value)] = true
		})
	}
}
