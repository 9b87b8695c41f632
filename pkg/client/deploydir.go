package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/kitaru/deployments/pkg/bundle"
	"github.com/kitaru/deployments/pkg/pysig"
	"github.com/kitaru/deployments/pkg/registry"
)

// DeployDirOptions qualify Deployments.DeployDir. The zero value deploys
// with the schema read from the signature, no inputs and the default tag.
type DeployDirOptions struct {
	// Inputs are the representative inputs, a JSON object; nil sends none.
	Inputs json.RawMessage
	// InputSchema replaces the input schema read from the function's
	// signature (kitaru deploy --input-schema); nil reads it.
	InputSchema json.RawMessage
	// Tag is the one routing tag to attach: moved to the new version when
	// Exclusive, else added as a shared label; empty is default, which a
	// plain deploy moves.
	Tag       string
	Exclusive bool
	// Stack is the stack to deploy to; empty is the server's default.
	Stack string
	// Description says what this version changes.
	Description string
	// Secrets names the project's flow secrets the version's runs get as
	// environment variables (kitaru deploy --secret).
	Secrets []string
	// Warn receives what the deploy could not check, such as a missing
	// python3 or a function whose schema cannot be read, one message a
	// call; nil discards them.
	Warn func(string)
}

// DeployDir deploys a flow from source as kitaru deploy does. target is
// path/to/file.py:function, its path relative to dir (empty: the current
// directory) or absolute; the function is the flow's public name. It
// bundles the project root (the nearest directory above the file holding
// bundle.ProjectDir, made by kitaru init), checks the bundle before
// sending anything, reads the input schema from the function's signature
// with python3 (pkg/pysig; the file is never imported), sends bundles up to
// bundle.MaxInlineArchiveBytes inline and larger ones through
// CreateArtifact and UploadArtifact (skipping bytes the server has), and
// records the git commit and whether the project has uncommitted changes.
// Errors: invalid_argument (a malformed target, inputs or input schema, a
// file that is missing, cannot be parsed or does not define the function at
// module level, a bundle the server would refuse), payload_too_large
// (inputs), precondition_failed (no project: run
// kitaru init), and Deploy's and CreateArtifact's codes.
func (d *Deployments) DeployDir(ctx context.Context, dir, target string, opts DeployDirOptions) (Deployment, error) {
	return d.saveDir(ctx, dir, target, opts, false)
}

// saveDir is DeployDir, or BuildDir when build is set.
func (d *Deployments) saveDir(ctx context.Context, dir, target string, opts DeployDirOptions, build bool) (Deployment, error) {
	file, flow, err := registry.SplitTarget(target)
	if err != nil {
		return Deployment{}, err
	}
	// Inputs and a given schema are checked as the server checks them,
	// before the project is read or anything is uploaded.
	if opts.Inputs != nil {
		if opts.Inputs, err = registry.NormalizeInputs(opts.Inputs); err != nil {
			return Deployment{}, err
		}
	}
	if opts.InputSchema != nil {
		if _, err := registry.CompileInputSchema(opts.InputSchema); err != nil {
			return Deployment{}, err
		}
	}
	abs := file
	if !filepath.IsAbs(abs) {
		abs = filepath.Join(dir, file)
	}
	if abs, err = filepath.Abs(abs); err != nil {
		return Deployment{}, err
	}
	if info, err := os.Stat(abs); err != nil || !info.Mode().IsRegular() {
		return Deployment{}, registry.Errorf(registry.CodeInvalidArgument, "%s is not a file; pass path/to/file.py:flow_name", file)
	}
	root, err := bundle.FindProjectRoot(filepath.Dir(abs))
	if err != nil {
		return Deployment{}, err
	}
	rel, err := filepath.Rel(root, abs)
	if err != nil {
		return Deployment{}, err
	}
	entrypoint := filepath.ToSlash(rel) + ":" + flow
	entryFile, _, err := registry.ParseEntrypoint(entrypoint)
	if err != nil {
		return Deployment{}, err
	}
	schema, err := inputContract(ctx, file, abs, flow, opts)
	if err != nil {
		return Deployment{}, err
	}
	b, err := bundle.Build(root)
	if err != nil {
		return Deployment{}, err
	}
	// The server checks this too; checking here names the problem before
	// anything is uploaded (e.g. an entrypoint under a skipped venv/).
	unlimited := bundle.Limits{Compressed: math.MaxInt64, Uncompressed: math.MaxInt64}
	if _, err := bundle.Validate(bytes.NewReader(b.Data), unlimited, entryFile); err != nil {
		return Deployment{}, err
	}
	src, err := d.c.uploadSource(ctx, b)
	if err != nil {
		return Deployment{}, err
	}
	src.Commit, src.Dirty = gitState(ctx, root)
	req := DeployRequest{
		Entrypoint:  entrypoint,
		Source:      src,
		Inputs:      opts.Inputs,
		InputSchema: schema,
		Tag:         opts.Tag,
		Exclusive:   opts.Exclusive,
		Stack:       opts.Stack,
		Description: opts.Description,
		Secrets:     opts.Secrets,
	}
	if build {
		return d.Build(ctx, flow, req)
	}
	return d.Deploy(ctx, flow, req)
}

// inputContract checks that the file defines flow at module level and
// returns the input schema to deploy with: opts.InputSchema when given,
// else the one derived from the signature by the SDK's helper (pkg/pysig),
// which reads the file without importing it. Without python3 nothing can be
// read: the deploy goes ahead with the given schema or none, and says so.
func inputContract(ctx context.Context, file, abs, flow string, opts DeployDirOptions) (json.RawMessage, error) {
	warn := opts.Warn
	if warn == nil {
		warn = func(string) {}
	}
	fn, err := pysig.Lookup(ctx, abs, flow)
	var parse *pysig.ParseError
	switch {
	case errors.Is(err, pysig.ErrNoPython):
		warn(fmt.Sprintf("warning: %v: cannot check that %s defines %s or read its input schema; "+
			"deploying without one, so the server accepts any inputs object. Install Python 3.10+ or pass --input-schema @schema.json", err, file, flow))
		return opts.InputSchema, nil
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
	case opts.InputSchema != nil:
		return opts.InputSchema, nil
	case fn.Schema == nil:
		warn(fmt.Sprintf("note: %s, so its input schema cannot be read: deploying without one (the server accepts any inputs object); pass --input-schema @schema.json to set one", fn.Reason))
	}
	return fn.Schema, nil
}

// uploadSource sends small bundles inline and larger ones through
// CreateArtifact and the presigned upload, skipping bytes the server has.
func (c *Client) uploadSource(ctx context.Context, b bundle.Bundle) (*Source, error) {
	if b.Size <= bundle.MaxInlineArchiveBytes {
		return &Source{Archive: b.Data}, nil
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
	return &Source{Digest: b.Digest}, nil
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
