package client

import (
	"context"
	"net/http"

	"github.com/kitaru/deployments/pkg/registry"
)

// Build saves the next version of flow without a routing tag (kitaru
// build): no tag moves, so nothing invoking by tag runs it until a tag is
// put on it with Tag. The flow's first version still gets default, which
// exists once any version does. req.Tag and req.Exclusive must be empty.
// Like Deploy it is retried with one Idempotency-Key. Errors: Deploy's.
func (d *Deployments) Build(ctx context.Context, flow string, req DeployRequest) (Deployment, error) {
	if req.Tag != "" || req.Exclusive {
		return Deployment{}, registry.Errorf(registry.CodeInvalidArgument, "a build attaches no routing tag, but tag %q was given; leave it out and put the tag on the built version afterwards", req.Tag)
	}
	req.build = true
	return d.one(ctx, call{method: http.MethodPost, path: flowPath(flow, "/deployments"), body: req.body(), keyed: true})
}

// BuildDir builds a flow from source as kitaru build does: DeployDir's
// bundling, schema and metadata, saved with Build. opts.Tag and
// opts.Exclusive must be empty. Errors: DeployDir's.
func (d *Deployments) BuildDir(ctx context.Context, dir, target string, opts DeployDirOptions) (Deployment, error) {
	if opts.Tag != "" || opts.Exclusive {
		return Deployment{}, registry.Errorf(registry.CodeInvalidArgument, "a build attaches no routing tag, but tag %q was given; leave it out and put the tag on the built version afterwards", opts.Tag)
	}
	return d.saveDir(ctx, dir, target, opts, true)
}
