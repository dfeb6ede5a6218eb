package testutil

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// SystemPython is the interpreter whose site-packages hold Debian's
// python3-confluent-kafka and python3-kafka; the python3 first on PATH may
// be a different build that cannot import them.
const SystemPython = "/usr/bin/python3"

// AllowSkip reports whether missing external tools may skip tests
// (QUILL_E2E_ALLOW_SKIP=1). CI leaves it unset so nothing is skipped
// silently.
func AllowSkip() bool { return os.Getenv("QUILL_E2E_ALLOW_SKIP") == "1" }

// missingTool skips or fails the test, depending on AllowSkip.
func missingTool(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if AllowSkip() {
		t.Skipf("%s (skipping: QUILL_E2E_ALLOW_SKIP=1)", msg)
	}
	t.Fatalf("%s; install it (`.ci/run` does) or set QUILL_E2E_ALLOW_SKIP=1 to skip", msg)
}

// RequireKcat returns kcat's path, or skips/fails when it is missing.
func RequireKcat(t testing.TB) string {
	t.Helper()
	for _, name := range []string{"kcat", "kafkacat"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	missingTool(t, "kcat not found on PATH (Debian package kcat)")
	return ""
}

// RequirePython checks that SystemPython can import every module, or
// skips/fails.
func RequirePython(t testing.TB, modules ...string) {
	t.Helper()
	if _, err := os.Stat(SystemPython); err != nil {
		missingTool(t, "%s not found", SystemPython)
	}
	for _, m := range modules {
		cmd := exec.Command(SystemPython, "-c", "import "+m)
		if out, err := cmd.CombinedOutput(); err != nil {
			missingTool(t, "%s cannot import %s (Debian python3-confluent-kafka / python3-kafka): %v\n%s", SystemPython, m, err, out)
		}
	}
}

// Result is a finished external command.
type Result struct {
	Stdout, Stderr string
	Err            error // nil on exit 0
}

func (r Result) String() string {
	return fmt.Sprintf("err=%v\n--- stdout ---\n%s\n--- stderr ---\n%s", r.Err, r.Stdout, r.Stderr)
}

// Run runs name with args and stdin (may be nil), killing it after timeout.
// The process gets its own process group so that the kill reaches helper
// processes it started too.
func Run(t testing.TB, timeout time.Duration, stdin []byte, env []string, name string, args ...string) Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	if ctx.Err() != nil {
		err = fmt.Errorf("timed out after %v: %w", timeout, errors.Join(err, ctx.Err()))
	}
	return Result{Stdout: so.String(), Stderr: se.String(), Err: err}
}

// Kcat runs kcat with -b addr prepended.
func Kcat(t testing.TB, timeout time.Duration, addr string, stdin []byte, args ...string) Result {
	t.Helper()
	bin := RequireKcat(t)
	all := append([]string{"-b", addr}, args...)
	r := Run(t, timeout, stdin, nil, bin, all...)
	t.Logf("kcat %s -> err=%v", strings.Join(all, " "), r.Err)
	return r
}

// Python runs SystemPython on tests/e2e/py/<script> with args.
func Python(t testing.TB, timeout time.Duration, script string, args ...string) Result {
	t.Helper()
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(root, "tests", "e2e", "py", script)
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("python script: %v", err)
	}
	r := Run(t, timeout, nil, []string{"PYTHONUNBUFFERED=1", "PYTHONDONTWRITEBYTECODE=1"}, SystemPython, append([]string{path}, args...)...)
	t.Logf("python3 %s %s -> err=%v", script, strings.Join(args, " "), r.Err)
	return r
}
