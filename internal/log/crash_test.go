package log

import (
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"testing"
	"time"
)

// TestKill9 appends in a child process, kills it with SIGKILL mid-stream and
// recovers: the log must open, hold only valid contiguous batches, and keep
// at least everything the child reported as appended before the kill.
func TestKill9(t *testing.T) {
	if dir := os.Getenv("QUILL_LOG_KILL9_DIR"); dir != "" {
		kill9Child(dir)
		return
	}
	if testing.Short() {
		t.Skip("spawns a process")
	}
	for round := range 3 {
		dir := t.TempDir()
		cmd := exec.Command(os.Args[0], "-test.run=^TestKill9$")
		cmd.Env = append(os.Environ(), "QUILL_LOG_KILL9_DIR="+dir)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(150+100*round) * time.Millisecond)
		cmd.Process.Kill()
		b := make([]byte, 1<<20)
		n, _ := out.Read(b)
		cmd.Wait()
		// The child prints the LEO after each append; the last full line is
		// a lower bound of what must survive.
		acked := int64(0)
		lines := splitLines(string(b[:n]))
		for _, ln := range lines {
			if v, err := strconv.ParseInt(ln, 10, 64); err == nil {
				acked = max(acked, v)
			}
		}
		l := openT(t, dir, testConfig(), Options{})
		hs := readAll(t, l, 0)
		next := int64(0)
		for _, h := range hs {
			if h.BaseOffset != next {
				t.Fatalf("gap: batch at %d, expected %d", h.BaseOffset, next)
			}
			next = h.NextOffset()
		}
		if l.LogEndOffset() < acked {
			t.Fatalf("lost acknowledged data: LEO %d < %d", l.LogEndOffset(), acked)
		}
		t.Logf("round %d: recovered LEO %d (child reported %d) in %d segments", round, l.LogEndOffset(), acked, l.NumSegments())
		l.Close()
	}
}

func splitLines(s string) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return out
}

func kill9Child(dir string) {
	cfg := testConfig()
	cfg.SegmentBytes = 64 << 10
	cfg.IndexIntervalBytes = 512
	l, err := Open(dir, cfg, Options{Logger: quietLogger()})
	if err != nil {
		os.Exit(2)
	}
	b := mkBatch(&testing.T{}, 20, 50, 1)
	for i := 0; ; i++ {
		info, err := l.AppendLeader(b, int32(i/100))
		if err != nil {
			os.Exit(3)
		}
		os.Stdout.WriteString(strconv.FormatInt(info.LastOffset+1, 10) + "\n")
		if i%50 == 0 {
			runtime.Gosched()
		}
	}
}
