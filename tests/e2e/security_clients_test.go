package e2e

import (
	"crypto/x509/pkix"
	"strings"
	"testing"
	"time"

	"github.com/quillstream/quill/internal/testutil"
)

// librdkafka settings for each way in.
func (sb *secureBroker) rdkSCRAM(mech, user, password string) []string {
	return []string{"bootstrap.servers=" + sb.SASLSSL, "security.protocol=SASL_SSL", "sasl.mechanisms=" + mech,
		"sasl.username=" + user, "sasl.password=" + password, "ssl.ca.location=" + sb.pki.CAFile}
}

func (sb *secureBroker) rdkMTLS(cert, key string) []string {
	return []string{"bootstrap.servers=" + sb.SSL, "security.protocol=SSL", "ssl.ca.location=" + sb.pki.CAFile,
		"ssl.certificate.location=" + cert, "ssl.key.location=" + key}
}

// kcatX turns librdkafka settings into kcat arguments (-b from
// bootstrap.servers, the rest as -X).
func kcatX(conf []string, args ...string) (string, []string) {
	var out []string
	addr := ""
	for _, kv := range conf {
		if b, ok := strings.CutPrefix(kv, "bootstrap.servers="); ok {
			addr = b
			continue
		}
		out = append(out, "-X", kv)
	}
	return addr, append(out, args...)
}

// TestSecurityKcat: kcat (librdkafka) over SASL_SSL with SCRAM-SHA-256 and
// -512, over mutual TLS, and refused with a wrong password.
func TestSecurityKcat(t *testing.T) {
	t.Parallel()
	testutil.RequireKcat(t)
	sb := startSecureBroker(t, nil)
	addScramUser(t, sb.Admin(t), "kc", "kc-pass")
	certFile, keyFile, _ := sb.pki.client(t, "kcat", pkix.Name{CommonName: "kcat"})
	for name, conf := range map[string][]string{
		"scram-sha-256": sb.rdkSCRAM("SCRAM-SHA-256", "kc", "kc-pass"),
		"scram-sha-512": sb.rdkSCRAM("SCRAM-SHA-512", "kc", "kc-pass"),
		"mtls":          sb.rdkMTLS(certFile, keyFile),
	} {
		t.Run(name, func(t *testing.T) {
			topic := topicName(t)
			createTopic(t, sb.Admin(t), topic, 1, nil)
			addr, args := kcatX(conf, "-P", "-t", topic, "-K:")
			if r := testutil.Kcat(t, 30*time.Second, addr, []byte("k1:one\nk2:two\n"), args...); r.Err != nil {
				t.Fatalf("kcat -P: %v", r)
			}
			addr, args = kcatX(conf, "-C", "-t", topic, "-e", "-o", "beginning", "-f", "%k=%s\n")
			r := testutil.Kcat(t, 30*time.Second, addr, nil, args...)
			if r.Err != nil || r.Stdout != "k1=one\nk2=two\n" {
				t.Fatalf("kcat -C: %v", r)
			}
		})
	}
	t.Run("wrong-password", func(t *testing.T) {
		addr, args := kcatX(sb.rdkSCRAM("SCRAM-SHA-512", "kc", "wrong"), "-L", "-m", "5")
		r := testutil.Kcat(t, 30*time.Second, addr, nil, args...)
		if r.Err == nil || !strings.Contains(r.Stderr+r.Stdout, "uthentication") {
			t.Fatalf("kcat -L with a wrong password: %v", r)
		}
	})
}

// TestSecurityConfluentPython: confluent-kafka-python over SASL_SSL with
// SCRAM-SHA-512 and over mutual TLS, with a consumer group; a wrong
// password is refused.
func TestSecurityConfluentPython(t *testing.T) {
	t.Parallel()
	testutil.RequirePython(t, "confluent_kafka")
	sb := startSecureBroker(t, nil)
	addScramUser(t, sb.Admin(t), "py", "py-pass")
	certFile, keyFile, _ := sb.pki.client(t, "py", pkix.Name{CommonName: "py"})
	for name, conf := range map[string][]string{
		"scram-sha-512": sb.rdkSCRAM("SCRAM-SHA-512", "py", "py-pass"),
		"mtls":          sb.rdkMTLS(certFile, keyFile),
	} {
		t.Run(name, func(t *testing.T) {
			topic := topicName(t)
			createTopic(t, sb.Admin(t), topic, 2, nil)
			r := testutil.Python(t, 90*time.Second, "confluent_security.py", append([]string{"roundtrip", topic, "g-" + topic}, conf...)...)
			if r.Err != nil || !strings.Contains(r.Stdout, "OK") {
				t.Fatalf("confluent_security.py: %v", r)
			}
		})
	}
	t.Run("wrong-password", func(t *testing.T) {
		r := testutil.Python(t, 60*time.Second, "confluent_security.py",
			append([]string{"auth-failed", "x", "x"}, sb.rdkSCRAM("SCRAM-SHA-512", "py", "nope")...)...)
		if r.Err != nil || !strings.Contains(r.Stdout, "OK") || !strings.Contains(r.Stderr, "SASL authentication error") {
			t.Fatalf("confluent_security.py: %v", r)
		}
	})
}
