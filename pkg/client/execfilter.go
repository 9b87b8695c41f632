package client

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/kitaru/deployments/pkg/registry"
)

// ExecutionListOptions asks for one page of a flow's executions that pass
// the filters set (all of them); see docs/executions.md.
type ExecutionListOptions struct {
	ListOptions
	// Version keeps the executions that ran this version, however invoked.
	Version int
	// Tag keeps the executions invoked through this tag (their selector).
	Tag string
	// Status keeps the executions in this state.
	Status registry.ExecStatus
	// Since keeps the executions started at or after this time.
	Since time.Time
	// SinceAgo keeps the executions started at most this long before the
	// server's now (e.g. time.Hour); ignored when Since is set.
	SinceAgo time.Duration
}

// ListBy returns one page of flow's executions that pass the filters,
// newest first. A page may hold fewer than Limit items while NextToken is
// set: keep paging until NextToken is empty. Errors: invalid_argument.
func (e *Executions) ListBy(ctx context.Context, flow string, opts ExecutionListOptions) (Page[registry.Execution], error) {
	q := opts.query()
	if opts.Version != 0 {
		q.Set("version", strconv.Itoa(opts.Version))
	}
	if opts.Tag != "" {
		q.Set("tag", opts.Tag)
	}
	if opts.Status != "" {
		q.Set("status", string(opts.Status))
	}
	setSince(q, opts.Since, opts.SinceAgo)
	return fetch[Page[registry.Execution]](ctx, e.c, call{method: http.MethodGet, path: flowPath(flow, "/executions"), query: q, idempotent: true})
}

// setSince sets the since query parameter: the time when set, else the
// duration before the server's now when positive.
func setSince(q url.Values, since time.Time, ago time.Duration) {
	switch {
	case !since.IsZero():
		q.Set("since", since.UTC().Format(time.RFC3339Nano))
	case ago > 0:
		q.Set("since", ago.String())
	}
}
