// Package deploydiff compares two deployments of a flow: their fields,
// input schemas, deploy-time inputs, secrets and source bundles, the last as
// unified diffs of the bundles' text files (docs/flow-diff.md). Bundles are
// untrusted: they are read through pkg/bundle's validating reader, and what
// the diff holds and answers is bounded.
package deploydiff

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/kitaru/deployments/pkg/api"
	"github.com/kitaru/deployments/pkg/bundle"
	"github.com/kitaru/deployments/pkg/registry"
)

// Resolver finds the deployment a selector names; registry.Store is one.
type Resolver interface {
	// Resolve errors: not_found (reasons no_deployments, version_not_found,
	// tag_not_found, no_default), conflict (ambiguous_tag).
	Resolve(ctx context.Context, project, flow string, sel registry.Selector) (registry.Resolution, error)
}

// BundleReader reads a project's stored source bundle; artifacts.Store is one.
type BundleReader interface {
	// ReadBundle calls visit with each file and link of the bundle with
	// digest, checked as bundle.Read checks it and against the digest.
	// Errors: not_found (no such bundle in the project), unprocessable (the
	// stored bytes are not the bundle), those of bundle.Read.
	ReadBundle(ctx context.Context, project, digest string, visit func(bundle.Entry) error) error
}

// Differ answers diffs of deployments from a store and their bundles.
type Differ struct {
	Store   Resolver
	Bundles BundleReader
}

// Request asks for a diff: From and To are each a version ("3"), a tag
// ("stable") or "tag:NAME" for a tag whose name is a number; Path, when set,
// narrows the source diff to one file or directory.
type Request struct {
	Project, Flow string
	From, To      string
	Path          string
}

// Diff resolves both sides now and compares them. Bundles that cannot be
// read leave the rest of the diff intact and say why in Source.Unavailable.
// Errors: invalid_argument (a malformed ref or path), those of
// Resolver.Resolve, and internal or unavailable when the bundle store
// fails or the request's deadline passes while bundles are read.
func (d Differ) Diff(ctx context.Context, req Request) (api.DeploymentDiff, error) {
	path, err := cleanPath(req.Path)
	if err != nil {
		return api.DeploymentDiff{}, err
	}
	from, err := d.side(ctx, req, "from", req.From)
	if err != nil {
		return api.DeploymentDiff{}, err
	}
	to, err := d.side(ctx, req, "to", req.To)
	if err != nil {
		return api.DeploymentDiff{}, err
	}
	diff := Compare(req.Flow, from, to)
	if diff.Source, err = d.source(ctx, req.Project, from.Deployment, to.Deployment, path); err != nil {
		return api.DeploymentDiff{}, err
	}
	return diff, nil
}

// side resolves one ref of the request.
func (d Differ) side(ctx context.Context, req Request, param, ref string) (Side, error) {
	sel, err := ParseRef(param, ref)
	if err != nil {
		return Side{}, err
	}
	res, err := d.Store.Resolve(ctx, req.Project, req.Flow, sel)
	if err != nil {
		return Side{}, fmt.Errorf("resolve %s %s of %s: %w", param, sel, req.Flow, err)
	}
	side := Side{Ref: ref, Tag: sel.Tag, Deployment: res.Deployment}
	if res.Route != nil {
		side.Split = res.Route.Split
	}
	return side, nil
}

