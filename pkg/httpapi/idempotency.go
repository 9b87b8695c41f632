package httpapi

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/kitaru/deployments/pkg/registry"
)

// HeaderReplayed marks an answer replayed for a repeated Idempotency-Key.
const HeaderReplayed = "Idempotent-Replayed"

// settleTimeout bounds storing or releasing a claim after the request's own
// context ended (the client went away, or the deadline passed).
const settleTimeout = 5 * time.Second

// idempotencyKey returns the request's Idempotency-Key and whether it sent
// one. A header that is sent must be a valid key (sent empty, it is not);
// sent twice with different values, it is refused.
func (c *call) idempotencyKey() (string, bool, error) {
	var values []string
	for k, v := range c.req.Headers {
		if strings.EqualFold(k, registry.HeaderIdempotencyKey) {
			values = append(values, v)
		}
	}
	for k, vs := range c.req.MultiValueHeaders {
		if strings.EqualFold(k, registry.HeaderIdempotencyKey) {
			values = append(values, vs...)
		}
	}
	if len(values) == 0 {
		return "", false, nil
	}
	slices.Sort(values)
	if values = slices.Compact(values); len(values) > 1 {
		return "", false, registry.Errorf(registry.CodeInvalidArgument, "header %s is sent %d times with different values; send one key", registry.HeaderIdempotencyKey, len(values)).
			WithDetails("header", registry.HeaderIdempotencyKey)
	}
	key := strings.TrimSpace(values[0])
	if err := registry.ValidateIdempotencyKey(key); err != nil {
		return "", false, err
	}
	return key, true, nil
}

// fingerprint identifies the request for its Idempotency-Key: the method,
// the route with its parameters, the query, the headers that change what a
// write does (If-Match) and the body, canonically.
func (c *call) fingerprint() string {
	parts := []string{c.req.HTTPMethod, c.route}
	for _, k := range slices.Sorted(maps.Keys(c.params)) {
		parts = append(parts, k+"="+c.params[k])
	}
	q := url.Values{}
	for k, v := range c.req.QueryStringParameters {
		q[k] = []string{v}
	}
	for k, vs := range c.req.MultiValueQueryStringParameters {
		q[k] = vs
	}
	parts = append(parts, "?"+q.Encode(), "If-Match: "+strings.TrimSpace(c.header("If-Match")))
	body, err := bodyOf(c.req, c.maxBody)
	if err != nil {
		body = []byte(c.req.Body) // refused by the route too: its answer is what is kept
	}
	return registry.Fingerprint(parts, body)
}

// serveOnce runs a keyed write at most once per (project, principal, key):
// it claims the key, runs the route and keeps its answer when it is final
// (2xx and 4xx but 429), so that a repeat of the request gets that answer
// byte for byte, marked with Idempotent-Replayed. A failure a retry may
// cure (5xx, 429, a panic) releases the claim instead, so the retry runs
// the write again. docs/idempotency.md has the whole design.
func (h *Handler) serveOnce(ctx context.Context, c *call, e endpoint, key string) (reply, error) {
	if h.cfg.Idempotency == nil {
		return reply{}, fmt.Errorf("route %s %s takes an %s but the handler has no idempotency store; wire Config.Idempotency", e.Method, e.Path, registry.HeaderIdempotencyKey)
	}
	claim := registry.IdempotencyClaim{
		Project: c.principal.Project, Principal: c.principal.ID, Key: key,
		Fingerprint: c.fingerprint(), Token: rand.Text(), Lease: registry.IdempotencyLease,
	}
	prior, claimed, err := h.cfg.Idempotency.ClaimIdempotencyKey(ctx, claim)
	if err != nil {
		return reply{}, fmt.Errorf("claim %s: %w", registry.HeaderIdempotencyKey, err)
	}
	if !claimed {
		header := maps.Clone(prior.Headers)
		if header == nil {
			header = map[string]string{}
		}
		header[HeaderReplayed] = "true"
		return reply{status: prior.Status, raw: &prior.Body, header: header}, nil
	}
	// The claim is settled whatever happens to ctx: the write may have
	// committed after the client left.
	settleCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), settleTimeout)
	defer cancel()
	settled := false
	defer func() {
		if settled {
			return
		}
		if err := h.cfg.Idempotency.ReleaseIdempotencyKey(settleCtx, claim); err != nil {
			h.cfg.Logger.LogAttrs(ctx, slog.LevelWarn, "release idempotency key", slog.String("request_id", c.req.RequestContext.RequestID), slog.Any("error", err))
		}
	}()
	r, err := e.serve(h, ctx, c)
	if err != nil {
		r = errorReply(err, c.req.RequestContext.RequestID)
	}
	if r.status >= http.StatusInternalServerError || r.status == http.StatusTooManyRequests {
		return reply{}, err // released: a retry runs the write again
	}
	resp, encodeErr := r.response()
	if encodeErr != nil {
		return reply{}, encodeErr
	}
	// Kept even when storing fails: the write committed, so releasing would
	// let a retry do it twice; the claim's lease ends instead.
	settled = true
	if err := h.cfg.Idempotency.CompleteIdempotencyKey(settleCtx, claim, registry.StoredResponse{Status: resp.StatusCode, Body: resp.Body, Headers: resp.Headers}); err != nil {
		h.cfg.Logger.LogAttrs(ctx, slog.LevelWarn, "store idempotent answer", slog.String("request_id", c.req.RequestContext.RequestID), slog.Any("error", err))
	}
	return reply{status: resp.StatusCode, raw: &resp.Body, header: resp.Headers}, nil
}
