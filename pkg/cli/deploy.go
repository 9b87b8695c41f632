package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/kitaru/deployments/pkg/bundle"
	"github.com/kitaru/deployments/pkg/client"
	"github.com/kitaru/deployments/pkg/registry"
)

type deployOptions struct {
	tag         string
	exclusive   bool
	inputs      inputsFlag
	inputSchema schemaFlag
	stack       string
	description string
	secrets     []string
	output      outputFlag
	// warn shows what the deploy could not check; nil discards it.
	warn func(string)
}

func newDeployCommand() *cobra.Command {
	var opts deployOptions
	cmd := &cobra.Command{
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
		Args: cobra.MatchAll(cobra.ExactArgs(1), func(_ *cobra.Command, args []string) error {
			if _, _, err := registry.SplitTarget(args[0]); err != nil {
				return errors.New(messageOf(err))
			}
			return nil
		}),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.warn = func(msg string) { fmt.Fprintln(cmd.ErrOrStderr(), msg) }
			d, err := runDeploy(cmd.Context(), args[0], opts)
			if err != nil {
				return report(cmd.ErrOrStderr(), "deploy", opts.output, err)
			}
			if opts.output.json() {
				return writeJSON(cmd.OutOrStdout(), envelope{Command: "deploy", Item: d})
			}
			printDeployment(cmd.OutOrStdout(), d)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.tag, "tag", "", "routing tag to attach: moved here with --exclusive, else added as a shared label (default: default, which moves to the new version)")
	f.BoolVar(&opts.exclusive, "exclusive", false, "make the tag exclusive: move it here from any other version")
	f.Var(&opts.inputs, "input", "representative inputs: a JSON object, or @file to read one")
	f.Var(&opts.inputSchema, "input-schema", "the inputs' JSON Schema, a JSON object or @file, instead of the one read from the function's signature")
	f.StringVar(&opts.stack, "stack", "", "stack to deploy to (default: the server's default stack)")
	f.StringVar(&opts.description, "description", "", "what this version changes")
	f.StringArrayVar(&opts.secrets, "secret", nil, "a flow secret (kitaru secrets set NAME) the version's runs get as the environment variable NAME; repeat for more")
	f.VarP(&opts.output, "output", "o", "output format: text or json")
	return cmd
}

func runDeploy(ctx context.Context, target string, opts deployOptions) (registry.Deployment, error) {
	c, _, err := serverClient()
	if err != nil {
		return registry.Deployment{}, err
	}
	d, err := c.Deployments().DeployDir(ctx, "", target, client.DeployDirOptions{
		Inputs:      opts.inputs.raw,
		InputSchema: opts.inputSchema.raw,
		Tag:         opts.tag,
		Exclusive:   opts.exclusive,
		Stack:       opts.stack,
		Description: opts.description,
		Secrets:     opts.secrets,
		Warn:        opts.warn,
	})
	return d.Deployment, err
}

// schemaFlag is --input-schema: a JSON Schema object, inline or @file,
// checked as the server checks it.
type schemaFlag struct{ raw json.RawMessage }

func (f *schemaFlag) String() string { return string(f.raw) }

func (f *schemaFlag) Set(s string) error {
	data := []byte(s)
	if name, ok := strings.CutPrefix(s, "@"); ok {
		var err error
		if data, err = os.ReadFile(name); err != nil {
			return fmt.Errorf("read input schema: %w", err)
		}
	}
	if _, err := registry.CompileInputSchema(data); err != nil {
		return errors.New(messageOf(err))
	}
	f.raw = json.RawMessage(bytes.TrimSpace(data))
	return nil
}

func (f *schemaFlag) Type() string { return "JSON|@file" }

func printDeployment(w io.Writer, d registry.Deployment) {
	fmt.Fprintf(w, "Deployed %s version %d (snapshot %s)\n", d.Flow, d.Version, d.Snapshot)
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
