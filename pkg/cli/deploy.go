package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/kitaru/deployments/pkg/bundle"
	"github.com/kitaru/deployments/pkg/client"
	"github.com/kitaru/deployments/pkg/registry"
)

// deployOptions are the flags of deploy and build; build has no routing
// tag (tag, exclusive). Both take secrets: a built version promoted later
// with flow tag runs with the secrets it was saved with.
type deployOptions struct {
	tag         string
	exclusive   bool
	inputs      inputsFlag
	inputSchema schemaFlag
	stack       string
	description string
	secrets     []string
	output      outputFlag
}

// dirOptions is what the SDK's DeployDir and BuildDir take, warnings going
// to warn.
func (o deployOptions) dirOptions(warn func(string)) client.DeployDirOptions {
	return client.DeployDirOptions{
		Inputs:      o.inputs.raw,
		InputSchema: o.inputSchema.raw,
		Tag:         o.tag,
		Exclusive:   o.exclusive,
		Stack:       o.stack,
		Description: o.description,
		Secrets:     o.secrets,
		Warn:        warn,
	}
}

// saveDir saves a flow's next version from source: DeployDir or BuildDir.
type saveDir func(d *client.Deployments, ctx context.Context, dir, target string, opts client.DeployDirOptions) (client.Deployment, error)

// saveCommand is what deploy and build share, so that the two stay one
// command apart only where they differ (build routes no tag): the target
// check, the flags of what a version records, the call, its report and the
// printed version. cmd brings the name and help; routes adds --tag and
// --exclusive; stackHelp completes "stack to …".
func saveCommand(cmd *cobra.Command, routes bool, stackHelp string, save saveDir) *cobra.Command {
	var opts deployOptions
	command := cmd.Name()
	cmd.Args = cobra.MatchAll(cobra.ExactArgs(1), func(_ *cobra.Command, args []string) error {
		if _, _, err := registry.SplitTarget(args[0]); err != nil {
			return errors.New(messageOf(err))
		}
		return nil
	})
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		warn := func(msg string) { fmt.Fprintln(cmd.ErrOrStderr(), msg) }
		d, err := runSave(cmd.Context(), save, args[0], opts.dirOptions(warn))
		if err != nil {
			return report(cmd.ErrOrStderr(), command, opts.output, err)
		}
		if opts.output.json() {
			return writeJSON(cmd.OutOrStdout(), envelope{Command: command, Item: d})
		}
		printSaved(cmd.OutOrStdout(), d, routes)
		return nil
	}
	f := cmd.Flags()
	if routes {
		f.StringVar(&opts.tag, "tag", "", "routing tag to attach: moved here with --exclusive, else added as a shared label (default: default, which moves to the new version)")
		f.BoolVar(&opts.exclusive, "exclusive", false, "make the tag exclusive: move it here from any other version")
	}
	f.Var(&opts.inputs, "input", "representative inputs: a JSON object, or @file to read one")
	f.Var(&opts.inputSchema, "input-schema", "the inputs' JSON Schema, a JSON object or @file, instead of the one read from the function's signature")
	f.StringVar(&opts.stack, "stack", "", "stack to "+stackHelp+" (default: the server's default stack)")
	f.StringVar(&opts.description, "description", "", "what this version changes")
	f.StringArrayVar(&opts.secrets, "secret", nil, "a flow secret (kitaru secrets set NAME) the version's runs get as the environment variable NAME; repeat for more")
	f.VarP(&opts.output, "output", "o", "output format: text or json")
	return cmd
}

func newDeployCommand() *cobra.Command {
	return saveCommand(&cobra.Command{
		Use:   "deploy path/to/file.py:flow_name",
		Short: "Deploy a flow as its next version",
		Long: `deploy saves a new, immutable version of a flow: it bundles the project root
(the nearest directory above the file that holds .kitaru/, made by kitaru init),
uploads it, and records the entrypoint, the representative --input values, the
input schema read from the function's signature and one routing tag: --tag T
(with --exclusive moved here from the version that held it, else added as a
shared label), or without --tag the tag default, which a plain deploy moves to
the new version. A flow's first version gets default too.

The flow's public name is the function name after the colon. Bundles skip
.git/, __pycache__/, *.pyc, .venv/, venv/, node_modules/ and .kitaru/cache/.
` + serverHelp,
		Example: `  kitaru deploy flows/research.py:research_agent --input '{"topic": "durable agents"}'
  kitaru deploy flows/research.py:research_agent --tag canary --exclusive --input @inputs.json`,
	}, true, "deploy to", (*client.Deployments).DeployDir)
}

// runSave saves target from source on the active connection; a relative
// target is relative to the working directory.
func runSave(ctx context.Context, save saveDir, target string, opts client.DeployDirOptions) (registry.Deployment, error) {
	c, _, err := serverClient()
	if err != nil {
		return registry.Deployment{}, err
	}
	d, err := save(c.Deployments(), ctx, "", target, opts)
	return d.Deployment, err
}

// schemaFlag is --input-schema: a JSON Schema object, inline or @file,
// checked as the server checks it.
type schemaFlag struct{ raw json.RawMessage }

func (f *schemaFlag) String() string { return string(f.raw) }

func (f *schemaFlag) Set(s string) error {
	data, err := jsonArgument(s, "input schema")
	if err != nil {
		return err
	}
	if _, err := registry.CompileInputSchema(data); err != nil {
		return errors.New(messageOf(err))
	}
	f.raw = json.RawMessage(bytes.TrimSpace(data))
	return nil
}

func (f *schemaFlag) Type() string { return "JSON|@file" }

// printSaved shows a saved version: deployed when routed, else built,
// with how to invoke it and, when it holds no tag, how to route one.
func printSaved(w io.Writer, d registry.Deployment, routed bool) {
	done := "Built"
	if routed {
		done = "Deployed"
	}
	fmt.Fprintf(w, "%s %s version %d (snapshot %s)\n", done, d.Flow, d.Version, d.Snapshot)
	fmt.Fprintf(w, "  tags:       %s\n", formatTags(d.Tags))
	fmt.Fprintf(w, "  entrypoint: %s\n", d.Entrypoint)
	if d.Source != nil {
		fmt.Fprintf(w, "  source:     %s\n", sourceLine(*d.Source))
	}
	if d.Stack != "" {
		fmt.Fprintf(w, "  stack:      %s\n", d.Stack)
	}
	if len(d.Secrets) > 0 {
		fmt.Fprintf(w, "  secrets:    %s\n", strings.Join(d.Secrets, ", "))
	}
	fmt.Fprintf(w, "Invoke it with: kitaru invoke %s --version %d\n", d.Flow, d.Version)
	if len(d.Tags) == 0 {
		fmt.Fprintf(w, "Route a tag to it with: kitaru flow tag %s default --version %d --exclusive\n", d.Flow, d.Version)
	}
}

// sourceLine describes a saved bundle: its digest, size and git commit.
func sourceLine(s registry.Source) string {
	line := s.Digest
	if s.Size > 0 {
		line += " (" + bundle.FormatSize(s.Size) + ")"
	}
	if s.Commit != "" {
		line += ", commit " + shortCommit(s.Commit)
		if s.Dirty {
			line += " with uncommitted changes"
		}
	}
	return line
}

func shortCommit(c string) string {
	if len(c) > 12 {
		return c[:12]
	}
	return c
}
