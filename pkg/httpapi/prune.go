package httpapi

import (
	"context"
	"fmt"
	"net/http"

	"github.com/kitaru/deployments/pkg/api"
	"github.com/kitaru/deployments/pkg/registry"
)

// prune serves POST /v1/flows/{flow}/prune: it deletes the versions no tag
// routes to beyond the newest keep (and older than older_than, when sent)
// that run no execution, then the bundles nothing uses any more, and
// answers what it deleted and why it kept the rest (docs/prune.md).
func (h *Handler) prune(ctx context.Context, c *call) (reply, error) {
	var b api.PruneRequest
	if err := decodeRequest(c, &b, false); err != nil {
		return reply{}, err
	}
	if b.Keep == nil {
		return reply{}, registry.Errorf(registry.CodeInvalidArgument, "keep is missing; send how many of the newest versions to keep, at least 1")
	}
	req := registry.PruneRequest{Keep: *b.Keep, DryRun: b.DryRun}
	if b.OlderThan != "" {
		age, err := registry.ParseAge("older_than", b.OlderThan)
		if err != nil {
			return reply{}, err
		}
		req.OlderThan = age
	}
	if h.cfg.Pruner == nil {
		return reply{}, registry.Errorf(registry.CodeUnavailable, "this server cannot prune (it has no bundle store configured); ask its operator")
	}
	got, err := h.cfg.Pruner.Prune(ctx, c.principal.Project, c.flow, req, c.principal.ID)
	if err != nil {
		return reply{}, fmt.Errorf("prune %s: %w", c.flow, err)
	}
	return reply{status: http.StatusOK, body: got}, nil
}
