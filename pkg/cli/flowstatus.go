package cli

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/kitaru/deployments/pkg/client"
	"github.com/kitaru/deployments/pkg/registry"
)

// newFlowStatusCommand is kitaru flow status: how each version on the
// route is doing.
func newFlowStatusCommand() *cobra.Command {
	var (
		output  outputFlag
		tag     string
		version int
		since   string
	)
	cmd := &cobra.Command{
		Use:   "status FLOW [--tag T] [--version N] [--since 24h]",
		Short: "Show how each version on a flow's route is doing: outcomes, durations, last failure",
		Long: `status shows, for each version a tag routes to, the executions started in the
window (--since, default 24h, at most 30d) and how they ended: completed, failed,
cancelled or still running, the median (P50) and 95th percentile (P95) duration
of those that ended, and the type and time of the last failure. Versions that
ran in the window but are off the route now (such as the one a tag moved away
from) follow, with TAGS "-".

--tag counts only the executions invoked through that tag, on the versions it
routes to; --version shows one version.

The server reads the newest 10,000 executions of the window at most; when it
stops there the output says so and from when its counts are.
` + serverHelp,
		Example: `  kitaru flow status research_agent
  kitaru flow status research_agent --tag stable --since 1h
  kitaru flow status research_agent --version 3 --since 7d -o json`,
		Args: cobra.MatchAll(cobra.ExactArgs(1), func(cmd *cobra.Command, _ []string) error {
			if cmd.Flags().Changed("version") && version < 1 {
				return fmt.Errorf("--version %d is invalid: versions start at 1", version)
			}
			if tag != "" {
				if err := registry.ValidateTagName(tag); err != nil {
					return fmt.Errorf("--tag: %v", err)
				}
			}
			_, _, err := parseSinceFlag(since)
			return err
		}),
		ValidArgsFunction: completeFlowArgs(false),
		RunE: func(cmd *cobra.Command, args []string) error {
			const command = "flow status"
			at, ago, _ := parseSinceFlag(since) // checked in Args
			opts := client.FlowStatsOptions{Tag: tag, Version: version, Since: at, SinceAgo: ago}
			return showItem(cmd, command, output, func(ctx context.Context, c *client.Client) (client.FlowStats, error) {
				return c.FlowStats(ctx, args[0], opts)
			}, printFlowStats)
		},
	}
	cmd.Flags().StringVar(&tag, "tag", "", "count only the executions invoked through this tag, on the versions it routes to")
	versionFlag(cmd, &version, "show only this version")
	cmd.Flags().StringVar(&since, "since", "", "the window: executions started within this long (15m, 1h, 7d; default 24h, at most 30d) or since this RFC 3339 time")
	outputFlagOn(cmd, &output)
	return cmd
}

// printFlowStats prints flow status's table and says what it covers.
func printFlowStats(w io.Writer, st client.FlowStats) error {
	what := "Executions of " + st.Flow
	if st.Tag != "" {
		what += " invoked through " + st.Tag
	}
	fmt.Fprintf(w, "%s started %s to %s\n", what, formatTime(st.Since), formatTime(st.Until))
	t := newTable(w, "VERSION", "TAGS", "STARTED", "COMPLETED", "FAILED", "CANCELLED", "RUNNING", "P50", "P95", "LAST FAILURE")
	for _, v := range st.Versions {
		failure := "-"
		if f := v.LastFailure; f != nil {
			failure = orDash(f.Type) + " at " + formatTime(f.At) + " (" + f.ExecID + ")"
		}
		t.row(strconv.Itoa(v.Version), orDash(strings.Join(v.Tags, ", ")), strconv.Itoa(v.Started), strconv.Itoa(v.Completed),
			strconv.Itoa(v.Failed), strconv.Itoa(v.Cancelled), strconv.Itoa(v.Running),
			formatSeconds(v.P50Seconds), formatSeconds(v.P95Seconds), failure)
	}
	if err := t.flush(); err != nil {
		return err
	}
	if st.Sampled && st.OldestSeen != nil {
		fmt.Fprintf(w, "Sampled: the server stopped after the newest %d executions; counts cover those started from %s. Pass a shorter --since for complete counts.\n",
			st.Read, formatTime(*st.OldestSeen))
	}
	return nil
}

// formatSeconds is a duration in seconds, "-" when absent.
func formatSeconds(s *float64) string {
	if s == nil {
		return "-"
	}
	return time.Duration(*s * float64(time.Second)).Round(time.Millisecond).String()
}
