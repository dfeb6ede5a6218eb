// Temporary dev driver; not part of the build.
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/quillstream/quill/internal/cli"
	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kfake"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "kfake" {
		c := kfake.MustCluster(kfake.Ports(19092))
		fmt.Println(c.ListenAddrs())
		select {}
	}
	root := &cobra.Command{Use: "quill", SilenceErrors: true}
	cli.AddCommands(root)
	if err := root.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		var ec interface{ ExitCode() int }
		if errors.As(err, &ec) {
			os.Exit(ec.ExitCode())
		}
		os.Exit(1)
	}
}
