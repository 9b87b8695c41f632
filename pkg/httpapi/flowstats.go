package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/kitaru/deployments/pkg/flowstats"
	"github.com/kitaru/deployments/pkg/registry"
)

// flowStats serves GET /v1/flows/{flow}/stats?tag=&version=&since=: the
// outcomes of each version on the flow's route (docs/flow-status.md).
func (h *Handler) flowStats(ctx context.Context, c *call) (reply, error) {
	f, err := c.routeFilter(h.cfg.Now())
	if err != nil {
		return reply{}, err
	}
	q := flowstats.Query{Project: c.principal.Project, Flow: c.flow, Tag: f.Tag, Version: f.Version, Since: f.Since}
	// A duration is measured by the service from the same now as its
	// window's bound (the clock moves while the request is served).
	if v, ok, _ := c.query("since"); ok {
		if ago, ok := sinceAgo(v); ok {
			q.Since, q.SinceAgo = time.Time{}, ago
		}
	}
	svc := flowstats.Service{Store: statsReader{h.store, h.cfg.Executions}, Now: h.cfg.Now}
	st, err := svc.Stats(ctx, q)
	if err != nil {
		return reply{}, fmt.Errorf("stats of %s: %w", c.flow, err)
	}
	return reply{status: http.StatusOK, body: st}, nil
}

// statsReader reads a flow's routes from the registry and its executions
// from the execution records.
type statsReader struct {
	registry.Store
	ExecutionReader
}
