package config

import "testing"

func TestListenerOverrides(t *testing.T) {
	b, warns, err := Load("", []string{
		"listeners=PLAINTEXT://127.0.0.1:9092,SASL_SSL://127.0.0.1:9093",
		"ssl.keystore.location=/global.pem",
		"listener.name.SASL_SSL.ssl.keystore.location=/external.pem",
		"listener.name.sasl_ssl.ssl.client.auth=required",
		"sasl.jaas.config=global",
		"listener.name.sasl_ssl.plain.sasl.jaas.config=plain-ext",
		"listener.name.sasl_ssl.log.retention.ms=5",
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(warns) != 1 || warns[0].Key != "listener.name.sasl_ssl.log.retention.ms" {
		t.Errorf("warnings = %v, want one for log.retention.ms", warns)
	}
	for _, c := range []struct{ listener, key, want string }{
		{"SASL_SSL", "ssl.keystore.location", "/external.pem"},
		{"PLAINTEXT", "ssl.keystore.location", "/global.pem"},
		{"SASL_SSL", "ssl.client.auth", "required"},
		{"PLAINTEXT", "ssl.client.auth", "none"},
	} {
		if got := b.ListenerValue(c.listener, c.key); got != c.want {
			t.Errorf("ListenerValue(%s, %s) = %q, want %q", c.listener, c.key, got, c.want)
		}
	}
	if got := b.ListenerJAAS("SASL_SSL", "PLAIN"); got != "plain-ext" {
		t.Errorf("ListenerJAAS(SASL_SSL, PLAIN) = %q", got)
	}
	if got := b.ListenerJAAS("SASL_SSL", "SCRAM-SHA-256"); got != "global" {
		t.Errorf("ListenerJAAS(SASL_SSL, SCRAM-SHA-256) = %q", got)
	}
	if _, _, err := Load("", []string{"listener.name.x.ssl.client.auth=maybe"}); err == nil {
		t.Error("bad per-listener value accepted")
	}
}
