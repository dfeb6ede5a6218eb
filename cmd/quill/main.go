// Command quill is a Kafka-compatible streaming platform in one binary:
// `quill server` runs a broker (and controller), and the other subcommands
// are the everyday client tools (topics, produce, consume, groups, configs,
// perf tests).
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/quillstream/quill/internal/cli"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	root := &cobra.Command{
		Use:           "quill",
		Short:         "Quill: a Kafka-compatible streaming platform in one binary",
		SilenceUsage:  true,
		SilenceErrors: true,
		Example: `  quill server                          # a single node on 127.0.0.1:9092, data in ./quill-data
  quill topic create orders --partitions 3
  echo hello | quill produce orders
  quill consume orders --from-beginning`,
	}
	root.AddCommand(serverCommand(), &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Run:   func(cmd *cobra.Command, args []string) { fmt.Println("quill", version) },
	})
	cli.AddCommands(root)
	cli.AddSecurityCommands(root)
	if err := root.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "quill:", err)
		os.Exit(exitCode(err))
	}
}

// exitCode is 2 for usage errors, 1 otherwise.
func exitCode(err error) int {
	type coder interface{ ExitCode() int }
	if c, ok := err.(coder); ok {
		return c.ExitCode()
	}
	return 1
}
