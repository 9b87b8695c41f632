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
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/kitaru/deployments/pkg/bundle"
	"github.com/kitaru/deployments/pkg/client"
	"github.com/kitaru/deployments/pkg/httpapi"
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
	entryFile, _, err := bundle.ParseEntrypoint(entrypoint)
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
	if s := d.Source; s != nil {
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
		fmt.Fprintf(w, "  source:     %s\n", line)
	}
	if d.Stack != "" {
		fmt.Fprintf(w, "  stack:      %s\n", d.Stack)
	}
	fmt.Fprintf(w, "Invoke it with: kitaru invoke %s --version %d\n", d.Flow, d.Version)
}

// formatTags lists tags by name, exclusive ones marked *.
func formatTags(tags map[string]bool) string {
	if len(tags) == 0 {
		return "(none)"
	}
	names := make([]string, 0, len(tags))
	marked := false
	for name, exclusive := range tags {
		if exclusive {
			name += "*"
			marked = true
		}
		names = append(names, name)
	}
	slices.Sort(names)
	s := strings.Join(names, ", ")
	if marked {
		s += "  (* exclusive)"
	}
	return s
}

func shortCommit(c string) string {
	if len(c) > 12 {
		return c[:12]
	}
	return c
}

// The rest is shared by the commands that call the Kitaru server.

// reportedError is an error already shown to the user; Run only turns it
// into the exit code.
type reportedError struct{ err error }

func (e reportedError) Error() string { return e.err.Error() }
func (e reportedError) Unwrap() error { return e.err }

// report shows err on w, as "error: <message>" or, with -o json, as
// {"command", "error": {code, message, details}}, and returns it marked
// reported.
func report(w io.Writer, command string, output outputFlag, err error) error {
	detail := httpapi.ErrorDetail{Code: registry.CodeOf(err), Message: err.Error()}
	var re *registry.Error
	if errors.As(err, &re) {
		detail.Message, detail.Details = re.Message, re.Details
	}
	var ce *client.Error
	if errors.As(err, &ce) && ce.StatusCode == 0 && ce.Code == registry.CodeUnavailable {
		detail.Message += "; check the server URL (`kitaru info` shows it), or start a local server with `kitaru dev`"
	}
	if output.json() {
		writeJSON(w, envelope{Command: command, Error: &detail})
	} else {
		fmt.Fprintf(w, "error: %s\n", detail.Message)
	}
	return reportedError{err}
}

// envelope is the -o json output: the item on stdout, or the error on stderr.
type envelope struct {
	Command string               `json:"command"`
	Item    any                  `json:"item,omitempty"`
	Error   *httpapi.ErrorDetail `json:"error,omitempty"`
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// outputFlag is -o: text (the default) or json.
type outputFlag string

func (o *outputFlag) String() string {
	if *o == "" {
		return "text"
	}
	return string(*o)
}

func (o *outputFlag) Set(s string) error {
	if s != "text" && s != "json" {
		return errors.New("use text or json")
	}
	*o = outputFlag(s)
	return nil
}

func (o *outputFlag) Type() string { return "format" }

func (o outputFlag) json() bool { return o == "json" }

// inputsFlag is --input: a JSON object given inline or as @file. Anything
// else is a usage error, found before any request.
type inputsFlag struct{ raw json.RawMessage }

func (f *inputsFlag) String() string { return string(f.raw) }

func (f *inputsFlag) Set(s string) error {
	data := []byte(s)
	if name, ok := strings.CutPrefix(s, "@"); ok {
		var err error
		if data, err = os.ReadFile(name); err != nil {
			return fmt.Errorf("read inputs: %w", err)
		}
	}
	if trimmed := bytes.TrimSpace(data); len(trimmed) == 0 || trimmed[0] != '{' {
		return errors.New(`inputs must be a JSON object like {"topic": "..."}`)
	}
	raw, err := registry.NormalizeInputs(data)
	if err != nil {
		var re *registry.Error
		if errors.As(err, &re) {
			return errors.New(re.Message)
		}
		return err
	}
	f.raw = raw
	return nil
}

func (f *inputsFlag) Type() string { return "JSON|@file" }
