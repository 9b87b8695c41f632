package httpapi

import (
	"context"
	"fmt"
	"net/http"

	"github.com/kitaru/deployments/pkg/deploydiff"
	"github.com/kitaru/deployments/pkg/registry"
)

// diff answers GET /v1/flows/{flow}/diff?from=&to=[&path=]: what changed
// between two deployments, their bundles read through the artifact store
// (docs/flow-diff.md).
func (h *Handler) diff(ctx context.Context, c *call) (reply, error) {
	if h.cfg.Bundles == nil {
		return reply{}, registry.Errorf(registry.CodeUnavailable, "this server reads no source bundles, so it cannot diff deployments; ask its operator to configure the artifact store")
	}
	req := deploydiff.Request{Project: c.principal.Project, Flow: c.flow}
	for _, q := range []struct {
		name string
		dst  *string
	}{{"from", &req.From}, {"to", &req.To}, {"path", &req.Path}} {
		v, _, err := c.query(q.name)
		if err != nil {
			return reply{}, err
		}
		*q.dst = v
	}
	d, err := deploydiff.Differ{Store: h.store, Bundles: h.cfg.Bundles}.Diff(ctx, req)
	if err != nil {
		return reply{}, fmt.Errorf("diff %s: %w", c.flow, err)
	}
	return reply{status: http.StatusOK, body: d}, nil
}
