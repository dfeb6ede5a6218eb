package cli

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

func newUserCmd() *cobra.Command {
	g := new(globals)
	c := &cobra.Command{
		Use:     "user",
		Aliases: []string{"users"},
		Short:   "Create, list and delete SCRAM users",
		Long: `Manage SCRAM-SHA-256 and SCRAM-SHA-512 credentials (AlterUserScramCredentials).
The password is salted and hashed here; the broker stores only the salted
keys, never the password.`,
		Example: `  quill user create alice --password alice-secret
  quill user create bob --mechanism SCRAM-SHA-512 --iterations 8192 --password-file bob.txt
  quill user list
  quill user delete alice`,
	}
	g.register(c)
	c.AddCommand(newUserCreateCmd(g), newUserListCmd(g), newUserDeleteCmd(g))
	return c
}

func parseMechanisms(ms []string) ([]kadm.ScramMechanism, error) {
	if len(ms) == 0 {
		return []kadm.ScramMechanism{kadm.ScramSha256, kadm.ScramSha512}, nil
	}
	var out []kadm.ScramMechanism
	for _, m := range ms {
		switch strings.ToUpper(m) {
		case "SCRAM-SHA-256":
			out = append(out, kadm.ScramSha256)
		case "SCRAM-SHA-512":
			out = append(out, kadm.ScramSha512)
		default:
			return nil, usageErrorf("--mechanism %q: must be SCRAM-SHA-256 or SCRAM-SHA-512", m)
		}
	}
	return out, nil
}

func newUserCreateCmd(g *globals) *cobra.Command {
	var password, passwordFile string
	var mechanisms []string
	var iterations int32
	c := &cobra.Command{
		Use:     "create USER",
		Aliases: []string{"set"},
		Short:   "Create a SCRAM user, or change its password",
		Long: `Create a SCRAM user or change its password, for SCRAM-SHA-256 and
SCRAM-SHA-512 unless --mechanism picks one. The password comes from
--password, --password-file, or the first line of standard input.`,
		Example: `  quill user create alice --password alice-secret
  echo "$PASS" | quill user create bob --mechanism SCRAM-SHA-512`,
		Args: exactArgs(1, "a USER"),
		RunE: func(cmd *cobra.Command, args []string) error {
			mechs, err := parseMechanisms(mechanisms)
			if err != nil {
				return err
			}
			if iterations < 4096 || iterations > 16384 {
				return usageErrorf("--iterations must be between 4096 and 16384")
			}
			pw := password
			switch {
			case password != "" && passwordFile != "":
				return usageErrorf("give --password or --password-file, not both")
			case passwordFile != "":
				b, err := os.ReadFile(passwordFile)
				if err != nil {
					return usageErrorf("--password-file: %v", err)
				}
				pw = strings.TrimRight(string(b), "\r\n")
			case password == "":
				line, err := bufio.NewReader(cmd.InOrStdin()).ReadString('\n')
				if err != nil && line == "" {
					return usageErrorf("no password: give --password, --password-file or one line on standard input")
				}
				pw = strings.TrimRight(line, "\r\n")
			}
			if pw == "" {
				return usageErrorf("the password is empty")
			}
			s, err := g.open(cmd, true)
			if err != nil {
				return err
			}
			defer s.close()
			var ups []kadm.UpsertSCRAM
			for _, m := range mechs {
				ups = append(ups, kadm.UpsertSCRAM{User: args[0], Mechanism: m, Iterations: iterations, Password: pw})
			}
			res, err := s.adm.AlterUserSCRAMs(s.ctx, nil, ups)
			if err != nil {
				return s.explain(err)
			}
			if r, ok := res[args[0]]; ok && r.Err != nil {
				return resultErr("create user "+args[0], r.Err, r.ErrMessage)
			}
			var names []string
			for _, m := range mechs {
				names = append(names, m.String())
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Set %s credentials of user %s\n", strings.Join(names, " and "), args[0])
			return nil
		},
	}
	c.Flags().StringVar(&password, "password", "", "the password (visible in the process list; prefer --password-file or stdin)")
	c.Flags().StringVar(&passwordFile, "password-file", "", "file whose first line is the password")
	c.Flags().StringArrayVar(&mechanisms, "mechanism", nil, "SCRAM-SHA-256 or SCRAM-SHA-512 (repeatable; default both)")
	c.Flags().Int32Var(&iterations, "iterations", 8192, "PBKDF2 iterations (4096-16384)")
	return c
}

// userEntry is one user in list output; the field names are stable.
type userEntry struct {
	User       string          `json:"user" yaml:"user"`
	Mechanisms []userMechanism `json:"mechanisms" yaml:"mechanisms"`
}

type userMechanism struct {
	Mechanism  string `json:"mechanism" yaml:"mechanism"`
	Iterations int32  `json:"iterations" yaml:"iterations"`
}

func newUserListCmd(g *globals) *cobra.Command {
	var output string
	c := &cobra.Command{
		Use:     "list [USER...]",
		Aliases: []string{"ls", "describe"},
		Short:   "List SCRAM users and their mechanisms",
		Example: `  quill user list
  quill user list alice bob -o json`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			s, err := g.open(cmd, true)
			if err != nil {
				return err
			}
			defer s.close()
			res, err := s.adm.DescribeUserSCRAMs(s.ctx, args...)
			if err != nil {
				return s.explain(err)
			}
			list := []userEntry{}
			var errs []error
			for user, r := range res {
				if r.Err != nil {
					errs = append(errs, resultErr("user "+user, r.Err, r.ErrMessage))
					continue
				}
				e := userEntry{User: user}
				for _, ci := range r.CredInfos {
					e.Mechanisms = append(e.Mechanisms, userMechanism{Mechanism: ci.Mechanism.String(), Iterations: ci.Iterations})
				}
				list = append(list, e)
			}
			slices.SortFunc(list, func(a, b userEntry) int { return strings.Compare(a.User, b.User) })
			if output != outTable {
				if err := emit(cmd.OutOrStdout(), output, list); err != nil {
					return err
				}
			} else {
				t := newTable(cmd.OutOrStdout(), "USER", "MECHANISM", "ITERATIONS")
				for _, e := range list {
					for _, m := range e.Mechanisms {
						t.row(e.User, m.Mechanism, m.Iterations)
					}
				}
				if err := t.flush(); err != nil {
					return err
				}
			}
			return reportFailures(cmd.ErrOrStderr(), "users", errs, len(args))
		},
	}
	addOutputFlag(c, &output)
	return c
}

