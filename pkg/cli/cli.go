// Package cli is the kitaru command tree. cmd/kitaru/main.go only calls Run.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"
)

// Exit codes of the kitaru command.
const (
	ExitOK    = 0
	ExitError = 1
	ExitUsage = 2
)

// Run executes kitaru with args (without the program name) and returns the
// exit code: ExitUsage for a usage error (unknown command or flag, wrong
// arguments), ExitError when the command itself fails.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	started := false
	root := newRootCommand()
	// Cobra parses flags and checks arguments before the persistent pre-run,
	// so an error from before it is a usage error.
	root.PersistentPreRun = func(*cobra.Command, []string) { started = true }
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	if err := root.ExecuteContext(ctx); err != nil {
		if errors.As(err, new(reportedError)) {
			return ExitError
		}
		fmt.Fprintf(stderr, "kitaru: %v\n", err)
		if !started {
			fmt.Fprintln(stderr, "Run 'kitaru --help' for usage.")
			return ExitUsage
		}
		return ExitError
	}
	return ExitOK
}

func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "kitaru",
		Short:         "Deploy, route and invoke durable flows",
		Long:          "kitaru deploys durable flows as immutable, numbered versions, routes tags to them and invokes them.",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newDevCommand(), newInitCommand(), newDeployCommand(), newInvokeCommand())
	root.AddCommand(newAdminCommand())
	root.AddCommand(newFlowCommand(), newExecutionsCommand())
	root.AddCommand(newMCPCommand())
	root.AddCommand(newLoginCommand(), newLogoutCommand(), newStatusCommand(), newInfoCommand(), newAuthCommand())
	return root
}
