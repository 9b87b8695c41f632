// Package client is the Go SDK of the Kitaru HTTP API.
//
// A Client talks to one server as one project, usually the active
// connection (NewFromEnvironment). Deployments deploys, lists, resolves,
// tags and invokes flows; Executions follows and cancels the runs that
// invocations start. Errors carry the server's code, so
// errors.Is(err, client.ErrNotFound) works across the wire. Reads are
// retried with jittered backoff on 429, 5xx and connection errors (see
// RetryPolicy), and so are writes: each logical write sends one
// Idempotency-Key on all its attempts, so the server runs it once and
// answers a retry whose first attempt committed with the first answer.
package client

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/kitaru/deployments/pkg/api"
	"github.com/kitaru/deployments/pkg/registry"
)

// Client calls one Kitaru server. It is safe for concurrent use.
type Client struct {
	base    *url.URL
	http    *http.Client
	token   string
	project string
	retry   RetryPolicy
	// routes holds the route revisions this client's changes were
	// answered, sent back on its resolves and invokes (routerevision.go).
	routes *RouteRevisions
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient sends requests through hc instead of http.DefaultClient.
func WithHTTPClient(hc *http.Client) Option { return func(c *Client) { c.http = hc } }

// WithAuthToken sends "Authorization: Bearer token" on API requests (never
// on presigned uploads).
func WithAuthToken(token string) Option { return func(c *Client) { c.token = token } }

// WithProject sends "X-Kitaru-Project: project" on API requests.
func WithProject(project string) Option { return func(c *Client) { c.project = project } }

// WithRetryPolicy replaces DefaultRetryPolicy; zero fields keep their
// defaults, and MaxAttempts 1 turns retries off.
func WithRetryPolicy(p RetryPolicy) Option { return func(c *Client) { c.retry = p.withDefaults() } }

// New returns a client of the server at baseURL, e.g. http://127.0.0.1:8787.
func New(baseURL string, opts ...Option) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(baseURL, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("server URL %q is invalid: use http(s)://host[:port]", baseURL)
	}
	c := &Client{base: u, http: http.DefaultClient, retry: DefaultRetryPolicy(), routes: &RouteRevisions{}}
	for _, opt := range opts {
		opt(c)
	}
	return c, nil
}

// BaseURL returns the server's URL.
func (c *Client) BaseURL() string { return c.base.String() }

// Deployments returns the deployment API of the client's project.
func (c *Client) Deployments() *Deployments { return &Deployments{c: c} }

// Executions returns the execution API of the client's project.
func (c *Client) Executions() *Executions { return &Executions{c: c} }

// call is one API request.
type call struct {
	method, path string
	query        url.Values
	header       http.Header
	body         any // encoded as JSON; nil sends no body
	// idempotent requests may be sent again after a retryable failure.
	idempotent bool
	// keyed writes carry an Idempotency-Key, the one in header or else a
	// fresh one for this call, the same on every attempt: the server runs
	// the write once and answers a retry with the first answer, so they are
	// retried like idempotent requests.
	keyed bool
	// answered, when set, sees the 2xx answer and which attempt got it.
	answered func(attempt int, resp *http.Response)
	// route, when set, is the tag the call changes or resolves.
	route *routeRef
}

// HeaderIdempotencyKey is the header that makes a write run once per key.
const HeaderIdempotencyKey = registry.HeaderIdempotencyKey

// headerReplayed marks an answer the server replayed for a repeated key.
const headerReplayed = "Idempotent-Replayed"

// NewIdempotencyKey returns a fresh random key for one logical write.
func NewIdempotencyKey() string { return "kik_" + rand.Text() }

