package cli

import (
	"bytes"
	"context"
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
	"github.com/kitaru/deployments/pkg/registry"
)

type deployOptions struct {
	tag         string
	exclusive   bool
	inputs      inputsFlag
	stack       string
	description string
	output      outputFlag
}

func newDeployCommand() *cobra.Command {
	var opts deployOptions
	cmd := &cobra.Command{
		Use:   "deploy path/to/file.py:flow_name",
		Short: "Deploy a flow as its next version",
		Long: `deploy saves a new, immutable version of a flow: it bundles the project root
(the nearest directory above the file that holds .kitaru/, made by kitaru init),
uploads it, and records the entrypoint, the representative --input values and
one routing tag (default on the first deploy).

The flow's public name is the function name after the colon. Bundles skip
.git/, __pycache__/, *.pyc, .venv/, venv/, node_modules/ and .kitaru/cache/.
` + serverHelp,
		Example: `  kitaru deploy flows/research.py:research_agent --input '{"topic": "durable agents"}'
  kitaru deploy flows/research.py:research_agent --tag canary --exclusive --input @inputs.json`,
		Args: cobra.MatchAll(cobra.ExactArgs(1), func(_ *cobra.Command, args []string) error {
			_, _, err := splitTarget(args[0])
			return err
		}),
		RunE: func(cmd *cobra.Command, args []string) error {
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
	f.StringVar(&opts.tag, "tag", "", "routing tag to attach (default: default on the first deploy)")
	f.BoolVar(&opts.exclusive, "exclusive", false, "make the tag exclusive: move it here from any other version")
	f.Var(&opts.inputs, "input", "representative inputs: a JSON object, or @file to read one")
	f.StringVar(&opts.stack, "stack", "", "stack to deploy to (default: the server's default stack)")
	f.StringVar(&opts.description, "description", "", "what this version changes")
	f.VarP(&opts.output, "output", "o", "output format: text or json")
	return cmd
}

// splitTarget splits path/to/file.py:flow_name; a malformed target is a
// usage error.
func splitTarget(target string) (file, flow string, err error) {
	i := strings.LastIndex(target, ":")
	if i <= 0 || i == len(target)-1 {
		return "", "", fmt.Errorf("target %q is not path/to/file.py:flow_name", target)
	}
	file, flow = target[:i], target[i+1:]
	if !strings.HasSuffix(file, ".py") {
		return "", "", fmt.Errorf("target file %q is not a Python file (.py)", file)
	}
	if err := registry.ValidateFlowName(flow); err != nil || strings.ContainsAny(flow, ".-") {
		return "", "", fmt.Errorf("flow name %q after the colon must be the Python function's name", flow)
	}
	return file, flow, nil
}

func runDeploy(ctx context.Context, target string, opts deployOptions) (registry.Deployment, error) {
	file, flow, _ := splitTarget(target)
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
		Tag:         opts.tag,
		Exclusive:   opts.exclusive,
		Stack:       opts.stack,
		Description: opts.description,
	})
	return d.Deployment, err
}

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
