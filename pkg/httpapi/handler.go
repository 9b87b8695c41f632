// Package httpapi serves the Kitaru HTTP API (DESIGN.md §4) as API Gateway
// REST proxy handlers: routing, strict JSON, the principal, and the mapping
// of domain errors to statuses and the error envelope.
//
// Routing uses only the request's method and path, so one handler works
// behind a {proxy+} resource and behind explicit resources. A request is
// checked in this order: principal (401), route (404, or 405 with Allow),
// role (403), path parameters (400), body and query (400/413), then the store.
//
// Decisions the contract leaves open:
//   - an empty path segment binds as an empty name, so /v1/flows//deployments
//     is a 400 "flow name is empty", not a 404;
//   - a query parameter given twice is a 400, never silently one of them;
//   - If-Match (a bare or quoted revision) is honoured on tag removal too;
//   - a deploy answers 201 with a Location header naming the new version;
//   - every write but invocations (which key their executions themselves) and
//     token issue runs once per Idempotency-Key, and a repeat gets the first
//     answer (idempotency.go, docs/idempotency.md);
//   - an authorizer context lacking any of its four keys is a 401; one with
//     none of them counts as absent (principal.go).
package httpapi

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/kitaru/deployments/pkg/api"
	"github.com/kitaru/deployments/pkg/deploydiff"
	"github.com/kitaru/deployments/pkg/execwatch"
	"github.com/kitaru/deployments/pkg/invoke"
	"github.com/kitaru/deployments/pkg/registry"
	"github.com/kitaru/deployments/pkg/secrets"
)

// Config configures a Handler.
type Config struct {
	// Stacks is the server's stack catalogue; deploys choose from it.
	Stacks registry.Stacks
	// Groups limits the routes served to those groups; empty serves all.
	Groups []Group
	// Logger receives one line per request; nil discards.
	Logger *slog.Logger
	// Now is the clock for request durations; nil is time.Now.
	Now func() time.Time
	// Invoker starts and cancels executions (the invoke group).
	Invoker Invoker
	// Executions reads execution records (the invoke group).
	Executions ExecutionReader
	// Watcher holds GET /v1/executions/{id}?wait= until the execution
	// ends; nil re-reads Executions with backoff (execwatch.Poller).
	Watcher ExecutionWatcher
	// Artifacts stores and checks source bundles (deploys and /v1/artifacts).
	Artifacts Artifacts
	// Bundles reads stored source bundles (GET /v1/flows/{flow}/diff);
	// nil answers that route 503.
	Bundles deploydiff.BundleReader
	// Logs reads execution logs (GET /v1/executions/{exec_id}/logs).
	Logs ExecutionLogs
	// Tokens issues bearer tokens (the auth group).
	Tokens TokenIssuer
	// ServerVersion is reported by GET /v1/status.
	ServerVersion string
	// RequestTimeout bounds one request: its context is cancelled then (or
	// when the caller's context ends, e.g. the client went away), so no
	// handler outlives its client. Zero is DefaultRequestTimeout.
	RequestTimeout time.Duration
	// Authenticate, when set, verifies the bearer of requests that arrive
	// without authorizer context (auth.Authenticator.Authenticate).
	Authenticate func(ctx context.Context, authorization, project string) (registry.Principal, error)
	// Secrets keeps the project's flow secrets (the /v1/secrets routes);
	// nil answers those routes 503.
	Secrets secrets.Store
	// Idempotency keeps the answers of writes sent with an Idempotency-Key
	// (docs/idempotency.md); nil uses the store when it is one.
	Idempotency registry.IdempotencyStore
	// Pruner serves POST /v1/flows/{flow}/prune (prune.Pruner); nil
	// answers it 503.
	Pruner Pruner
	// BundleGuard leases a deploy's source bundle so a prune cannot
	// delete it under the deploy (docs/prune.md); nil uses the store when
	// it is one.
	BundleGuard registry.BundleGuard
}

// Pruner prunes a flow's versions; prune.Pruner is one.
type Pruner interface {
	// Prune deletes what req allows and reports every version and bundle.
	// Errors: invalid_argument, not_found, unavailable.
	Prune(ctx context.Context, project, flow string, req registry.PruneRequest, by string) (registry.Pruning, error)
}

// Invoker starts and cancels executions; invoke.Service is one.
type Invoker interface {
	Invoke(ctx context.Context, req invoke.Request) (registry.Execution, bool, error)
	Cancel(ctx context.Context, project, execID string) (registry.Execution, error)
}

