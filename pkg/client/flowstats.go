package client

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/kitaru/deployments/pkg/flowstats"
)

// FlowStats is the outcomes of each version on a flow's route (the
// server's flowstats.Stats).
type FlowStats = flowstats.Stats

// VersionStats is one version's row of FlowStats.
type VersionStats = flowstats.VersionStats

// FlowStatsOptions narrows FlowStats; the zero value is every version on
// the route over the last 24 hours.
type FlowStatsOptions struct {
	// Tag counts only the executions invoked through this tag, on the
	// versions it routes to.
	Tag string
	// Version counts only the executions of this version.
	Version int
	// Since is the window's start, at most 30 days back.
	Since time.Time
	// SinceAgo is the window's length before the server's now (e.g.
	// time.Hour); ignored when Since is set.
	SinceAgo time.Duration
}

// FlowStats reports, per version on the flow's route, the executions
// started, completed, failed, cancelled and running in the window, their
// p50 and p95 durations and the last failure (GET /v1/flows/{flow}/stats).
// Sampled in the answer says a bound cut the read (docs/flow-status.md).
// Errors: not_found (flow, tag or version), invalid_argument (reason
// since_invalid or since_out_of_range).
func (c *Client) FlowStats(ctx context.Context, flow string, opts FlowStatsOptions) (FlowStats, error) {
	q := url.Values{}
	if opts.Tag != "" {
		q.Set("tag", opts.Tag)
	}
	if opts.Version != 0 {
		q.Set("version", strconv.Itoa(opts.Version))
	}
	setSince(q, opts.Since, opts.SinceAgo)
	return fetch[FlowStats](ctx, c, call{method: http.MethodGet, path: flowPath(flow, "/stats"), query: q, idempotent: true})
}
