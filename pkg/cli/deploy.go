package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/kitaru/deployments/pkg/bundle"
	"github.com/kitaru/deployments/pkg/client"
	"github.com/kitaru/deployments/pkg/pysig"
	"github.com/kitaru/deployments/pkg/registry"
)

type deployOptions struct {
	tag         string
	exclusive   bool
	inputs      inputsFlag
	inputSchema schemaFlag
	stack       string
	description string
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
	f.VarP(&opts.output, "output", "o", "output format: text or json")
	return cmd
}

func runDeploy(ctx context.Context, target string, opts deployOptions) (registry.Deployment, error) {
	file, flow, err := registry.SplitTarget(target)
	if err != nil {
		return registry.Deployment{}, err
	}
	abs, err := filepath.Abs(file)
	if err != nil {
		return registry.Deployment{}, err
	}
	if info, err := os.Stat(abs); err != nil || !info.Mode().IsRegular() {
		return registry.Deployment{}, registry.Errorf(registry.CodeInvalidArgument, "%s is not a file; pass path/to/file.py:flow_name", file)
	}
	root, err := findProjectRoot(filepath.Dir(abs))
	if err != nil {
		return registry.Deployment{}, err
	}
	rel, err := filepath.Rel(root, abs)
	if err != nil {
		return registry.Deployment{}, err
	}
	entrypoint := filepath.ToSlash(rel) + ":" + flow
	entryFile, _, err := registry.ParseEntrypoint(entrypoint)
	if err != nil {
		return registry.Deployment{}, err
	}
	schema, err := inputContract(ctx, file, abs, flow, opts)
	if err != nil {
		return registry.Deployment{}, err
	}
	b, err := bundle.Build(root)
	if err != nil {
		return registry.Deployment{}, err
	}
	// The server checks this too; checking here names the problem before
	// anything is uploaded (e.g. an entrypoint under a skipped venv/).
	unlimited := bundle.Limits{Compressed: math.MaxInt64, Uncompressed: math.MaxInt64}
	if _, err := bundle.Validate(bytes.NewReader(b.Data), unlimited, entryFile); err != nil {
		return registry.Deployment{}, err
	}
	c, _, err := serverClient()
	if err != nil {
		return registry.Deployment{}, err
	}
	src, err := uploadSource(ctx, c, b)
	if err != nil {
		return registry.Deployment{}, err
	}
	src.Commit, src.Dirty = gitState(ctx, root)
	d, err := c.Deployments().Deploy(ctx, flow, client.DeployRequest{
		Entrypoint:  entrypoint,
		Source:      src,
		Inputs:      opts.inputs.raw,
		InputSchema: schema,
		Tag:         opts.tag,
		Exclusive:   opts.exclusive,
		Stack:       opts.stack,
		Description: opts.description,
	})
	return d.Deployment, err
}

// inputContract checks that the file defines flow at module level and
// returns the input schema to deploy with: --input-schema when given, else
// the one derived from the signature by the SDK's helper (pkg/pysig), which
// reads the file without importing it. Without python3 nothing can be read:
// the deploy goes ahead with the given schema or none, and says so.
func inputContract(ctx context.Context, file, abs, flow string, opts deployOptions) (json.RawMessage, error) {
	warn := opts.warn
	if warn == nil {
		warn = func(string) {}
	}
	fn, err := pysig.Lookup(ctx, abs, flow)
	var parse *pysig.ParseError
	switch {
	case errors.Is(err, pysig.ErrNoPython):
		warn(fmt.Sprintf("warning: %v: cannot check that %s defines %s or read its input schema; "+
			"deploying without one, so the server accepts any inputs object. Install Python 3.10+ or pass --input-schema @schema.json", err, file, flow))
		return opts.inputSchema.raw, nil
	case errors.As(err, &parse):
		return nil, registry.Errorf(registry.CodeInvalidArgument, "%s; fix the file, or if it uses syntax newer than that Python, set %s to a newer interpreter", parse.Message, pysig.PythonEnv)
	case err != nil:
		return nil, err
	case !fn.Found:
		defined := "it defines no function at module level"
		if len(fn.Functions) > 0 {
			defined = "its module-level functions: " + strings.Join(fn.Functions, ", ")
		}
		return nil, registry.Errorf(registry.CodeInvalidArgument, "%s has no module-level function %q (%s); deploy path/to/file.py:function naming a function defined at the top of the file", file, flow, defined).
			WithDetails("field", "target")
	case opts.inputSchema.raw != nil:
		return opts.inputSchema.raw, nil
	case fn.Schema == nil:
		warn(fmt.Sprintf("note: %s, so its input schema cannot be read: deploying without one (the server accepts any inputs object); pass --input-schema @schema.json to set one", fn.Reason))
	}
	return fn.Schema, nil
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

// findProjectRoot returns the nearest directory from dir upward holding .kitaru/.
func findProjectRoot(dir string) (string, error) {
	for d := dir; ; d = filepath.Dir(d) {
		if info, err := os.Stat(filepath.Join(d, projectDir)); err == nil && info.IsDir() {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", registry.Errorf(registry.CodePreconditionFailed, "no Kitaru project: neither %s nor a parent directory holds %s/; run `kitaru init` in the repository root first", dir, projectDir)
		}
	}
}

// uploadSource sends small bundles inline and larger ones through
// POST /v1/artifacts and the presigned upload, skipping bytes the server has.
func uploadSource(ctx context.Context, c *client.Client, b bundle.Bundle) (*client.Source, error) {
	if b.Size <= bundle.MaxInlineArchiveBytes {
		return &client.Source{Archive: b.Data}, nil
	}
	a, err := c.CreateArtifact(ctx, b.Digest, b.Size)
	if err != nil {
		return nil, err
	}
	if !a.Exists {
		if a.Upload == nil {
			return nil, registry.Errorf(registry.CodeInternal, "the server neither has bundle %s nor gave an upload URL for it", b.Digest)
		}
		if err := c.UploadArtifact(ctx, *a.Upload, b.Data); err != nil {
			return nil, err
		}
	}
	return &client.Source{Digest: b.Digest}, nil
}

// gitState returns the HEAD commit of the repository holding root and
// whether root has uncommitted changes; nothing when git or a repository is
// missing.
func gitState(ctx context.Context, root string) (commit string, dirty bool) {
	head, err := exec.CommandContext(ctx, "git", "-C", root, "rev-parse", "HEAD").Output()
	if err != nil {
		return "", false
	}
	status, err := exec.CommandContext(ctx, "git", "-C", root, "status", "--porcelain", "--", ".").Output()
	return strings.TrimSpace(string(head)), err == nil && len(bytes.TrimSpace(status)) > 0
}

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
