package cli

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/kitaru/deployments/pkg/client"
	"github.com/kitaru/deployments/pkg/registry"
)

func newBuildCommand() *cobra.Command {
	var opts deployOptions
	cmd := &cobra.Command{
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
		Args: cobra.MatchAll(cobra.ExactArgs(1), func(_ *cobra.Command, args []string) error {
			if _, _, err := registry.SplitTarget(args[0]); err != nil {
				return errors.New(messageOf(err))
			}
			return nil
		}),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.warn = func(msg string) { fmt.Fprintln(cmd.ErrOrStderr(), msg) }
			d, err := runBuild(cmd.Context(), args[0], opts)
			if err != nil {
				return report(cmd.ErrOrStderr(), "build", opts.output, err)
			}
			if opts.output.json() {
				return writeJSON(cmd.OutOrStdout(), envelope{Command: "build", Item: d})
			}
			printBuild(cmd.OutOrStdout(), d)
			return nil
		},
	}
	f := cmd.Flags()
	f.Var(&opts.inputs, "input", "representative inputs: a JSON object, or @file to read one")
	f.Var(&opts.inputSchema, "input-schema", "the inputs' JSON Schema, a JSON object or @file, instead of the one read from the function's signature")
	f.StringVar(&opts.stack, "stack", "", "stack to build for (default: the server's default stack)")
	f.StringVar(&opts.description, "description", "", "what this version changes")
	f.VarP(&opts.output, "output", "o", "output format: text or json")
	return cmd
}

func runBuild(ctx context.Context, target string, opts deployOptions) (registry.Deployment, error) {
	c, _, err := serverClient()
	if err != nil {
		return registry.Deployment{}, err
	}
	d, err := c.Deployments().BuildDir(ctx, "", target, client.DeployDirOptions{
		Inputs:      opts.inputs.raw,
		InputSchema: opts.inputSchema.raw,
		Stack:       opts.stack,
		Description: opts.description,
		Warn:        opts.warn,
	})
	return d.Deployment, err
}

func printBuild(w io.Writer, d registry.Deployment) {
	fmt.Fprintf(w, "Built %s version %d (snapshot %s)\n", d.Flow, d.Version, d.Snapshot)
	fmt.Fprintf(w, "  tags:       %s\n", formatTags(d.Tags))
	fmt.Fprintf(w, "  entrypoint: %s\n", d.Entrypoint)
	if d.Source != nil {
		fmt.Fprintf(w, "  source:     %s\n", sourceLine(*d.Source))
	}
	if d.Stack != "" {
		fmt.Fprintf(w, "  stack:      %s\n", d.Stack)
	}
	fmt.Fprintf(w, "Invoke it with: kitaru invoke %s --version %d\n", d.Flow, d.Version)
	if len(d.Tags) == 0 {
		fmt.Fprintf(w, "Route a tag to it with: kitaru flow tag %s default --version %d --exclusive\n", d.Flow, d.Version)
	}
}