// ExecutionReader reads execution records; registry.ExecutionStore is one.
type ExecutionReader interface {
	GetExecution(ctx context.Context, project, execID string) (registry.Execution, error)
	ListExecutions(ctx context.Context, project, flow string, page registry.PageRequest) (registry.Page[registry.Execution], error)
	ListExecutionsBy(ctx context.Context, project, flow string, filter registry.ExecutionFilter, page registry.PageRequest) (registry.Page[registry.Execution], error)
}

// ExecutionWatcher holds a read of an execution until it ends; execwatch.Hub
// and execwatch.Poller are two.
type ExecutionWatcher interface {
	// Wait returns the execution once it is not running, or as it is at
	// until; when ctx ends first, an error wrapping ctx's. Errors: not_found.
	Wait(ctx context.Context, project, execID string, until time.Time) (registry.Execution, error)
}

// Artifacts keeps content-addressed source bundles.
type Artifacts interface {
	// Check answers whether a bundle is stored in the project and, if not,
	// where to upload it. Errors: invalid_argument (digest syntax), payload_too_large.
	Check(ctx context.Context, project, digest string, size int64) (api.ArtifactStatus, error)
	// SaveArchive validates an inline archive for the entrypoint file and stores it in the project.
	// Errors: invalid_argument, unprocessable (entrypoint missing), payload_too_large.
	SaveArchive(ctx context.Context, project string, archive []byte, entrypointFile string) (registry.Source, error)
	// VerifyDigest validates a bundle stored in the project for the entrypoint file.
	// Errors: not_found (not uploaded to this project), invalid_argument,
	// unprocessable (the stored bytes do not hash to digest, or no entrypoint).
	VerifyDigest(ctx context.Context, project, digest, entrypointFile string) (registry.Source, error)
}

// DefaultRequestTimeout is below API Gateway's 29 s integration timeout, so
// a request's work stops before the gateway gives up on it.
const DefaultRequestTimeout = 25 * time.Second

// Handler answers API Gateway proxy requests from a registry store.
type Handler struct {
	store registry.Store
	cfg   Config
}

// New returns a Handler on store.
func New(store registry.Store, cfg Config) *Handler {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = DefaultRequestTimeout
	}
	if cfg.Watcher == nil && cfg.Executions != nil {
		cfg.Watcher = execwatch.Poller{Reader: cfg.Executions}
	}
	if is, ok := store.(registry.IdempotencyStore); ok && cfg.Idempotency == nil {
		cfg.Idempotency = is
	}
	if g, ok := store.(registry.BundleGuard); ok && cfg.BundleGuard == nil {
		cfg.BundleGuard = g
	}
	return &Handler{store: store, cfg: cfg}
}

// call is one request on its way through the handler.
type call struct {
	req       events.APIGatewayProxyRequest
	route     string // the matched template, for logs
	principal registry.Principal
	params    map[string]string
	maxBody   int
	flow      string
	tag       string
	version   int
}

// Handle serves one request. Failures are answered with the error envelope;
// the returned error is non-nil only if not even that could be encoded.
func (h *Handler) Handle(ctx context.Context, req events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
	start := h.cfg.Now()
	requestID := req.RequestContext.RequestID
	c := &call{req: req}
	ctx, cancel := context.WithTimeout(ctx, h.cfg.RequestTimeout)
	defer cancel()
	r, err := h.serve(ctx, c)
	if err != nil && ctx.Err() != nil && registry.CodeOf(err) == registry.CodeInternal {
		// Work cut short by the deadline or a departed client is not a bug.
		err = fmt.Errorf("%w: %w", registry.Errorf(registry.CodeUnavailable, "the request did not finish within %v; retry it", h.cfg.RequestTimeout), err)
	}
	if err != nil {
		r = errorReply(err, requestID)
	}
	resp, encodeErr := r.response()
	if encodeErr != nil {
		err = encodeErr
		r = errorReply(err, requestID)
		resp, encodeErr = r.response()
	}
	h.log(ctx, c, r.status, start, err)
	return resp, encodeErr
}

