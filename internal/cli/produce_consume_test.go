package cli

import (
	"regexp"
	"strings"
	"testing"
)

// produceFixture creates a one-partition topic holding three records with
// keys and headers, plus one without a key.
func produceFixture(t *testing.T, b string) string {
	t.Helper()
	topic := uniqueName(t, "t")
	mustQuill(t, b, "", "topic", "create", topic, "--partitions", "1", "--replication-factor", "1")
	r := mustQuill(t, b, "k1:v1\nk2:v2:with:colons\r\nno-key-here\n:empty-key\n", "produce", topic,
		"--key-separator", ":", "--header", "h1=x", "--header", "h2=y=z", "--partition", "0", "--compression", "gzip")
	if !strings.Contains(r.stderr, "Produced 4 record(s) to "+topic+": 4 acknowledged, 0 failed") {
		t.Fatalf("produce summary: %q", r.stderr)
	}
	return topic
}

var timestampRE = regexp.MustCompile(`"timestamp":"[^"]*","timestamp_ms":\d+`)

func TestProduceConsumeFormats(t *testing.T) {
	b := testBrokers(t)
	topic := produceFixture(t, b)
	for _, tc := range []struct{ name, format string }{
		{"consume_default", `%v\n`},
		{"consume_template", `%k=%v p%p@%o [%h] K%K S%S %%\t|\n`},
		{"consume_json", "json"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := mustQuill(t, b, "", "consume", topic, "--from-beginning", "--max-messages", "4", "--format", tc.format)
			out := strings.ReplaceAll(r.stdout, topic, "TOPIC")
			out = timestampRE.ReplaceAllString(out, `"timestamp":"T","timestamp_ms":0`)
			golden(t, tc.name, out)
		})
	}
	// Timestamps print in both forms.
	r := mustQuill(t, b, "", "consume", topic, "--from-beginning", "-n", "1", "--format", `%T %d\n`)
	if !regexp.MustCompile(`^\d{13} \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\n$`).MatchString(r.stdout) {
		t.Errorf("timestamp verbs: %q", r.stdout)
	}
}

func TestConsumeStartPositions(t *testing.T) {
	b := testBrokers(t)
	topic := produceFixture(t, b)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--offset", "start", "-n", "1"}, "0\n"},
		{[]string{"--offset", "2", "-n", "1"}, "2\n"},
		{[]string{"--offset", "-1", "-n", "1"}, "3\n"},
		{[]string{"--offset", "-3", "-n", "3"}, "1\n2\n3\n"},
		{[]string{"--timestamp", "0", "-n", "1"}, "0\n"},
		{[]string{"--timestamp", "2000-01-01T00:00:00Z", "-n", "2"}, "0\n1\n"},
		{[]string{"--partition", "0", "--from-beginning", "-n", "1"}, "0\n"},
		{[]string{"--isolation-level", "read_committed", "--from-beginning", "-n", "1"}, "0\n"},
	} {
		args := append([]string{"consume", topic, "--format", `%o\n`}, tc.args...)
		r := mustQuill(t, b, "", args...)
		if r.stdout != tc.want {
			t.Errorf("%v: got %q, want %q", tc.args, r.stdout, tc.want)
		}
	}
}

func TestProduceFromFileAndOptions(t *testing.T) {
	b := testBrokers(t)
	topic := uniqueName(t, "t")
	mustQuill(t, b, "", "topic", "create", topic, "--partitions", "2")
	path := t.TempDir() + "/in.txt"
	writeFile(t, path, "a\nb\nc")
	for _, args := range [][]string{
		{"--acks", "1", "--compression", "snappy"},
		{"--acks", "0", "--compression", "lz4"},
		{"--acks", "all", "--idempotent", "--compression", "zstd", "--linger-ms", "5"},
		{"--acks", "-1", "--batch-max-bytes", "16384"},
	} {
		r := mustQuill(t, b, "", append([]string{"produce", topic, "--file", path}, args...)...)
		if !strings.Contains(r.stderr, "3 acknowledged") {
			t.Errorf("%v: %q", args, r.stderr)
		}
	}
	r := mustQuill(t, b, "", "consume", topic, "--from-beginning", "-n", "12", "--format", `%v`)
	if len(r.stdout) != 12 || strings.Count(r.stdout, "a") != 4 {
		t.Errorf("consumed %q", r.stdout)
	}
}

func TestProduceFailureExitsNonZero(t *testing.T) {
	b := testBrokers(t)
	// No such partition: every record fails and the command says so.
	topic := uniqueName(t, "t")
	mustQuill(t, b, "", "topic", "create", topic, "--partitions", "1")
	r := quill(t, b, "x\ny\n", "produce", topic, "--partition", "7", "--command-config", writeProps(t, "request.timeout.ms=3000\n"))
	if r.code != exitError {
		t.Fatalf("code %d, err %v, stderr %q", r.code, r.err, r.stderr)
	}
	if !strings.Contains(r.err.Error(), "2 of 2 record(s) not acknowledged") || !strings.Contains(r.stderr, "0 acknowledged, 2 failed") {
		t.Errorf("err %v\nstderr %q", r.err, r.stderr)
	}
}

func TestMissingTopicIsExplained(t *testing.T) {
	b := testBrokers(t)
	topic := uniqueName(t, "t") // never created
	for _, args := range [][]string{
		{"consume", topic},
		{"produce", topic},
		{"topic", "describe", topic},
	} {
		r := quill(t, b, "x\n", args...)
		if r.code != exitError || !strings.Contains(r.err.Error(), "UNKNOWN_TOPIC_OR_PARTITION") || !strings.Contains(r.err.Error(), "quill topic list") {
			t.Errorf("%v: code %d err %v", args, r.code, r.err)
		}
	}
}
