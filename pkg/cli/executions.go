package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/kitaru/deployments/pkg/client"
	"github.com/kitaru/deployments/pkg/registry"
)

func newExecutionsCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "executions",
		Aliases: []string{"execution"},
		Short:   "Follow, wait for, cancel and list executions",
		Long: `executions shows the runs that kitaru invoke starts: one by its id (get), its
result once it ends (wait), stopping it (cancel), or a flow's runs (list).
` + serverHelp,
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(newExecutionsGetCommand(), newExecutionsWaitCommand(), newExecutionsCancelCommand(), newExecutionsListCommand())
	cmd.AddCommand(newExecutionsLogsCommand()) // see logs.go
	return cmd
}

func newExecutionsGetCommand() *cobra.Command {
	var output outputFlag
	cmd := &cobra.Command{
		Use:   "get EXEC_ID",
		Short: "Show an execution",
		Long: `get shows an execution: its flow and version, status, inputs, and its result
or error once it has ended.
` + serverHelp,
		Example:           "  kitaru executions get 01JD8Z4W5V7Q2S3T4U5V6W7X8Y",
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: cobra.NoFileCompletions,
		RunE: func(cmd *cobra.Command, args []string) error {
			const command = "executions get"
			return showItem(cmd, command, output, func(ctx context.Context, c *client.Client) (registry.Execution, error) {
				return c.Executions().Get(ctx, args[0])
			}, func(w io.Writer, e registry.Execution) error {
				printExecution(w, e)
				return nil
			})
		},
	}
	outputFlagOn(cmd, &output)
	return cmd
}

func printExecution(w io.Writer, e registry.Execution) {
	fmt.Fprintf(w, "Execution:   %s\n", e.ExecID)
	flow := fmt.Sprintf("%s version %d", e.Flow, e.Version)
	if sel := e.Selector; sel.Tag != "" || sel.Version != 0 {
		flow += " (" + sel.String() + ")"
	}
	fmt.Fprintf(w, "Flow:        %s\n", flow)
	fmt.Fprintf(w, "Status:      %s\n", e.Status)
	fmt.Fprintf(w, "Started:     %s by %s\n", formatTime(e.StartedAt), orDash(e.InvokedBy))
	if e.EndedAt != nil {
		fmt.Fprintf(w, "Ended:       %s (after %s)\n", formatTime(*e.EndedAt), formatDuration(e, time.Now()))
	}
	fmt.Fprintf(w, "Inputs:      %s\n", orDash(string(e.Inputs)))
	switch {
	case e.ResultRef != "" && len(e.Result) == 0:
		fmt.Fprintf(w, "Result:      over %d KiB, stored as %s\n", registry.MaxInlineResultBytes>>10, e.ResultRef)
	case len(e.Result) > 0:
		fmt.Fprintf(w, "Result:      %s\n", e.Result)
	}
	if e.Error != nil {
		fmt.Fprintf(w, "Error:       %s: %s\n", e.Error.Type, e.Error.Message)
		printTraceback(w, e.ExecID, e.Error)
	}
}

// printTraceback shows a failure's traceback indented below its error line:
// the one that starts at the user's code, or the runner's full one when
// there is no other (a failure before the flow ran). When the full one has
// more to say it names where to read it rather than print the runner's
// frames, which are rarely the user's concern.
func printTraceback(w io.Writer, execID string, e *registry.ExecError) {
	full, _ := e.Details[registry.DetailRunnerTraceback].(string)
	shown := e.Traceback
	if shown == "" {
		shown = full
	}
	shown = strings.TrimRight(shown, "\n")
	if shown == "" {
		return
	}
	for _, line := range strings.Split(shown, "\n") {
		fmt.Fprintln(w, "  "+line)
	}
	if full != "" && strings.TrimRight(full, "\n") != shown {
		fmt.Fprintf(w, "  (the runner's full traceback: kitaru executions get %s -o json, at error.details.%s)\n", execID, registry.DetailRunnerTraceback)
	}
}

