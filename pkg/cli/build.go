package cli

import (
	"github.com/spf13/cobra"

	"github.com/kitaru/deployments/pkg/client"
)

// newBuildCommand is deploy without a routing tag (saveCommand).
func newBuildCommand() *cobra.Command {
	return saveCommand(&cobra.Command{
		Use:   "build path/to/file.py:flow_name",
		Short: "Save a flow's next version without routing a tag to it",
		Long: `build saves a new, immutable version of a flow exactly as deploy does (the
project bundle, the representative --input values, the input schema read from
the function's signature, the git commit) but attaches no routing tag: no tag
moves, so nothing invoked by tag runs it yet. Run it pinned with
kitaru invoke FLOW --version N, and promote it later with
kitaru flow tag FLOW TAG --version N --exclusive.

A flow's first version still gets default, which exists once any version does.
` + serverHelp,
		Example: `  kitaru build flows/research.py:research_agent --input '{"topic": "durable agents"}'
  kitaru flow tag research_agent default --version 3 --exclusive`,
	}, false, "build for", (*client.Deployments).BuildDir)
}
