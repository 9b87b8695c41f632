package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/kitaru/deployments/pkg/registry"
)

// Artifact is the answer of CreateArtifact.
type Artifact struct {
	Digest string `json:"digest"`
	// Exists is true when the server already has these bytes; Upload is
	// then nil and nothing needs to be sent.
	Exists bool    `json:"exists"`
	Upload *Upload `json:"upload,omitempty"`
}

// Upload is a presigned request that stores an artifact's bytes.
type Upload struct {
	URL       string            `json:"url"`
	Method    string            `json:"method"`
	Headers   map[string]string `json:"headers,omitempty"`
	ExpiresAt time.Time         `json:"expires_at"`
}

// CreateArtifact announces a bundle by its digest ("sha256:<hex>") and size
// (POST /v1/artifacts) and returns where to upload it unless the server has
// it already. Errors: invalid_argument, payload_too_large.
func (c *Client) CreateArtifact(ctx context.Context, digest string, size int64) (Artifact, error) {
	body := struct {
		SHA256 string `json:"sha256"`
		Size   int64  `json:"size"`
	}{strings.TrimPrefix(digest, "sha256:"), size}
	var a Artifact
	if err := c.do(ctx, http.MethodPost, "/v1/artifacts", nil, body, &a); err != nil {
		return Artifact{}, err
	}
	return a, nil
}

// UploadArtifact sends data to an Upload's presigned URL. It carries no
// Kitaru credentials: the URL is the authorization.
func (c *Client) UploadArtifact(ctx context.Context, up Upload, data []byte) error {
	method := up.Method
	if method == "" {
		method = http.MethodPut
	}
	req, err := http.NewRequestWithContext(ctx, method, up.URL, bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("upload bundle: %w", err)
	}
	for k, v := range up.Headers {
		req.Header.Set(k, v) // Content-Length is taken from the body
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return &Error{Code: registry.CodeUnavailable, Message: fmt.Sprintf("upload the bundle to %s: %v", redact(up.URL), unwrapURLError(err))}
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return &Error{StatusCode: resp.StatusCode, Code: codeForStatus(resp.StatusCode),
			Message: fmt.Sprintf("upload the bundle to %s: the store answered %s %s; if the upload URL expired, deploy again", redact(up.URL), resp.Status, strings.TrimSpace(string(snippet)))}
	}
	return nil
}

// Source names a deployment's bundle: Digest after CreateArtifact and
// UploadArtifact, or Archive inline (at most bundle.MaxInlineArchiveBytes).
type Source struct {
	Digest  string `json:"digest,omitempty"`
	Archive []byte `json:"archive,omitempty"` // base64 in JSON
	Commit  string `json:"commit,omitempty"`
	Dirty   bool   `json:"dirty,omitempty"`
}

// DeployRequest is the body of POST /v1/flows/{flow}/deployments.
type DeployRequest struct {
	Entrypoint  string          `json:"entrypoint"` // path/to/file.py:function, relative to the project root
	Source      *Source         `json:"source,omitempty"`
	Inputs      json.RawMessage `json:"inputs,omitempty"`
	InputSchema json.RawMessage `json:"input_schema,omitempty"`
	Tag         string          `json:"tag,omitempty"`
	Exclusive   bool            `json:"exclusive,omitempty"`
	Stack       string          `json:"stack,omitempty"`
	Description string          `json:"description,omitempty"`
}

// Deploy creates the next version of flow. Errors: invalid_argument,
// unprocessable, payload_too_large, precondition_failed (stack not
// remote-executable), conflict.
func (c *Client) Deploy(ctx context.Context, flow string, req DeployRequest) (registry.Deployment, error) {
	var d registry.Deployment
	if err := c.do(ctx, http.MethodPost, flowPath(flow, "/deployments"), nil, req, &d); err != nil {
		return registry.Deployment{}, err
	}
	return d, nil
}

// InvokeRequest selects a deployment (a tag, a version, or neither for the
// default tag) and overrides its inputs.
type InvokeRequest struct {
	Tag     string          `json:"tag,omitempty"`
	Version int             `json:"version,omitempty"`
	Inputs  json.RawMessage `json:"inputs,omitempty"`
	// IdempotencyKey is sent as the Idempotency-Key header: the same key
	// within a day returns the same execution instead of starting another.
	IdempotencyKey string `json:"-"`
}

// Invoke starts an execution of flow (POST /v1/flows/{flow}/invocations).
// Errors: not_found, invalid_argument, unprocessable, precondition_failed.
func (c *Client) Invoke(ctx context.Context, flow string, req InvokeRequest) (registry.Execution, error) {
	var header http.Header
	if req.IdempotencyKey != "" {
		header = http.Header{"Idempotency-Key": {req.IdempotencyKey}}
	}
	var e registry.Execution
	if err := c.do(ctx, http.MethodPost, flowPath(flow, "/invocations"), header, req, &e); err != nil {
		return registry.Execution{}, err
	}
	return e, nil
}

// GetExecution returns one execution. Errors: not_found.
func (c *Client) GetExecution(ctx context.Context, execID string) (registry.Execution, error) {
	var e registry.Execution
	if err := c.do(ctx, http.MethodGet, "/v1/executions/"+url.PathEscape(execID), nil, nil, &e); err != nil {
		return registry.Execution{}, err
	}
	return e, nil
}

// Status is the answer of GET /v1/status: the server and who the
// connection's credential authenticates as.
type Status struct {
	ServerVersion string              `json:"server_version"`
	Project       string              `json:"project"`
	Principal     string              `json:"principal"`
	Role          registry.Role       `json:"role"`
	Credential    registry.Credential `json:"credential"`
}

// Status checks the connection (GET /v1/status). Errors: unauthenticated,
// permission_denied.
func (c *Client) Status(ctx context.Context) (Status, error) {
	var s Status
	if err := c.do(ctx, http.MethodGet, "/v1/status", nil, nil, &s); err != nil {
		return Status{}, err
	}
	return s, nil
}

// IssuedToken is a short-lived bearer token for the client's project.
type IssuedToken struct {
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expires_at"`
}

// CreateToken exchanges the client's API key for a token valid for ttl
// (POST /v1/auth/token); 0 asks for the server's default. Errors:
// unauthenticated, permission_denied (the credential is a token, not a
// key), invalid_argument (ttl out of range).
func (c *Client) CreateToken(ctx context.Context, ttl time.Duration) (IssuedToken, error) {
	var body struct {
		TTLSeconds int64 `json:"ttl_seconds,omitempty"`
	}
	body.TTLSeconds = int64(ttl / time.Second)
	var t IssuedToken
	if err := c.do(ctx, http.MethodPost, "/v1/auth/token", nil, body, &t); err != nil {
		return IssuedToken{}, err
	}
	return t, nil
}

// redact drops the query of a presigned URL, which is a credential.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "the upload URL"
	}
	u.RawQuery = ""
	return u.String()
}