func newExecutionsWaitCommand() *cobra.Command {
	var (
		output  outputFlag
		timeout time.Duration
	)
	cmd := &cobra.Command{
		Use:   "wait EXEC_ID",
		Short: "Wait for an execution to end and print its result",
		Long: `wait waits for an execution to end (the server holds each read until it
does) and prints its result as JSON, exactly as kitaru invoke --wait does: a
failed execution prints its error and traceback
on stderr and exits 1, and so do a cancelled one and one still running after
--timeout (with -o json its error code is "` + string(codeStillRunning) + `"). On a terminal
it shows how long it has waited.
` + serverHelp,
		Example: "  kitaru executions wait 01JD8Z4W5V7Q2S3T4U5V6W7X8Y --timeout 5m",
		Args: cobra.MatchAll(cobra.ExactArgs(1), func(*cobra.Command, []string) error {
			if timeout <= 0 {
				return errors.New("--timeout must be positive")
			}
			return nil
		}),
		ValidArgsFunction: cobra.NoFileCompletions,
		RunE: func(cmd *cobra.Command, args []string) error {
			const command = "executions wait"
			stdout, stderr := cmd.OutOrStdout(), cmd.ErrOrStderr()
			outage := newServerOutage()
			c, conn, err := serverClient(outage.clientOption())
			if err != nil {
				return report(stderr, command, output, err)
			}
			e, err := c.Executions().Get(cmd.Context(), args[0])
			if err != nil {
				return report(stderr, command, output, err)
			}
			return awaitOutcome(cmd.Context(), stdout, stderr, command, output, timeout, c, conn, outage, e)
		},
	}
	cmd.Flags().DurationVar(&timeout, "timeout", 10*time.Minute, "how long to wait")
	outputFlagOn(cmd, &output)
	return cmd
}

func newExecutionsCancelCommand() *cobra.Command {
	var output outputFlag
	cmd := &cobra.Command{
		Use:   "cancel EXEC_ID",
		Short: "Cancel a running execution",
		Long: `cancel records a running execution as cancelled and stops its run. An
execution that already ended is refused; cancelling a cancelled one again
only retries the stop.
` + serverHelp,
		Example:           "  kitaru executions cancel 01JD8Z4W5V7Q2S3T4U5V6W7X8Y",
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: cobra.NoFileCompletions,
		RunE: func(cmd *cobra.Command, args []string) error {
			const command = "executions cancel"
			return showItem(cmd, command, output, func(ctx context.Context, c *client.Client) (registry.Execution, error) {
				return c.Executions().Cancel(ctx, args[0])
			}, func(w io.Writer, e registry.Execution) error {
				fmt.Fprintf(w, "Cancelled execution %s of %s version %d: %s\n", e.ExecID, e.Flow, e.Version, e.Status)
				return nil
			})
		},
	}
	outputFlagOn(cmd, &output)
	return cmd
}

func newExecutionsListCommand() *cobra.Command {
	var (
		output outputFlag
		limit  int
		filter executionFilterFlags
	)
	cmd := &cobra.Command{
		Use:   "list FLOW [--version N | --tag T] [--status S] [--since 1h]",
		Short: "List a flow's executions, newest first",
		Long: `list shows a flow's executions, newest first: id, version and the selector
it was invoked with, status, start and duration, and who invoked it.
--version N keeps the executions that ran version N however they were invoked;
--tag T those invoked through tag T; --status and --since narrow further.
A deleted flow's executions are still listed.
` + serverHelp,
		Example: `  kitaru executions list research_agent --limit 20
  kitaru executions list research_agent --tag stable --status failed --since 1h`,
		Args: cobra.MatchAll(cobra.ExactArgs(1), func(cmd *cobra.Command, _ []string) error {
			if err := checkLimit(limit); err != nil {
				return err
			}
			return filter.check(cmd)
		}),
		ValidArgsFunction: completeFlowArgs(false),
		RunE: func(cmd *cobra.Command, args []string) error {
			const command = "executions list"
			return showList(cmd, command, output, func(ctx context.Context, c *client.Client) ([]registry.Execution, error) {
				return listAll(ctx, limit, func(ctx context.Context, opts client.ListOptions) (client.Page[registry.Execution], error) {
					return c.Executions().ListBy(ctx, args[0], filter.options(opts))
				})
			}, func(w io.Writer, execs []registry.Execution) error {
				return printExecutions(w, args[0], filter.flags(), execs)
			})
		},
	}
	limitFlag(cmd, &limit)
	filter.add(cmd)
	outputFlagOn(cmd, &output)
	return cmd
}

// printExecutions prints a flow's executions as a table; filters are the
// filter flags given, for the line that says why none is listed.
func printExecutions(w io.Writer, flow, filters string, execs []registry.Execution) error {
	switch {
	case len(execs) == 0 && filters != "":
		fmt.Fprintf(w, "No execution of flow %s matches %s. Without them: kitaru executions list %s\n", flow, filters, flow)
		return nil
	case len(execs) == 0:
		fmt.Fprintf(w, "Flow %s has no executions (nor has a flow never deployed: kitaru flow list shows the deployed ones). Start one with: kitaru invoke %s\n", flow, flow)
		return nil
	}
	now := time.Now()
	t := newTable(w, "EXECUTION", "VERSION", "SELECTOR", "STATUS", "STARTED", "DURATION", "INVOKED BY")
	for _, e := range execs {
		sel := "-"
		if e.Selector.Tag != "" || e.Selector.Version != 0 {
			sel = e.Selector.String()
		}
		t.row(e.ExecID, strconv.Itoa(e.Version), sel, string(e.Status), formatTime(e.StartedAt), formatDuration(e, now), orDash(e.InvokedBy))
	}
	return t.flush()
}
