// Package cli is the kitaru command tree. cmd/kitaru/main.go only calls Run.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/kitaru/deployments/pkg/api"
	"github.com/kitaru/deployments/pkg/registry"
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
		if !started {
			reportUsageError(root, args, stderr, err)
			return ExitUsage
		}
		fmt.Fprintf(stderr, "kitaru: %v\n", err)
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
	root.AddCommand(newBuildCommand())
	root.AddCommand(newAdminCommand())
	root.AddCommand(newFlowCommand(), newExecutionsCommand())
	root.AddCommand(newMCPCommand())
	root.AddCommand(newSecretsCommand())
	root.AddCommand(newLoginCommand(), newLogoutCommand(), newStatusCommand(), newInfoCommand(), newAuthCommand())
	for _, group := range root.Commands() {
		refuseUnknownSubcommands(group)
	}
	return root
}

// refuseUnknownSubcommands makes cmd and every command group under it
// refuse arguments that name no subcommand. Cobra prints help and succeeds
// for a group that cannot run, so each group runs: with no argument it
// prints its help, with one it fails with "unknown command". A hidden -o
// lets "group nosuch -o json" fail on the subcommand, not on the flag.
func refuseUnknownSubcommands(cmd *cobra.Command) {
	if !cmd.HasSubCommands() {
		return
	}
	if cmd.Run == nil && cmd.RunE == nil {
		cmd.Args = cobra.NoArgs
		cmd.RunE = func(cmd *cobra.Command, _ []string) error { return cmd.Help() }
		if cmd.Flags().Lookup("output") == nil {
			var output outputFlag
			outputFlagOn(cmd, &output)
			_ = cmd.Flags().MarkHidden("output")
		}
	}
	for _, sub := range cmd.Commands() {
		refuseUnknownSubcommands(sub)
	}
}

// reportUsageError shows a usage error: "kitaru: <error>" and where to read
// the usage, or with -o json the {"command", "error"} envelope.
func reportUsageError(root *cobra.Command, args []string, stderr io.Writer, err error) {
	cmd, _, findErr := root.Find(args)
	if findErr != nil || cmd == nil {
		cmd = root
	}
	if wantsJSON(args) {
		command := strings.TrimPrefix(cmd.CommandPath(), root.Name()+" ")
		writeJSON(stderr, envelope{Command: command, Error: &api.ErrorDetail{Code: registry.CodeInvalidArgument, Message: err.Error()}})
		return
	}
	fmt.Fprintf(stderr, "kitaru: %v\nRun '%s --help' for usage.\n", err, cmd.CommandPath())
}

// wantsJSON reports whether args ask for -o json. It reads the arguments
// themselves, since a usage error may stop flag parsing before -o.
func wantsJSON(args []string) bool {
	for i, arg := range args {
		switch arg {
		case "--":
			return false
		case "-o", "--output":
			if i+1 < len(args) && args[i+1] == "json" {
				return true
			}
		case "-ojson", "-o=json", "--output=json":
			return true
		}
	}
	return false
}