func newUserDeleteCmd(g *globals) *cobra.Command {
	var mechanisms []string
	c := &cobra.Command{
		Use:   "delete USER...",
		Short: "Delete SCRAM users (all their mechanisms unless --mechanism is given)",
		Example: `  quill user delete alice
  quill user delete bob --mechanism SCRAM-SHA-256`,
		Args: minArgs(1, "at least one USER"),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := g.open(cmd, true)
			if err != nil {
				return err
			}
			defer s.close()
			var dels []kadm.DeleteSCRAM
			if len(mechanisms) > 0 {
				mechs, err := parseMechanisms(mechanisms)
				if err != nil {
					return err
				}
				for _, u := range args {
					for _, m := range mechs {
						dels = append(dels, kadm.DeleteSCRAM{User: u, Mechanism: m})
					}
				}
			} else {
				// Delete what exists, so a user with one mechanism is not
				// an error.
				res, err := s.adm.DescribeUserSCRAMs(s.ctx, args...)
				if err != nil {
					return s.explain(err)
				}
				for _, u := range args {
					r := res[u]
					if r.Err != nil {
						if errorsIsResourceNotFound(r.Err) {
							return &cliError{code: exitError, err: fmt.Errorf("user %s does not exist; `quill user list` shows the users", u)}
						}
						return resultErr("user "+u, r.Err, r.ErrMessage)
					}
					for _, ci := range r.CredInfos {
						dels = append(dels, kadm.DeleteSCRAM{User: u, Mechanism: ci.Mechanism})
					}
				}
			}
			res, err := s.adm.AlterUserSCRAMs(s.ctx, dels, nil)
			if err != nil {
				return s.explain(err)
			}
			var errs []error
			for _, u := range args {
				if r, ok := res[u]; ok && r.Err != nil {
					errs = append(errs, resultErr("delete user "+u, r.Err, r.ErrMessage))
					continue
				}
				fmt.Fprintf(cmd.OutOrStdout(), "Deleted user %s\n", u)
			}
			return reportFailures(cmd.ErrOrStderr(), "users", errs, len(args))
		},
	}
	c.Flags().StringArrayVar(&mechanisms, "mechanism", nil, "delete only this mechanism: SCRAM-SHA-256 or SCRAM-SHA-512 (repeatable)")
	return c
}

func errorsIsResourceNotFound(err error) bool { return errors.Is(err, kerr.ResourceNotFound) }
