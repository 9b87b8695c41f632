package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/kitaru/deployments/pkg/registry"
	"github.com/kitaru/deployments/pkg/secrets"
)

func newSecretsCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "secrets",
		Short: "Set, list and delete the project's flow secrets",
		Long: `secrets manages the project's flow secrets: values such as API keys that a
deployment declares (kitaru deploy --secret NAME) and its runs get as the
environment variable NAME, for that run only. Values are write-only: no
command or route ever shows one. Names are environment variable names
(A-Z, 0-9, _; not starting with AWS_, KITARU_, LAMBDA_, PYTHON, LD_ or DYLD_).
` + serverHelp,
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(newSecretsSetCommand(), newSecretsListCommand(), newSecretsDeleteCommand())
	return cmd
}

func newSecretsSetCommand() *cobra.Command {
	var (
		fromEnv, valueFile string
		output             outputFlag
	)
	cmd := &cobra.Command{
		Use:   "set NAME [--from-env VAR | --value-file FILE]",
		Short: "Create or replace a flow secret",
		Long: `set stores a flow secret's value. The value is never a command-line argument
(it would stay in shell history and process lists): it comes from the
environment variable --from-env names, from --value-file (- is stdin), or
else from stdin (asked for without echo on a terminal). One trailing newline
of a file or stdin is dropped.
` + serverHelp,
		Example: `  kitaru secrets set OPENAI_API_KEY --from-env OPENAI_API_KEY
  kitaru secrets set SERP_KEY --value-file ~/.config/serp.key
  printf %s "$TOKEN" | kitaru secrets set TOKEN`,
		Args: cobra.MatchAll(cobra.ExactArgs(1), secretNameArg, func(cmd *cobra.Command, _ []string) error {
			// Here, not in RunE, so that Run reports it as a usage error.
			if cmd.Flags().Changed("from-env") && cmd.Flags().Changed("value-file") {
				return errors.New("pass either --from-env or --value-file, not both")
			}
			return nil
		}),
		RunE: func(cmd *cobra.Command, args []string) error {
			value, err := secretValue(cmd, args[0], fromEnv, valueFile)
			if err != nil {
				return report(cmd.ErrOrStderr(), "secrets set", output, err)
			}
			c, _, err := serverClient()
			if err != nil {
				return report(cmd.ErrOrStderr(), "secrets set", output, err)
			}
			s, err := c.SetSecret(cmd.Context(), args[0], value)
			if err != nil {
				return report(cmd.ErrOrStderr(), "secrets set", output, err)
			}
			if output.json() {
				return writeJSON(cmd.OutOrStdout(), envelope{Command: "secrets set", Item: s})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Set secret %s (%s). Deploy with --secret %s to hand it to a flow.\n", s.Name, formatTime(s.UpdatedAt), s.Name)
			return nil
		},
	}
	cmd.Flags().StringVar(&fromEnv, "from-env", "", "read the value from this environment variable")
	cmd.Flags().StringVar(&valueFile, "value-file", "", "read the value from this file (- is stdin)")
	outputFlagOn(cmd, &output)
	return cmd
}

func newSecretsListCommand() *cobra.Command {
	var output outputFlag
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the flow secrets' names and update times (never values)",
		Long:  "list shows the project's flow secrets by name, with when each was last set.\n" + serverHelp,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, _, err := serverClient()
			if err != nil {
				return report(cmd.ErrOrStderr(), "secrets list", output, err)
			}
			items, err := c.Secrets(cmd.Context())
			if err != nil {
				return report(cmd.ErrOrStderr(), "secrets list", output, err)
			}
			if output.json() {
				return writeJSON(cmd.OutOrStdout(), newListEnvelope("secrets list", items))
			}
			if len(items) == 0 {
				fmt.Fprintln(cmd.OutOrStdout(), "No secrets. Set one with: kitaru secrets set NAME --from-env VAR")
				return nil
			}
			t := newTable(cmd.OutOrStdout(), "NAME", "UPDATED")
			for _, s := range items {
				t.row(s.Name, formatTime(s.UpdatedAt))
			}
			return t.flush()
		},
	}
	outputFlagOn(cmd, &output)
	return cmd
}

