package cli

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/kitaru/deployments/pkg/client"
)

// logsOptions are the flags both logs commands share.
type logsOptions struct {
	output outputFlag
	follow bool
}

func (o *logsOptions) on(cmd *cobra.Command) {
	cmd.Flags().BoolVarP(&o.follow, "follow", "f", false, "keep printing the log as it grows, until the execution ends")
	outputFlagOn(cmd, &o.output)
}

func newExecutionsLogsCommand() *cobra.Command {
	var opts logsOptions
	cmd := &cobra.Command{
		Use:   "logs EXEC_ID",
		Short: "Print an execution's log",
		Long: `logs prints what an execution's flow printed (stdout and stderr, as written)
and the runner's own [kitaru] lines: the log so far, or with --follow all of it
as it arrives, until the execution ends. A log keeps 10 MiB; output past that is
dropped and the log says so where it was cut. With -o json the log read is one
JSON object (data, next_cursor, status, ended).
` + serverHelp,
		Example:           "  kitaru executions logs ex_01jd8z4w5v7q2s3t4u5v6w7x8y --follow",
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: cobra.NoFileCompletions,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runLogs(cmd, "executions logs", opts, func(context.Context, *client.Client) (string, error) { return args[0], nil })
		},
	}
	opts.on(cmd)
	return cmd
}

func newDeploymentsLogsCommand() *cobra.Command {
	var (
		opts    logsOptions
		tag     string
		version int
	)
	cmd := &cobra.Command{
		Use:   "logs FLOW",
		Short: "Print the log of a flow's latest execution through a route",
		Long: `logs prints the log of the flow's newest execution: the newest invoked through
--tag, or the newest of --version, or with neither the newest of all, as
kitaru executions logs does for that execution (--follow to keep printing until
it ends).
` + serverHelp,
		Example: "  kitaru flow deployments logs research_agent --tag stable --follow",
		// Checked in Args rather than with MarkFlagsMutuallyExclusive, which
		// cobra runs after the point where Run stops calling errors usage errors.
		Args: cobra.MatchAll(cobra.ExactArgs(1), func(cmd *cobra.Command, _ []string) error {
			return checkSelectorFlags(cmd, version)
		}),
		ValidArgsFunction: cobra.NoFileCompletions,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runLogs(cmd, "flow deployments logs", opts, func(ctx context.Context, c *client.Client) (string, error) {
				e, err := c.Executions().Latest(ctx, args[0], client.Selector{Tag: tag, Version: version})
				return e.ExecID, err
			})
		},
	}
	cmd.Flags().StringVar(&tag, "tag", "", "the route's tag: the newest execution invoked through it")
	cmd.Flags().IntVar(&version, "version", 0, "the version: its newest execution")
	opts.on(cmd)
	return cmd
}

// runLogs prints the log of the execution find names.
func runLogs(cmd *cobra.Command, command string, opts logsOptions, find func(context.Context, *client.Client) (string, error)) error {
	ctx, stdout, stderr := cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr()
	c, _, err := serverClient()
	if err != nil {
		return report(stderr, command, opts.output, err)
	}
	id, err := find(ctx, c)
	if err != nil {
		return report(stderr, command, opts.output, err)
	}
	w := stdout
	var whole client.ExecutionLog
	if opts.output.json() {
		w = io.Discard
	}
	var collected []byte
	collect := writerFunc(func(p []byte) (int, error) {
		if opts.output.json() {
			collected = append(collected, p...)
		}
		return w.Write(p)
	})
	if opts.follow {
		whole, err = c.Executions().FollowLogs(ctx, id, "", collect)
	} else {
		whole, err = readLogSoFar(ctx, c, id, collect)
	}
	if err != nil {
		return report(stderr, command, opts.output, err)
	}
	if opts.output.json() {
		whole.Cursor, whole.Data = "", string(collected)
		return writeJSON(stdout, envelope{Command: command, Item: whole})
	}
	if opts.follow {
		fmt.Fprintf(stderr, "Execution %s %s.\n", id, whole.Status)
	}
	return nil
}

// readLogSoFar writes the log as far as it is stored now and returns the
// last page read.
func readLogSoFar(ctx context.Context, c *client.Client, id string, w io.Writer) (client.ExecutionLog, error) {
	cursor := ""
	for {
		page, err := c.Executions().Logs(ctx, id, cursor)
		if err != nil {
			return page, err
		}
		if _, err := io.WriteString(w, page.Data); err != nil {
			return page, err
		}
		if page.Ended || page.Data == "" {
			return page, nil
		}
		cursor = page.NextCursor
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
