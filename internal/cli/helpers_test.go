package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kfake"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

// testBrokers returns the address of the cluster to test against:
// QUILL_TEST_BROKERS if set (e.g. a real `quill server`), else a fresh
// in-memory kfake cluster for this test.
func testBrokers(t *testing.T) string {
	t.Helper()
	if b := os.Getenv("QUILL_TEST_BROKERS"); b != "" {
		return b
	}
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatalf("starting kfake: %v", err)
	}
	t.Cleanup(c.Close)
	return strings.Join(c.ListenAddrs(), ",")
}

// uniqueName gives a topic or group name that cannot collide with earlier
// runs against a shared real broker.
func uniqueName(t *testing.T, what string) string {
	clean := regexp.MustCompile(`[^a-zA-Z0-9]+`).ReplaceAllString(t.Name(), "-")
	name := fmt.Sprintf("%s-%s-%d", strings.ToLower(clean), what, time.Now().UnixNano()%1e9)
	if b := os.Getenv("QUILL_TEST_BROKERS"); b != "" {
		// A shared broker outlives the test: leave it as found.
		t.Cleanup(func() {
			if what == "g" {
				quill(t, b, "", "group", "delete", name)
			} else {
				quill(t, b, "", "topic", "delete", name, "--if-exists")
			}
		})
	}
	return name
}

type result struct {
	stdout, stderr string
	err            error
	code           int
}

// quill runs one command in-process, like `quill ARGS... -b BROKERS`.
func quill(t *testing.T, brokers, stdin string, args ...string) result {
	t.Helper()
	root := &cobra.Command{Use: "quill", SilenceErrors: true, SilenceUsage: true}
	AddCommands(root)
	if brokers != "" {
		args = append(args, "-b", brokers)
	}
	root.SetArgs(args)
	var out, errb bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errb)
	root.SetIn(strings.NewReader(stdin))
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	err := root.ExecuteContext(ctx)
	return result{stdout: out.String(), stderr: errb.String(), err: err, code: exitCode(err)}
}

// mustQuill is quill that fails the test on a non-zero exit.
func mustQuill(t *testing.T, brokers, stdin string, args ...string) result {
	t.Helper()
	r := quill(t, brokers, stdin, args...)
	if r.err != nil {
		t.Fatalf("quill %s: exit %d: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.code, r.err, r.stdout, r.stderr)
	}
	return r
}

func decodeJSON[T any](t *testing.T, s string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("decoding JSON: %v\n%s", err, s)
	}
	return v
}

// golden compares got with testdata/NAME.golden, rewriting it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run `go test ./internal/cli -update` to create it)", err)
	}
	if string(want) != got {
		t.Errorf("%s differs from golden file:\n--- want\n%s\n--- got\n%s", path, want, got)
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// writeProps writes a --command-config file and returns its path.
func writeProps(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "client.properties")
	writeFile(t, path, content)
	return path
}

func itoa(n int32) string { return fmt.Sprint(n) }

// squeezeSpaces makes table output independent of column widths, which
// depend on generated names.
func squeezeSpaces(s string) string { return regexp.MustCompile(` +`).ReplaceAllString(s, " ") }
