package client

import (
	"context"
	"net/http"
	"net/url"

	"github.com/kitaru/deployments/pkg/api"
)

// DeploymentDiff is what changed between two deployments (GET
// /v1/flows/{flow}/diff; docs/flow-diff.md).
type DeploymentDiff = api.DeploymentDiff

// DiffOptions qualify a diff.
type DiffOptions struct {
	// Path narrows the source diff to one file or directory of the
	// project; a file then gets the whole answer's diff text, so a file
	// whose diff was cut can be seen in full up to that limit.
	Path string
}

// Diff compares two deployments of flow. from and to are each a version
// ("3"), a tag ("stable", resolved now; DiffSide.Version says to what) or
// "tag:NAME" for a tag named like a number. The same version twice is an
// empty diff (Identical). Errors: not_found (reasons no_deployments,
// version_not_found, tag_not_found), conflict (ambiguous_tag),
// invalid_argument (a malformed ref or path).
func (d *Deployments) Diff(ctx context.Context, flow, from, to string, opts DiffOptions) (DeploymentDiff, error) {
	q := url.Values{"from": {from}, "to": {to}}
	if opts.Path != "" {
		q.Set("path", opts.Path)
	}
	return fetch[DeploymentDiff](ctx, d.c, call{method: http.MethodGet, path: flowPath(flow, "/diff"), query: q, idempotent: true})
}
