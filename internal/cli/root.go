// Package cli implements the client-side subcommands of the quill binary:
// topic, produce, consume, group, cluster, config and perf. Every command
// talks to brokers over the Kafka protocol through franz-go (kgo, kadm) only,
// so the same commands work against Quill and against any Kafka cluster.
//
// Exit codes, which scripts may rely on:
//
//	0  success
//	1  the operation failed (broker error, unreachable cluster, record not acknowledged)
//	2  usage error (bad flag, missing argument, invalid value)
//
// Errors returned by the commands carry their exit code through an
// ExitCode() int method; cmd/quill maps them to os.Exit.
package cli

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

// Exit codes documented in the package comment and docs/cli.md.
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
)

// AddCommands registers the client subcommands (topic, produce, consume,
// group, cluster, config, perf) on root. It adds no flags to root itself:
// connection flags are persistent flags of each top-level subcommand.
func AddCommands(root *cobra.Command) {
	for _, c := range []*cobra.Command{
		newTopicCmd(),
		newProduceCmd(),
		newConsumeCmd(),
		newGroupCmd(),
		newClusterCmd(),
		newConfigCmd(),
		newPerfCmd(),
	} {
		prepare(c)
		root.AddCommand(c)
	}
}

// prepare applies the conventions every client command shares: connection
// flags, flag errors reported as usage errors (exit 2), and no usage dump on
// runtime failures.
func prepare(c *cobra.Command) {
	var walk func(*cobra.Command)
	walk = func(c *cobra.Command) {
		c.SilenceUsage = true
		c.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
			return usageErrorf("%v\nRun '%s --help' for usage.", err, c.CommandPath())
		})
		if c.Run == nil && c.RunE == nil {
			// A group command (e.g. `quill topic`) run without a
			// subcommand: show help and fail as a usage error, so
			// that a typo like `quill topic lst` does not exit 0.
			c.Args = func(c *cobra.Command, args []string) error {
				if len(args) > 0 {
					return usageErrorf("unknown command %q for %q\nRun '%s --help' for usage.", args[0], c.CommandPath(), c.CommandPath())
				}
				return nil
			}
			c.RunE = func(c *cobra.Command, _ []string) error {
				_ = c.Help()
				return usageErrorf("%s needs a subcommand", c.CommandPath())
			}
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(c)
}

// cliError is an error with an exit code. Its message is meant for humans:
// it names the cause and, where one is known, the fix.
type cliError struct {
	code int
	err  error
}

func (e *cliError) Error() string { return e.err.Error() }
func (e *cliError) Unwrap() error { return e.err }

// ExitCode is the process exit code cmd/quill should use for this error.
func (e *cliError) ExitCode() int { return e.code }

func usageErrorf(format string, args ...any) error {
	return &cliError{code: exitUsage, err: fmt.Errorf(format, args...)}
}

// exitCode reports the exit code for err, following the package convention.
func exitCode(err error) int {
	if err == nil {
		return exitOK
	}
	var ce interface{ ExitCode() int }
	if errors.As(err, &ce) {
		return ce.ExitCode()
	}
	return exitError
}

// args validators that report usage errors (exit 2) rather than cobra's
// plain errors (which the root would map to 1).
func exactArgs(n int, what string) cobra.PositionalArgs {
	return func(c *cobra.Command, args []string) error {
		if len(args) != n {
			return usageErrorf("%s expects %s, got %d argument(s)\nRun '%s --help' for usage.", c.CommandPath(), what, len(args), c.CommandPath())
		}
		return nil
	}
}

func minArgs(n int, what string) cobra.PositionalArgs {
	return func(c *cobra.Command, args []string) error {
		if len(args) < n {
			return usageErrorf("%s expects %s\nRun '%s --help' for usage.", c.CommandPath(), what, c.CommandPath())
		}
		return nil
	}
}

// isTerminal reports whether f is a character device (a TTY), used to pick
// between a live progress line and plain periodic lines.
func isTerminal(f any) bool {
	file, ok := f.(*os.File)
	if !ok {
		return false
	}
	st, err := file.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