// serve authenticates, routes and runs the endpoint.
func (h *Handler) serve(ctx context.Context, c *call) (r reply, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic serving %s %s: %v\n%s", c.req.HTTPMethod, c.route, p, debug.Stack())
		}
	}()
	if c.principal, err = h.principalOf(ctx, c); err != nil {
		return reply{}, err
	}
	e, params, allowed, found := h.route(c.req.HTTPMethod, c.req.Path)
	switch {
	case !found && len(allowed) > 0:
		r = errorReply(registry.Errorf(registry.CodeInvalidArgument, "method %s is not allowed here; use %s", c.req.HTTPMethod, strings.Join(allowed, ", ")), c.req.RequestContext.RequestID)
		r.status = http.StatusMethodNotAllowed
		r.header = map[string]string{"Allow": strings.Join(allowed, ", ")}
		return r, nil
	case !found:
		return reply{}, noRoute(c.req.HTTPMethod, c.req.Path)
	}
	c.route, c.params, c.maxBody = e.Path, params, e.maxBody
	if c.maxBody == 0 {
		c.maxBody = MaxBodyBytes
	}
	if err := authorize(c.principal, e); err != nil {
		return reply{}, err
	}
	if err := c.bind(params); err != nil {
		return reply{}, err
	}
	if c.req.HTTPMethod != http.MethodGet {
		key, keyed, err := c.idempotencyKey()
		if err != nil {
			return reply{}, err
		}
		if keyed && e.keyed {
			return h.serveOnce(ctx, c, e, key)
		}
	}
	return e.serve(h, ctx, c)
}

// bind validates the path parameters into c.
func (c *call) bind(params map[string]string) error {
	if flow, ok := params["flow"]; ok {
		if err := registry.ValidateFlowName(flow); err != nil {
			return err
		}
		c.flow = flow
	}
	if tag, ok := params["tag"]; ok {
		if err := registry.ValidateTagName(tag); err != nil {
			return err
		}
		c.tag = tag
	}
	if v, ok := params["version"]; ok {
		version, err := registry.ParseVersion(v)
		if err != nil {
			return err
		}
		c.version = version
	}
	return nil
}

// log writes the one line per request. Bodies and headers are never logged.
func (h *Handler) log(ctx context.Context, c *call, status int, start time.Time, err error) {
	attrs := []slog.Attr{
		slog.String("request_id", c.req.RequestContext.RequestID),
		slog.String("project", c.principal.Project),
		slog.String("method", c.req.HTTPMethod),
		slog.String("route", c.route),
		slog.String("flow", c.flow),
		slog.Int("status", status),
		slog.Int64("duration_ms", h.cfg.Now().Sub(start).Milliseconds()),
	}
	level := slog.LevelInfo
	if status >= http.StatusInternalServerError {
		level = slog.LevelError
		attrs = append(attrs, slog.Any("error", err))
	}
	h.cfg.Logger.LogAttrs(ctx, level, "request", attrs...)
}

// query returns a query string parameter and whether it was given; a
// parameter given more than once is refused rather than silently picked.
func (c *call) query(name string) (string, bool, error) {
	if vs := c.req.MultiValueQueryStringParameters[name]; len(vs) > 1 {
		return "", false, registry.Errorf(registry.CodeInvalidArgument, "query parameter %s is given %d times; pass it once", name, len(vs))
	}
	v, ok := c.req.QueryStringParameters[name]
	if !ok {
		if vs := c.req.MultiValueQueryStringParameters[name]; len(vs) == 1 {
			return vs[0], true, nil
		}
	}
	return v, ok, nil
}

// header returns a request header, matching its name case-insensitively as
// HTTP does (API Gateway keeps the client's spelling).
func (c *call) header(name string) string {
	for k, v := range c.req.Headers {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	for k, vs := range c.req.MultiValueHeaders {
		if strings.EqualFold(k, name) && len(vs) > 0 {
			return vs[len(vs)-1]
		}
	}
	return ""
}

// page reads the limit and next_token query parameters.
func (c *call) page() (registry.PageRequest, error) {
	var p registry.PageRequest
	limit, ok, err := c.query("limit")
	if err != nil {
		return p, err
	}
	if ok {
		n, err := strconv.Atoi(limit)
		if err != nil || n < 1 || n > registry.MaxPageSize || strconv.Itoa(n) != limit {
			return p, registry.Errorf(registry.CodeInvalidArgument, "limit %q is out of range: use 1 to %d, without sign or leading zeros", limit, registry.MaxPageSize)
		}
		p.Limit = n
	}
	if p.Token, _, err = c.query("next_token"); err != nil {
		return p, err
	}
	return p, p.Normalize()
}

// listReply answers a page, with items as [] rather than null when empty.
func listReply[T any](p registry.Page[T]) reply {
	if p.Items == nil {
		p.Items = []T{}
	}
	return reply{status: http.StatusOK, body: p}
}
