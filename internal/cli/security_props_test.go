package cli

import (
	"strings"
	"testing"
)

func TestParseClientSecurity(t *testing.T) {
	for _, c := range []struct {
		name    string
		props   map[string]string
		tls     bool
		sasl    string
		wantErr string
	}{
		{name: "none", props: map[string]string{}},
		{name: "plaintext", props: map[string]string{"security.protocol": "plaintext"}},
		{name: "ssl", props: map[string]string{"security.protocol": "SSL"}, tls: true},
		{name: "scram-java", props: map[string]string{"security.protocol": "SASL_SSL", "sasl.mechanism": "SCRAM-SHA-512",
			"sasl.jaas.config": `org.apache.kafka.common.security.scram.ScramLoginModule required username="alice" password="a\"b";`}, tls: true, sasl: "SCRAM-SHA-512"},
		{name: "plain-rdkafka", props: map[string]string{"security.protocol": "SASL_PLAINTEXT", "sasl.mechanisms": "PLAIN",
			"sasl.username": "bob", "sasl.password": "pw"}, sasl: "PLAIN"},
		{name: "no-user", props: map[string]string{"security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "PLAIN"}, wantErr: "sasl.username"},
		{name: "gssapi", props: map[string]string{"security.protocol": "SASL_PLAINTEXT", "sasl.username": "u"}, wantErr: "GSSAPI"},
		{name: "bad-protocol", props: map[string]string{"security.protocol": "TLS"}, wantErr: "security.protocol"},
		{name: "missing-ca", props: map[string]string{"security.protocol": "SSL", "ssl.truststore.location": "/nonexistent.pem"}, wantErr: "nonexistent"},
		{name: "jks", props: map[string]string{"security.protocol": "SSL", "ssl.truststore.type": "JKS"}, wantErr: "PEM"},
		{name: "half-pair", props: map[string]string{"security.protocol": "SSL", "ssl.certificate.location": "/x.pem"}, wantErr: "ssl.key.location"},
	} {
		cs, err := parseClientSecurity(c.props, "client.properties")
		if c.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("%s: err %v, want one mentioning %q", c.name, err, c.wantErr)
			}
			if exitCode(err) != exitUsage {
				t.Errorf("%s: exit code %d, want %d", c.name, exitCode(err), exitUsage)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if (cs.tls != nil) != c.tls {
			t.Errorf("%s: TLS %v, want %v", c.name, cs.tls != nil, c.tls)
		}
		got := ""
		if cs.mech != nil {
			got = cs.mech.Name()
		}
		if got != c.sasl {
			t.Errorf("%s: mechanism %q, want %q", c.name, got, c.sasl)
		}
	}
}
