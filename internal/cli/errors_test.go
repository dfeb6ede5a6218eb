package cli

import (
	"strings"
	"testing"
	"time"
)

func TestUsageErrorsExitTwo(t *testing.T) {
	b := testBrokers(t)
	for _, args := range [][]string{
		{"topic"},
		{"topic", "lst"},
		{"topic", "create"},
		{"topic", "list", "--no-such-flag"},
		{"topic", "list", "-o", "xml"},
		{"topic", "create", "x", "--config", "novalue"},
		{"topic", "create", "x", "--partitions", "0"},
		{"topic", "add-partitions", "x"},
		{"produce"},
		{"produce", "x", "--acks", "2"},
		{"produce", "x", "--compression", "brotli"},
		{"produce", "x", "--acks", "1", "--idempotent"},
		{"produce", "x", "--header", "nokv"},
		{"consume", "x", "--format", "%q"},
		{"consume", "x", "--offset", "middle"},
		{"consume", "x", "--timestamp", "yesterday"},
		{"consume", "x", "--from-beginning", "--offset", "3"},
		{"consume", "x", "--isolation-level", "dirty"},
		{"consume", "x", "--group", "g", "--partition", "0"},
		{"group", "reset-offsets", "g", "--topic", "x:a", "--to-earliest"},
		{"perf", "produce", "x", "--throughput", "0"},
		{"perf", "produce", "x", "--num-records", "0"},
		{"cluster", "info", "extra"},
		{"topic", "list", "--command-config", "/nonexistent/file"},
	} {
		r := quill(t, b, "", args...)
		if r.code != exitUsage {
			t.Errorf("quill %s: exit %d, want 2 (err: %v)", strings.Join(args, " "), r.code, r.err)
		}
	}
}

func TestUnreachableBrokerIsExplained(t *testing.T) {
	for _, args := range [][]string{
		{"topic", "list"},
		{"produce", "x"},
		{"consume", "x"},
		{"group", "list"},
		{"perf", "consume", "x"},
	} {
		start := time.Now()
		r := quill(t, "127.0.0.1:1", "line\n", args...)
		if r.code != exitError || !strings.Contains(r.err.Error(), "cannot reach 127.0.0.1:1: is `quill server` running?") {
			t.Errorf("%v: code %d, err %v", args, r.code, r.err)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("%v: took %s to give up", args, d)
		}
	}
}

func TestCommandConfig(t *testing.T) {
	b := testBrokers(t)
	good := writeProps(t, "# client settings\nclient.id = my-tool\nrequest.timeout.ms: 5000\nsecurity.protocol=PLAINTEXT\nlinger.ms=5\n")
	r := mustQuill(t, b, "", "topic", "list", "--command-config", good)
	if !strings.Contains(r.stderr, "ignoring unsupported key linger.ms") {
		t.Errorf("no warning for unknown key: %q", r.stderr)
	}
	for content, want := range map[string]string{
		"security.protocol=SASL_SSL\n":                              "sasl.mechanism",
		"security.protocol=SASL_SSL\nsasl.mechanism=PLAIN\n":        "sasl.username",
		"security.protocol=TLS\n":                                   "security.protocol",
		"security.protocol=SSL\nssl.truststore.location=/x.pem\n":   "/x.pem",
		"security.protocol=SASL_PLAINTEXT\nsasl.mechanism=GSSAPI\n": "GSSAPI",
		"request.timeout.ms=soon\n":                                 "request.timeout.ms",
	} {
		r := quill(t, b, "", "topic", "list", "--command-config", writeProps(t, content))
		if r.code != exitUsage || !strings.Contains(r.err.Error(), want) {
			t.Errorf("%q: code %d err %v, want exit 2 naming %s", content, r.code, r.err, want)
		}
	}
	// TLS keys without security.protocol=SSL are unused: a warning.
	r = mustQuill(t, b, "", "topic", "list", "--command-config", writeProps(t, "ssl.truststore.location=/x.pem\n"))
	if !strings.Contains(r.stderr, "ignoring ssl.truststore.location") {
		t.Errorf("no warning for an unused ssl key: %q", r.stderr)
	}
}

func TestParseProperties(t *testing.T) {
	in := "# comment\n! also comment\n\n  a=1\nb : 2\nc 3\nd=x\\\n   y\ne=tab\\tand\\u0041\nf\\=g=h\nempty=\n"
	got, err := parseProperties(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"a": "1", "b": "2", "c": "3", "d": "xy", "e": "tab\tandA", "f=g": "h", "empty": ""}
	if len(got) != len(want) {
		t.Errorf("got %v", got)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: got %q want %q", k, got[k], v)
		}
	}
}

func TestFormatterVerbs(t *testing.T) {
	for _, bad := range []string{"%", "%x", "abc%"} {
		if _, err := newRecordFormatter(bad); err == nil || exitCode(err) != exitUsage {
			t.Errorf("%q: err %v", bad, err)
		}
	}
}
