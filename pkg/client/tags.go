package client

import (
	"context"
	"net/http"

	"github.com/kitaru/deployments/pkg/registry"
)

// GetTag returns a tag as it is now, with the versions it routes to and its
// revision (GET /v1/flows/{flow}/tags/{tag}): pass &tag.Revision as
// TagOptions.IfRevision to change the tag only if it is still as read.
// Errors: not_found (no such flow or tag), invalid_argument.
func (d *Deployments) GetTag(ctx context.Context, flow, tag string) (registry.Tag, error) {
	return fetch[registry.Tag](ctx, d.c, call{method: http.MethodGet, path: tagPath(flow, tag, ""), idempotent: true})
}
