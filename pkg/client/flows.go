package client

import (
	"context"
	"net/http"
	"net/url"
	"strconv"

	"github.com/kitaru/deployments/pkg/registry"
)

// ListOptions asks for one page of a list.
type ListOptions struct {
	// Limit is the page size, 1 to 200; 0 is the server's default (50).
	Limit int
	// NextToken is the previous page's NextToken; empty asks for the first.
	NextToken string
}

// query encodes the options as limit and next_token.
func (o ListOptions) query() url.Values {
	q := url.Values{}
	if o.Limit != 0 {
		q.Set("limit", strconv.Itoa(o.Limit))
	}
	if o.NextToken != "" {
		q.Set("next_token", o.NextToken)
	}
	return q
}

// Page is one page of a list (the server's registry.Page). NextToken is
// empty on the last page; otherwise pass it as ListOptions.NextToken to get
// the next one.
type Page[T any] = registry.Page[T]

// fetch sends r and decodes the answer as a T; the zero T on error.
func fetch[T any](ctx context.Context, c *Client, r call) (T, error) {
	var v T
	if err := c.do(ctx, r, &v); err != nil {
		var zero T
		return zero, err
	}
	return v, nil
}

// list gets one page of path.
func list[T any](ctx context.Context, c *Client, path string, opts ListOptions) (Page[T], error) {
	return fetch[Page[T]](ctx, c, call{method: http.MethodGet, path: path, query: opts.query(), idempotent: true})
}

// Flows lists the project's flows by name, each with its deployment count,
// latest version and routes (GET /v1/flows). Errors: invalid_argument (a
// bad limit or token).
func (c *Client) Flows(ctx context.Context, opts ListOptions) (Page[registry.FlowSummary], error) {
	return list[registry.FlowSummary](ctx, c, "/v1/flows", opts)
}

// Flow summarises one flow: its versions, the latest, the version default
// routes to, and every tag (GET /v1/flows/{flow}). Errors: not_found,
// invalid_argument.
func (c *Client) Flow(ctx context.Context, flow string) (registry.FlowSummary, error) {
	return fetch[registry.FlowSummary](ctx, c, call{method: http.MethodGet, path: flowPath(flow, ""), idempotent: true})
}