// do sends the call, retrying it per the client's RetryPolicy when it is
// idempotent, and decodes a 2xx answer into out (nil to discard it).
func (c *Client) do(ctx context.Context, r call, out any) error {
	var payload []byte
	if r.body != nil {
		var err error
		if payload, err = json.Marshal(r.body); err != nil {
			return fmt.Errorf("encode %s %s: %w", r.method, r.path, err)
		}
	}
	if r.keyed && r.header.Get(HeaderIdempotencyKey) == "" {
		r.header = r.header.Clone()
		if r.header == nil {
			r.header = http.Header{}
		}
		r.header.Set(HeaderIdempotencyKey, NewIdempotencyKey())
	}
	r.header = c.routes.attach(r)
	attempts := 1
	if r.idempotent || r.keyed {
		attempts = max(c.retry.MaxAttempts, 1)
	}
	for attempt := 1; ; attempt++ {
		resp, data, err := c.send(ctx, r, payload)
		if err == nil {
			c.routes.note(r, resp)
			if r.answered != nil {
				r.answered(attempt, resp)
			}
			if out == nil || len(data) == 0 {
				return nil
			}
			if err := json.Unmarshal(data, out); err != nil {
				return &Error{StatusCode: resp.StatusCode, Code: registry.CodeInternal, Message: fmt.Sprintf("the answer to %s %s is not the expected JSON: %v", r.method, r.path, err)}
			}
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if attempt >= attempts || !retryable(err) {
			return err
		}
		if perr := c.retry.pause(ctx, attempt, resp); errors.Is(perr, errNoRetry) {
			return err // waiting cannot help: the server's answer says more
		} else if perr != nil {
			return perr // the context ended during the pause
		}
	}
}

// send makes one attempt. It returns the response (nil when the server was
// not reached), its body, and an *Error for anything but a 2xx answer.
func (c *Client) send(ctx context.Context, r call, payload []byte) (*http.Response, []byte, error) {
	target := c.base.String() + r.path
	if len(r.query) > 0 {
		target += "?" + r.query.Encode()
	}
	var rd io.Reader
	if payload != nil {
		rd = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, target, rd)
	if err != nil {
		return nil, nil, fmt.Errorf("%s %s: %w", r.method, r.path, err)
	}
	for k, vs := range r.header {
		req.Header[k] = vs
	}
	req.Header.Set("Accept", "application/json")
	if payload != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if c.project != "" {
		req.Header.Set("X-Kitaru-Project", c.project)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, nil, &Error{Code: registry.CodeUnavailable, Message: fmt.Sprintf("cannot reach the Kitaru server at %s: %v", c.base, unwrapURLError(err))}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return resp, nil, &Error{StatusCode: resp.StatusCode, Code: registry.CodeUnavailable, Message: fmt.Sprintf("reading the answer to %s %s: %v", r.method, r.path, err)}
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp, data, errorFrom(resp, data)
	}
	return resp, data, nil
}

// maxResponseBytes bounds an answer read into memory.
const maxResponseBytes = 16 << 20

// Error is a failed API call. It unwraps to a *registry.Error with the
// server's code, so errors.Is(err, client.ErrConflict) and
// registry.CodeOf(err) work on it.
type Error struct {
	StatusCode int // 0 when the server was not reached
	Code       registry.Code
	Message    string
	Details    map[string]any
	// RequestID is the server's request id, when it sent one.
	RequestID string
	// Server is the X-Kitaru-Server header of the answer: ServerKitaruDev
	// when kitaru dev answered, empty from API Gateway.
	Server string
}

// ServerKitaruDev is the X-Kitaru-Server header of kitaru dev
// (devstack.ServerName; not imported to keep the client free of the server).
const ServerKitaruDev = "kitaru-dev"

// Error returns the server's message, which says what to do next.
func (e *Error) Error() string { return e.Message }

// Unwrap returns the domain error with the server's code and message.
func (e *Error) Unwrap() error {
	return &registry.Error{Code: e.Code, Message: e.Message, Details: e.Details}
}

// errorFrom builds the Error for a non-2xx answer: from the envelope when
// there is one, else from the status (a proxy or gateway answered).
func errorFrom(resp *http.Response, data []byte) *Error {
	e := &Error{StatusCode: resp.StatusCode, RequestID: resp.Header.Get("X-Request-Id"), Server: resp.Header.Get("X-Kitaru-Server")}
	var env api.ErrorBody
	if json.Unmarshal(data, &env) == nil && env.Error.Code != "" {
		e.Code, e.Message, e.Details = env.Error.Code, env.Error.Message, env.Error.Details
		return e
	}
	e.Code = api.CodeOf(resp.StatusCode)
	snippet := strings.TrimSpace(string(data))
	if len(snippet) > 200 {
		snippet = snippet[:200] + "…"
	}
	e.Message = fmt.Sprintf("the server answered %s", resp.Status)
	if snippet != "" {
		e.Message += ": " + snippet
	}
	return e
}

func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// flowPath is /v1/flows/{flow}/rest with the flow escaped.
func flowPath(flow, rest string) string {
	return "/v1/flows/" + url.PathEscape(flow) + rest
}

// sleep waits d or until ctx ends, whichever is first.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
