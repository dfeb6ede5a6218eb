package cli

import (
	"testing"

	"github.com/spf13/cobra"
)

func TestSecurityCommandsHaveHelpAndExamples(t *testing.T) {
	root := &cobra.Command{Use: "quill"}
	AddSecurityCommands(root)
	var walk func(*cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Short == "" || c.Example == "" {
			t.Errorf("%s: no Short help or no examples", c.CommandPath())
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	for _, c := range root.Commands() {
		walk(c)
	}
}

func TestACLFilters(t *testing.T) {
	f := aclFlags{principals: []string{"User:a", "User:b"}, topics: []string{"t"}, groups: []string{"g"}, operations: []string{"read", "Describe_Configs"}}
	fs, err := f.filters()
	if err != nil {
		t.Fatal(err)
	}
	if len(fs) != 2*2*2 { // resources x principals x operations
		t.Errorf("%d filters, want 8", len(fs))
	}
	if _, err := parseOperation("fly"); err == nil || exitCode(err) != exitUsage {
		t.Errorf("bad operation: %v", err)
	}
	f = aclFlags{pattern: "sideways"}
	if _, err := f.filters(); err == nil {
		t.Error("bad --pattern accepted")
	}
	f = aclFlags{}
	fs, _ = f.filters()
	if len(fs) != 1 || fs[0].ResourceName != nil || fs[0].Principal != nil {
		t.Errorf("empty filter %+v", fs)
	}
}
