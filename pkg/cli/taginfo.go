package cli

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/kitaru/deployments/pkg/client"
	"github.com/kitaru/deployments/pkg/registry"
)

// newFlowTagGetCommand is kitaru flow tag get: a tag and its revision.
func newFlowTagGetCommand() *cobra.Command {
	var output outputFlag
	cmd := &cobra.Command{
		Use:   "get FLOW TAG",
		Short: "Show a tag: exclusive or shared, its versions and its revision",
		Long: `get shows where a tag points now: whether it is exclusive or shared, the
version(s) it routes to, and its revision. Pass the revision to
kitaru flow tag --if-revision (over HTTP: If-Match) to change the tag only if
nobody changed it since. A tag that does not exist is an error.
` + serverHelp,
		Example: `  kitaru flow tag get research_agent stable
  kitaru flow tag research_agent stable --version 3 --exclusive \
    --if-revision "$(kitaru flow tag get research_agent stable -o json | jq .item.revision)"`,
		Args:              cobra.ExactArgs(2),
		ValidArgsFunction: completeFlowArgs(true),
		RunE: func(cmd *cobra.Command, args []string) error {
			const command = "flow tag get"
			return showItem(cmd, command, output, func(ctx context.Context, c *client.Client) (registry.Tag, error) {
				return c.Deployments().GetTag(ctx, args[0], args[1])
			}, printTagInfo)
		},
	}
	outputFlagOn(cmd, &output)
	return cmd
}

// printTagInfo shows a tag as kitaru flow tag get prints it.
func printTagInfo(w io.Writer, t registry.Tag) error {
	mode := "shared"
	if t.Exclusive {
		mode = "exclusive"
	}
	fmt.Fprintf(w, "Flow:      %s\n", t.Flow)
	fmt.Fprintf(w, "Tag:       %s (%s)\n", t.Name, mode)
	fmt.Fprintf(w, "Routes to: %s\n", routePhrase(t))
	_, err := fmt.Fprintf(w, "Revision:  %d (change it only if unchanged: kitaru flow tag %s %s --version N --if-revision %d)\n",
		t.Revision, t.Flow, t.Name, t.Revision)
	return err
}
