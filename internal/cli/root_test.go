package cli

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spf13/cobra"
)

// Every command documents itself with examples, and every leaf command
// with its own.
func TestEveryCommandHasHelpAndExamples(t *testing.T) {
	root := &cobra.Command{Use: "quill"}
	AddCommands(root)
	var walk func(*cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Short == "" {
			t.Errorf("%s: no Short help", c.CommandPath())
		}
		if c.Example == "" {
			t.Errorf("%s: no examples", c.CommandPath())
		}
		for _, sub := range c.Commands() {
			if sub.Name() != "help" && sub.Name() != "completion" {
				walk(sub)
			}
		}
	}
	for _, c := range root.Commands() {
		walk(c)
	}
	r := quill(t, "", "", "consume", "--help")
	if r.err != nil || !strings.Contains(r.stdout, "Examples:") || !strings.Contains(r.stdout, "--bootstrap-server") {
		t.Errorf("consume --help: %v\n%s", r.err, r.stdout)
	}
}

// syncBuffer lets the test read output while the command writes it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Interrupting a group consumer (SIGINT cancels the command's context the
// same way) exits 0 and commits what was printed.
func TestConsumeGroupCommitsOnInterrupt(t *testing.T) {
	b := testBrokers(t)
	topic := uniqueName(t, "t")
	group := uniqueName(t, "g")
	mustQuill(t, b, "", "topic", "create", topic, "--partitions", "1")
	mustQuill(t, b, "a\nb\nc\n", "produce", topic)

	root := &cobra.Command{Use: "quill", SilenceErrors: true, SilenceUsage: true}
	AddCommands(root)
	root.SetArgs([]string{"consume", topic, "--group", group, "--from-beginning", "-b", b})
	var out syncBuffer
	root.SetOut(&out)
	root.SetErr(&out)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()
	deadline := time.Now().Add(30 * time.Second)
	for out.String() != "a\nb\nc\n" {
		if time.Now().After(deadline) {
			t.Fatalf("consumer printed %q", out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("interrupted consume: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("consume did not exit after interrupt")
	}
	d := decodeJSON[groupDescription](t, mustQuill(t, b, "", "group", "describe", group, "-o", "json").stdout)
	if len(d.Offsets) != 1 || d.Offsets[0].CommittedOffset != 3 || len(d.Members) != 0 {
		t.Errorf("after interrupt: %+v", d)
	}
}
