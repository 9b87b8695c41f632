package client

import (
	"context"
	"net/http"
	"time"

	"github.com/kitaru/deployments/pkg/api"
	"github.com/kitaru/deployments/pkg/registry"
)

// Pruning reports what a prune deleted and why it kept the rest (the
// server's registry.Pruning).
type Pruning = registry.Pruning

// PruneOptions says what a prune keeps.
type PruneOptions struct {
	// Keep is how many of the newest versions stay; at least 1.
	Keep int
	// OlderThan, when above zero, spares versions created less than this
	// long ago (sent as whole days when it is whole days).
	OlderThan time.Duration
	// DryRun answers the plan without deleting anything.
	DryRun bool
}

// Prune deletes the flow's versions no tag routes to beyond the newest
// opts.Keep (and older than opts.OlderThan), never one with a running
// execution, then the source bundles only they used
// (POST /v1/flows/{flow}/prune, docs/prune.md).
// Errors: invalid_argument, not_found, permission_denied.
func (c *Client) Prune(ctx context.Context, flow string, opts PruneOptions) (Pruning, error) {
	body := api.PruneRequest{Keep: &opts.Keep, DryRun: opts.DryRun}
	if opts.OlderThan > 0 {
		body.OlderThan = registry.FormatAge(opts.OlderThan)
	}
	return fetch[Pruning](ctx, c, call{method: http.MethodPost, path: flowPath(flow, "/prune"), body: body, keyed: true})
}
