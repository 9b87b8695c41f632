package client

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/kitaru/deployments/pkg/api"
	"github.com/kitaru/deployments/pkg/registry"
)

// Artifact is the answer of CreateArtifact: Exists is true when the server
// already has the bytes; else Upload says where to send them.
type Artifact = api.ArtifactStatus

// Upload is a presigned request that stores an artifact's bytes.
type Upload = api.Upload

// CreateArtifact announces a bundle by its digest ("sha256:<hex>") and size
// (POST /v1/artifacts) and returns where to upload it unless the server has
// it already. Errors: invalid_argument, payload_too_large.
func (c *Client) CreateArtifact(ctx context.Context, digest string, size int64) (Artifact, error) {
	body := api.ArtifactRequest{SHA256: strings.TrimPrefix(digest, "sha256:"), Size: size}
	return fetch[Artifact](ctx, c, call{method: http.MethodPost, path: "/v1/artifacts", body: body})
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
	if err := checkUploadHeaders(up.Headers, data); err != nil {
		return err
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
		return &Error{StatusCode: resp.StatusCode, Code: api.CodeOf(resp.StatusCode),
			Message: fmt.Sprintf("upload the bundle to %s: the store answered %s %s; if the upload URL expired, deploy again", redact(up.URL), resp.Status, strings.TrimSpace(string(snippet)))}
	}
	return nil
}

// checkUploadHeaders refuses, before sending, data that the upload's signed
// headers do not describe: the store would refuse it (S3 answers 400
// BadDigest or 403), and a store that does not check would keep bytes the
// deploy then refuses.
func checkUploadHeaders(headers map[string]string, data []byte) error {
	for k, v := range headers {
		switch http.CanonicalHeaderKey(k) {
		case "Content-Length":
			if v != strconv.Itoa(len(data)) {
				return registry.Errorf(registry.CodeInvalidArgument, "the upload URL is signed for %s bytes, the bundle has %d; announce the bundle again (kitaru deploy does this)", v, len(data))
			}
		case "X-Amz-Checksum-Sha256":
			sum := sha256.Sum256(data)
			if v != base64.StdEncoding.EncodeToString(sum[:]) {
				return registry.Errorf(registry.CodeInvalidArgument, "the upload URL is signed for other bytes (SHA-256 %s); announce the bundle again with its own digest (kitaru deploy does this)", v)
			}
		}
	}
	return nil
}

// Status is the answer of GET /v1/status: the server and who the
// connection's credential authenticates as.
type Status = api.Status

// Status checks the connection (GET /v1/status). Errors: unauthenticated,
// permission_denied.
func (c *Client) Status(ctx context.Context) (Status, error) {
	return fetch[Status](ctx, c, call{method: http.MethodGet, path: "/v1/status", idempotent: true})
}

// IssuedToken is a short-lived bearer token for the client's project.
type IssuedToken = api.Token

// CreateToken exchanges the client's API key for a token valid for ttl
// (POST /v1/auth/token); 0 asks for the server's default. Errors:
// unauthenticated, permission_denied (the credential is a token, not a
// key), invalid_argument (ttl out of range).
func (c *Client) CreateToken(ctx context.Context, ttl time.Duration) (IssuedToken, error) {
	body := api.TokenRequest{TTLSeconds: int64(ttl / time.Second)}
	return fetch[IssuedToken](ctx, c, call{method: http.MethodPost, path: "/v1/auth/token", body: body})
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
