package httpapi

import (
	"context"
	"fmt"
	"net/http"

	"github.com/kitaru/deployments/pkg/registry"
)

// deleteFlow serves DELETE /v1/flows/{flow}?force=true: it answers what was
// removed, so a forced delete says which routes went with the flow.
func (h *Handler) deleteFlow(ctx context.Context, c *call) (reply, error) {
	force, err := c.boolQuery("force")
	if err != nil {
		return reply{}, err
	}
	d, err := h.store.DeleteFlow(ctx, c.principal.Project, c.flow, force, c.principal.ID)
	if err != nil {
		return reply{}, fmt.Errorf("delete flow %s: %w", c.flow, err)
	}
	var header map[string]string
	if d.RouteRevision > 0 {
		// A route change of every tag of the flow (docs/route-cache.md).
		header = revisionHeader(d.RouteRevision)
	}
	return reply{status: http.StatusOK, body: d, header: header}, nil
}

// boolQuery reads an optional true/false query parameter (false when absent).
func (c *call) boolQuery(name string) (bool, error) {
	v, ok, err := c.query(name)
	switch {
	case err != nil:
		return false, err
	case !ok || v == "false":
		return false, nil
	case v == "true":
		return true, nil
	}
	return false, registry.Errorf(registry.CodeInvalidArgument, "query parameter %s is %q; pass true or false", name, clipID(v))
}
