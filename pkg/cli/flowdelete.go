package cli

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/kitaru/deployments/pkg/client"
	"github.com/kitaru/deployments/pkg/registry"
)

func newFlowDeleteCommand() *cobra.Command {
	var (
		output outputFlag
		force  bool
	)
	cmd := &cobra.Command{
		Use:   "delete FLOW [--force]",
		Short: "Delete a flow: its versions, routes and history",
		Long: `delete removes every version of a flow, its tags and their history. The flow's
executions stay readable (kitaru executions get / list). While an exclusive tag
other than default routes to one of its versions the delete is refused, naming
the tags; --force removes them too and says so. Version numbers are never
reused: a flow deployed again under the same name continues after the old ones.
` + serverHelp,
		Example: `  kitaru flow delete research_agent
  kitaru flow delete research_agent --force -o json`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeFlowArgs(false),
		RunE: func(cmd *cobra.Command, args []string) error {
			const command = "flow delete"
			return showItem(cmd, command, output, func(ctx context.Context, c *client.Client) (client.FlowDeletion, error) {
				return c.DeleteFlow(ctx, args[0], client.DeleteFlowOptions{Force: force})
			}, printFlowDeletion)
		},
	}
	cmd.Flags().BoolVar(&force, "force", false, "also remove exclusive tags other than default that route to the flow's versions")
	outputFlagOn(cmd, &output)
	return cmd
}

func printFlowDeletion(w io.Writer, d client.FlowDeletion) error {
	fmt.Fprintf(w, "Deleted flow %s: versions %s\n", d.Flow, formatVersions(d.Versions))
	var routes []string
	for _, name := range slices.Sorted(maps.Keys(d.Tags)) {
		routes = append(routes, fmt.Sprintf("%s -> %s", name, formatVersions(d.Tags[name])))
	}
	if len(routes) > 0 {
		verb := "Removed tags"
		if d.Forced {
			verb = "Removed tags (--force)"
		}
		fmt.Fprintf(w, "%s: %s\n", verb, strings.Join(routes, ", "))
	}
	fmt.Fprintln(w, "Executions stay readable: kitaru executions list "+d.Flow)
	fmt.Fprintf(w, "Deploying %s again starts at version %d.\n", d.Flow, d.NextVersion)
	return nil
}

// flowDeleteHint is the CLI's next step for the refusals of a flow delete.
func flowDeleteHint(reason, flow string, held []string) string {
	if reason == registry.ReasonFlowBeingDeleted {
		return "; to finish an interrupted delete, run kitaru flow delete " + flow
	}
	tags := "them"
	if len(held) > 0 {
		tags = strings.Join(held, ", ")
	}
	return fmt.Sprintf("; move or remove %s with kitaru flow tag / untag, or delete anyway with kitaru flow delete %s --force", tags, flow)
}