// source compares the bundles of two deployments. A bundle that is gone or
// not a valid bundle leaves the source uncompared, saying why; a store that
// fails is an error, so that the request can be retried.
func (d Differ) source(ctx context.Context, project string, from, to registry.Deployment, path string) (api.SourceDiff, error) {
	fromDigest, toDigest := digestOf(from), digestOf(to)
	switch {
	case fromDigest == toDigest:
		return api.SourceDiff{SameBundle: true, Path: path, Files: []api.FileChange{}}, nil
	case fromDigest == "" || toDigest == "":
		return unavailable(path, "a version records no source bundle, so its files cannot be compared"), nil
	}
	var trees [2]*Tree
	for i, dep := range []registry.Deployment{from, to} {
		trees[i] = NewTree(path)
		err := d.Bundles.ReadBundle(ctx, project, dep.Source.Digest, trees[i].Add)
		var e *registry.Error
		switch {
		case err == nil:
		case ctx.Err() != nil:
			return api.SourceDiff{}, fmt.Errorf("read the bundle of version %d: %w", dep.Version, ctx.Err())
		case registry.CodeOf(err) == registry.CodeNotFound:
			return unavailable(path, fmt.Sprintf("the bundle of version %d (%s) is no longer stored", dep.Version, dep.Source.Digest)), nil
		case errors.As(err, &e) && e.Code != registry.CodeInternal:
			return unavailable(path, fmt.Sprintf("the bundle of version %d (%s) cannot be read: %s", dep.Version, dep.Source.Digest, e.Message)), nil
		default:
			return api.SourceDiff{}, fmt.Errorf("read the bundle of version %d: %w", dep.Version, err)
		}
	}
	return CompareTrees(trees[0], trees[1], SourceOptions{Path: path, Hint: seeWhole(from, to)}), nil
}

func digestOf(d registry.Deployment) string {
	if d.Source == nil {
		return ""
	}
	return d.Source.Digest
}

func unavailable(path, why string) api.SourceDiff {
	return api.SourceDiff{Unavailable: why, Path: path, Files: []api.FileChange{}}
}

// seeWhole tells how to see a cut diff whole: narrow the diff to the file,
// and past the answer's limit, compare the commits in git.
func seeWhole(from, to registry.Deployment) string {
	hint := "ask again with path set to the file to see up to the answer's limit of it"
	if from.Source != nil && to.Source != nil && from.Source.Commit != "" && to.Source.Commit != "" {
		hint += fmt.Sprintf(", or compare the versions' commits in git: git diff %s %s", from.Source.Commit, to.Source.Commit)
	}
	return hint
}

// ParseRef reads a side of a diff: a positive integer is a version, "tag:"
// followed by a name is that tag (for tags named like numbers), anything
// else a tag name. param names the side in messages. Errors:
// invalid_argument.
func ParseRef(param, ref string) (registry.Selector, error) {
	if ref == "" {
		return registry.Selector{}, registry.Errorf(registry.CodeInvalidArgument, "%s is missing; pass a version (3) or a tag (stable) for each of from and to", param)
	}
	if name, ok := strings.CutPrefix(ref, "tag:"); ok {
		return tagRef(param, name)
	}
	if ref[0] >= '0' && ref[0] <= '9' && strings.Trim(ref, "0123456789") == "" {
		v, err := registry.ParseVersion(ref)
		if err != nil {
			return registry.Selector{}, registry.Errorf(registry.CodeInvalidArgument, "%s %q is invalid: write a version as a positive integer without leading zeros, or a tag named like a number as tag:%s", param, ref, ref)
		}
		return registry.Selector{Version: v}, nil
	}
	return tagRef(param, ref)
}

func tagRef(param, name string) (registry.Selector, error) {
	var e *registry.Error
	if err := registry.ValidateTagName(name); errors.As(err, &e) {
		return registry.Selector{}, registry.Errorf(e.Code, "%s is neither a version nor a tag: %s", param, e.Message)
	} else if err != nil {
		return registry.Selector{}, err
	}
	return registry.Selector{Tag: name}, nil
}

// cleanPath checks a path filter: relative, slash-separated, no "..".
func cleanPath(p string) (string, error) {
	p = strings.Trim(p, "/")
	if p == "" {
		return "", nil
	}
	if len(p) > bundle.MaxNameBytes || strings.HasPrefix(p, "./") || strings.Contains(p, "//") || strings.Contains("/"+p+"/", "/../") || strings.Contains("/"+p+"/", "/./") {
		return "", registry.Errorf(registry.CodeInvalidArgument, "path %.200q is invalid: name a file or directory relative to the project root, like flows/research.py or flows", p)
	}
	return p, nil
}