func newSecretsDeleteCommand() *cobra.Command {
	var output outputFlag
	cmd := &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete a flow secret",
		Long: `delete removes a flow secret. Versions that declare it stay, but invoking
them fails naming the missing secret until it is set again.
` + serverHelp,
		Args: cobra.MatchAll(cobra.ExactArgs(1), secretNameArg),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, _, err := serverClient()
			if err != nil {
				return report(cmd.ErrOrStderr(), "secrets delete", output, err)
			}
			if err := c.DeleteSecret(cmd.Context(), args[0]); err != nil {
				return report(cmd.ErrOrStderr(), "secrets delete", output, err)
			}
			if output.json() {
				return writeJSON(cmd.OutOrStdout(), envelope{Command: "secrets delete", Item: map[string]string{"name": args[0]}})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Deleted secret %s.\n", args[0])
			return nil
		},
	}
	outputFlagOn(cmd, &output)
	return cmd
}

// secretNameArg checks NAME before any request.
func secretNameArg(_ *cobra.Command, args []string) error {
	if err := registry.ValidateSecretName(args[0]); err != nil {
		return errors.New(messageOf(err))
	}
	return nil
}

// secretValue reads the value set stores, from where the flags say. Its
// errors never hold the value.
func secretValue(cmd *cobra.Command, name, fromEnv, valueFile string) (string, error) {
	if fromEnv != "" {
		v, ok := os.LookupEnv(fromEnv)
		if !ok {
			return "", registry.Errorf(registry.CodeInvalidArgument, "environment variable %s (--from-env) is not set; export it first", fromEnv)
		}
		return v, nil
	}
	in := cmd.InOrStdin()
	switch {
	case valueFile != "" && valueFile != "-":
		f, err := os.Open(valueFile)
		if err != nil {
			return "", registry.Errorf(registry.CodeInvalidArgument, "read --value-file: %v", err)
		}
		defer f.Close()
		in = f
	case valueFile == "":
		if f, ok := in.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			fmt.Fprintf(cmd.ErrOrStderr(), "Value of %s (not shown): ", name)
			b, err := term.ReadPassword(int(f.Fd()))
			fmt.Fprintln(cmd.ErrOrStderr())
			if err != nil {
				return "", fmt.Errorf("read the value: %w", err)
			}
			return string(b), nil
		}
	}
	// The limit, one trailing line end, and one byte to tell a value over it.
	b, err := io.ReadAll(io.LimitReader(in, secrets.MaxValueBytes+3))
	if err != nil {
		return "", fmt.Errorf("read the value: %w", err)
	}
	if len(b) > secrets.MaxValueBytes+2 {
		return "", registry.Errorf(registry.CodePayloadTooLarge, "the value of %s is more than 32 KiB, the most a secret holds; store a smaller value (e.g. a key or token, not a whole file of them)", name).
			WithDetails("limit_bytes", secrets.MaxValueBytes)
	}
	v := string(b)
	if trimmed, ok := strings.CutSuffix(v, "\n"); ok {
		v = strings.TrimSuffix(trimmed, "\r")
	}
	if v == "" {
		return "", registry.Errorf(registry.CodeInvalidArgument, "the value of %s is empty: pass --from-env VAR or --value-file FILE, or pipe it on stdin", name)
	}
	return v, nil
}

// secretsHint is the next step after an invoke refused for missing
// secrets: the command that sets each.
func secretsHint(missing []string) string {
	if len(missing) == 0 {
		return "; set each with kitaru secrets set NAME --from-env VAR"
	}
	cmds := make([]string, len(missing))
	for i, name := range missing {
		cmds[i] = "kitaru secrets set " + name + " --from-env " + name
	}
	return "; set them with " + strings.Join(cmds, " and ")
}
