package e2e

import (
	"crypto/x509/pkix"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/quillstream/quill/internal/testutil"
)

// quillCLI runs a quill client command.
func quillCLI(t *testing.T, stdin string, args ...string) testutil.Result {
	t.Helper()
	var in []byte
	if stdin != "" {
		in = []byte(stdin)
	}
	r := testutil.Run(t, 60*time.Second, in, nil, testutil.Binary(t), args...)
	t.Logf("quill %s -> err=%v", strings.Join(args, " "), r.Err)
	return r
}

func writeProps(t *testing.T, name string, lines ...string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestSecurityCLI: `quill user` and `quill acl`, and every client command
// over SASL_SSL and mutual TLS through --command-config.
func TestSecurityCLI(t *testing.T) {
	t.Parallel()
	sb, adm := aclBroker(t)
	addScramUser(t, adm, "admin", "admin-scram")
	admin := writeProps(t, "admin.properties",
		"security.protocol=SASL_SSL", "sasl.mechanism=SCRAM-SHA-512",
		`sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="admin-scram";`,
		"ssl.truststore.location="+sb.pki.CAFile)
	writer := writeProps(t, "writer.properties",
		"security.protocol=SASL_SSL", "sasl.mechanism=SCRAM-SHA-256",
		"sasl.username=writer", "sasl.password=w-pass", "ssl.truststore.location="+sb.pki.CAFile)
	as := func(props string, args ...string) []string {
		return append(args, "-b", sb.SASLSSL, "--command-config", props)
	}
	ok := func(r testutil.Result) testutil.Result {
		t.Helper()
		if r.Err != nil {
			t.Fatalf("%v", r)
		}
		return r
	}

	ok(quillCLI(t, "", as(admin, "user", "create", "writer", "--password", "w-pass")...))
	ok(quillCLI(t, "r-pass\n", as(admin, "user", "create", "reader", "--mechanism", "SCRAM-SHA-512")...))
	r := ok(quillCLI(t, "", as(admin, "user", "list", "-o", "json")...))
	var users []struct {
		User       string `json:"user"`
		Mechanisms []struct {
			Mechanism string `json:"mechanism"`
		} `json:"mechanisms"`
	}
	if err := json.Unmarshal([]byte(r.Stdout), &users); err != nil || len(users) != 3 {
		t.Fatalf("user list: %v\n%s", err, r.Stdout)
	}

	ok(quillCLI(t, "", as(admin, "acl", "create", "--principal", "User:writer", "--operation", "Write", "--topic", "cli-", "--prefixed")...))
	ok(quillCLI(t, "", as(admin, "topic", "create", "cli-orders")...))
	r = ok(quillCLI(t, "", as(admin, "acl", "list", "-o", "json")...))
	var acls []map[string]string
	if err := json.Unmarshal([]byte(r.Stdout), &acls); err != nil || len(acls) != 1 ||
		acls[0]["principal"] != "User:writer" || acls[0]["pattern_type"] != "prefixed" || acls[0]["operation"] != "WRITE" {
		t.Fatalf("acl list: %v\n%s", err, r.Stdout)
	}
	r = ok(quillCLI(t, "", as(admin, "acl", "list", "--topic", "cli-orders", "--pattern", "match")...))
	if !strings.Contains(r.Stdout, "User:writer") {
		t.Errorf("acl list --pattern match:\n%s", r.Stdout)
	}

	// The writer produces; it may not read, nor create ACLs.
	ok(quillCLI(t, "one\ntwo\n", as(writer, "produce", "cli-orders")...))
	r = quillCLI(t, "", as(writer, "consume", "cli-orders", "--from-beginning", "-n", "2")...)
	if r.Err == nil || !strings.Contains(r.Stderr, "AUTHORIZATION") {
		t.Errorf("writer consuming: %v", r)
	}
	r = quillCLI(t, "", as(writer, "acl", "create", "--principal", "User:writer", "--operation", "Read", "--topic", "cli-orders")...)
	if r.Err == nil || !strings.Contains(r.Stderr, "CLUSTER_AUTHORIZATION_FAILED") {
		t.Errorf("writer creating ACLs: %v", r)
	}
	r = ok(quillCLI(t, "", as(admin, "consume", "cli-orders", "--from-beginning", "-n", "2")...))
	if r.Stdout != "one\ntwo\n" {
		t.Errorf("admin consumed %q", r.Stdout)
	}

	// Mutual TLS: the certificate's DN is the principal.
	cert, key, _ := sb.pki.client(t, "cli", pkix.Name{CommonName: "cli-reader"})
	mtls := writeProps(t, "mtls.properties", "security.protocol=SSL", "ssl.truststore.location="+sb.pki.CAFile,
		"ssl.certificate.location="+cert, "ssl.key.location="+key)
	ok(quillCLI(t, "", as(admin, "acl", "create", "--principal", "User:CN=cli-reader", "--operation", "Read", "--topic", "cli-orders")...))
	r = ok(quillCLI(t, "", "consume", "cli-orders", "--from-beginning", "-n", "2", "-b", sb.SSL, "--command-config", mtls))
	if r.Stdout != "one\ntwo\n" {
		t.Errorf("mTLS consumer got %q", r.Stdout)
	}

	// Wrong password: an authentication error, exit 1.
	bad := writeProps(t, "bad.properties", "security.protocol=SASL_SSL", "sasl.mechanism=PLAIN",
		"sasl.username=alice", "sasl.password=nope", "ssl.truststore.location="+sb.pki.CAFile)
	r = quillCLI(t, "", as(bad, "topic", "list")...)
	if r.Err == nil || !strings.Contains(r.Stderr, "SASL_AUTHENTICATION_FAILED") {
		t.Errorf("wrong password: %v", r)
	}

	r = ok(quillCLI(t, "", as(admin, "acl", "delete", "--principal", "User:writer")...))
	if !strings.Contains(r.Stdout, "Deleted 1 ACLs") {
		t.Errorf("acl delete:\n%s", r.Stdout)
	}
	ok(quillCLI(t, "", as(admin, "user", "delete", "writer")...))
	r = ok(quillCLI(t, "", as(admin, "user", "list")...))
	if strings.Contains(r.Stdout, "writer") {
		t.Errorf("writer still listed:\n%s", r.Stdout)
	}
}
