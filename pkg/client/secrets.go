package client

import (
	"context"
	"net/http"
	"net/url"

	"github.com/kitaru/deployments/pkg/api"
)

// Secret describes a flow secret of the project: its name and when it was
// last set. No call ever returns a value.
type Secret = api.Secret

// SetSecret creates or replaces a flow secret of the project
// (PUT /v1/secrets/{name}); deployments that name it in Secrets get it as
// the environment variable name when they run. Setting the same value again
// changes nothing else, so the call is retried like a read.
// Errors: invalid_argument (name or value), permission_denied (a consumer),
// payload_too_large (value over 32 KiB), unavailable (no secret store).
func (c *Client) SetSecret(ctx context.Context, name, value string) (Secret, error) {
	return fetch[Secret](ctx, c, call{method: http.MethodPut, path: secretPath(name), body: api.SecretRequest{Value: &value}, idempotent: true})
}

// Secrets lists the project's flow secrets by name, without values
// (GET /v1/secrets).
func (c *Client) Secrets(ctx context.Context) ([]Secret, error) {
	l, err := fetch[api.SecretList](ctx, c, call{method: http.MethodGet, path: "/v1/secrets", idempotent: true})
	return l.Items, err
}

// DeleteSecret removes a flow secret of the project (DELETE
// /v1/secrets/{name}). Errors: not_found, invalid_argument,
// permission_denied.
func (c *Client) DeleteSecret(ctx context.Context, name string) error {
	return c.do(ctx, call{method: http.MethodDelete, path: secretPath(name)}, nil)
}

func secretPath(name string) string { return "/v1/secrets/" + url.PathEscape(name) }
