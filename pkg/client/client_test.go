package client_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kitaru/deployments/pkg/blob/localblob"
	"github.com/kitaru/deployments/pkg/client"
	"github.com/kitaru/deployments/pkg/registry"
)

// request is what the fake server saw.
type request struct {
	Method, Path string
	Header       http.Header
	Body         map[string]any
}

// fakeServer answers every request with status and body and records it.
// It stands in for the Kitaru API until its invocation routes land.
type fakeServer struct {
	*httptest.Server
	mu   sync.Mutex
	seen []request
}

func newFakeServer(t *testing.T, status int, body string) *fakeServer {
	t.Helper()
	f := &fakeServer{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		data, _ := io.ReadAll(r.Body)
		var m map[string]any
		json.Unmarshal(data, &m)
		f.mu.Lock()
		f.seen = append(f.seen, request{r.Method, r.URL.EscapedPath(), r.Header.Clone(), m})
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Request-Id", "req-1")
		w.WriteHeader(status)
		io.WriteString(w, body)
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeServer) last(t *testing.T) request {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.seen) == 0 {
		t.Fatal("the server saw no request")
	}
	return f.seen[len(f.seen)-1]
}

// noPauses retries without waiting, for tests of answers that are retried.
var noPauses = client.WithRetryPolicy(client.RetryPolicy{Sleep: func(context.Context, time.Duration) error { return nil }})

func newClient(t *testing.T, url string, opts ...client.Option) *client.Client {
	t.Helper()
	c, err := client.New(url, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestRequestsFollowTheContract(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name     string
		call     func(c *client.Client) error
		answer   string
		want     request
		noHeader []string
	}{
		{
			name: "CreateArtifact posts the hex digest and size",
			call: func(c *client.Client) error {
				a, err := c.CreateArtifact(ctx, "sha256:"+strings.Repeat("a", 64), 42)
				if err == nil && (a.Exists || a.Upload == nil || a.Upload.URL != "http://s3/put" || a.Upload.Headers["Content-Length"] != "42") {
					t.Errorf("artifact %+v", a)
				}
				return err
			},
			answer: `{"digest":"sha256:aaa","exists":false,"upload":{"url":"http://s3/put","method":"PUT","headers":{"Content-Length":"42"},"expires_at":"2030-01-01T00:00:00Z"}}`,
			want:   request{Method: "POST", Path: "/v1/artifacts", Body: map[string]any{"sha256": strings.Repeat("a", 64), "size": 42.0}},
		},
		{
			name: "Deploy posts the entrypoint, an inline archive as base64 and the routing tag",
			call: func(c *client.Client) error {
				d, err := c.Deployments().Deploy(ctx, "research_agent", client.DeployRequest{
					Entrypoint: "flows/research.py:research_agent",
					Source:     &client.Source{Archive: []byte("tgz"), Commit: "abc", Dirty: true},
					Inputs:     json.RawMessage(`{"topic":"x"}`),
					Tag:        "canary", Exclusive: true, Stack: "dev", Description: "d",
				})
				if err == nil && (d.Version != 2 || !d.Tags["canary"]) {
					t.Errorf("deployment %+v", d)
				}
				return err
			},
			answer: `{"flow":"research_agent","version":2,"snapshot":"kitaru::research_agent::v2","tags":{"canary":true}}`,
			want: request{Method: "POST", Path: "/v1/flows/research_agent/deployments", Body: map[string]any{
				"entrypoint": "flows/research.py:research_agent",
				"source":     map[string]any{"archive": "dGd6", "commit": "abc", "dirty": true},
				"inputs":     map[string]any{"topic": "x"},
				"tag":        "canary", "exclusive": true, "stack": "dev", "description": "d",
			}},
		},
		{
			name: "Invoke posts the selector and inputs with the idempotency key as a header",
			call: func(c *client.Client) error {
				h, err := c.Deployments().Invoke(ctx, "research_agent", client.InvokeOptions{Selector: client.Selector{Version: 3}, Inputs: map[string]any{"topic": "y"}, IdempotencyKey: "k1"})
				if err == nil && (h.ExecID != "ex_1" || h.Execution.Status != registry.StatusRunning) {
					t.Errorf("handle %+v", h)
				}
				return err
			},
			answer: `{"exec_id":"ex_1","status":"running","flow":"research_agent","version":3}`,
			want:   request{Method: "POST", Path: "/v1/flows/research_agent/invocations", Header: http.Header{"Idempotency-Key": {"k1"}}, Body: map[string]any{"version": 3.0, "inputs": map[string]any{"topic": "y"}}},
		},
		{
			name: "Invoke without a selector sends neither tag nor version",
			call: func(c *client.Client) error {
				_, err := c.Deployments().Invoke(ctx, "f", client.InvokeOptions{})
				return err
			},
			answer: `{"exec_id":"ex_2","status":"running"}`,
			want:   request{Method: "POST", Path: "/v1/flows/f/invocations", Body: map[string]any{}},
		},
		{
			name:   "Executions.Get gets the execution by id",
			call:   func(c *client.Client) error { _, err := c.Executions().Get(ctx, "ex_3"); return err },
			answer: `{"exec_id":"ex_3","status":"completed","result":{"a":1}}`,
			want:   request{Method: "GET", Path: "/v1/executions/ex_3"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeServer(t, http.StatusOK, tt.answer)
			c := newClient(t, f.URL+"/", client.WithAuthToken("kat_secret"), client.WithProject("production"))
			if err := tt.call(c); err != nil {
				t.Fatal(err)
			}
			got := f.last(t)
			if got.Method != tt.want.Method || got.Path != tt.want.Path {
				t.Errorf("request %s %s, want %s %s", got.Method, got.Path, tt.want.Method, tt.want.Path)
			}
			if diff := cmp.Diff(tt.want.Body, got.Body); diff != "" {
				t.Errorf("body (-want +got):\n%s", diff)
			}
			if got.Header.Get("Authorization") != "Bearer kat_secret" || got.Header.Get("X-Kitaru-Project") != "production" {
				t.Errorf("headers %v lack the token or the project", got.Header)
			}
			for k := range tt.want.Header {
				if got.Header.Get(k) != tt.want.Header.Get(k) {
					t.Errorf("header %s = %q, want %q", k, got.Header.Get(k), tt.want.Header.Get(k))
				}
			}
			for _, k := range tt.noHeader {
				if v := got.Header.Get(k); v != "" {
					t.Errorf("header %s = %q, want none", k, v)
				}
			}
		})
	}
}

func TestErrorsCarryTheServersCode(t *testing.T) {
	tests := []struct {
		name       string
		status     int
		body       string
		wantIs     error
		wantCode   registry.Code
		wantText   string
		wantDetail string
	}{
		{"a not_found envelope matches registry.ErrNotFound", 404,
			`{"error":{"code":"not_found","message":"flow \"x\" has no deployments","details":{"flow":"x"}}}`,
			client.ErrNotFound, registry.CodeNotFound, `flow "x" has no deployments`, "x"},
		{"a conflict envelope matches registry.ErrConflict", 409,
			`{"error":{"code":"conflict","message":"tag moved"}}`, client.ErrConflict, registry.CodeConflict, "tag moved", ""},
		{"an unprocessable envelope keeps its code whatever the status", 422,
			`{"error":{"code":"unprocessable","message":"inputs.topic is required"}}`, client.ErrUnprocessable, registry.CodeUnprocessable, "inputs.topic", ""},
		{"a gateway error without an envelope is unavailable", 502, `<html>Bad Gateway</html>`, client.ErrUnavailable, registry.CodeUnavailable, "502", ""},
		{"a 404 without an envelope is not_found", 404, `not here`, client.ErrNotFound, registry.CodeNotFound, "not here", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeServer(t, tt.status, tt.body)
			_, err := newClient(t, f.URL, noPauses).Executions().Get(context.Background(), "ex_1")
			if !errors.Is(err, tt.wantIs) || registry.CodeOf(err) != tt.wantCode {
				t.Fatalf("error %v (code %s); want %s", err, registry.CodeOf(err), tt.wantCode)
			}
			var ce *client.Error
			if !errors.As(err, &ce) || ce.StatusCode != tt.status || ce.RequestID != "req-1" {
				t.Fatalf("error %#v is not a client.Error with status %d and the request id", err, tt.status)
			}
			if !strings.Contains(err.Error(), tt.wantText) {
				t.Errorf("message %q lacks %q", err.Error(), tt.wantText)
			}
			if tt.wantDetail != "" && ce.Details["flow"] != tt.wantDetail {
				t.Errorf("details %v", ce.Details)
			}
		})
	}
}

func TestAnUnreachableServerIsUnavailable(t *testing.T) {
	f := newFakeServer(t, 200, "{}")
	f.Close()
	_, err := newClient(t, f.URL, noPauses).Executions().Get(context.Background(), "ex_1")
	if !errors.Is(err, registry.ErrUnavailable) || !strings.Contains(err.Error(), "cannot reach the Kitaru server at "+f.URL) {
		t.Errorf("error %v; want unavailable naming the server", err)
	}
}

func TestNewRefusesABadURL(t *testing.T) {
	for _, u := range []string{"", "127.0.0.1:8787", "ftp://x", "http://"} {
		if _, err := client.New(u); err == nil {
			t.Errorf("New(%q) accepted it", u)
		}
	}
}

func TestUploadArtifactToAPresignedURL(t *testing.T) {
	srv, err := localblob.Start("")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	store := srv.Store()
	ctx := context.Background()
	data := []byte("bundle bytes")
	p, err := store.PresignPut(ctx, "bundles/sha256/x", int64(len(data)), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	c := newClient(t, "http://127.0.0.1:1", client.WithAuthToken("kat_secret"))

	t.Run("the bytes land in the store", func(t *testing.T) {
		up := client.Upload{URL: p.URL, Method: p.Method, Headers: p.Headers, ExpiresAt: p.ExpiresAt}
		if err := c.UploadArtifact(ctx, up, data); err != nil {
			t.Fatal(err)
		}
		if size, ok, err := store.Stat(ctx, "bundles/sha256/x"); err != nil || !ok || size != int64(len(data)) {
			t.Errorf("Stat = %d, %v, %v", size, ok, err)
		}
	})
	t.Run("a checksummed upload sends the signed checksum and stores the bytes", func(t *testing.T) {
		sum := sha256.Sum256(data)
		p, err := store.PresignPutSHA256(ctx, "bundles/default/sha256/y", int64(len(data)), sum[:], time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		up := client.Upload{URL: p.URL, Method: p.Method, Headers: p.Headers, ExpiresAt: p.ExpiresAt}
		if err := c.UploadArtifact(ctx, up, data); err != nil {
			t.Fatal(err)
		}
		if size, ok, err := store.Stat(ctx, "bundles/default/sha256/y"); err != nil || !ok || size != int64(len(data)) {
			t.Errorf("Stat = %d, %v, %v", size, ok, err)
		}
	})
	t.Run("bytes other than the signed checksum or length are refused before sending", func(t *testing.T) {
		sum := sha256.Sum256(data)
		f := newFakeServer(t, 200, "")
		for name, headers := range map[string]map[string]string{
			"another checksum": {"X-Amz-Checksum-Sha256": base64.StdEncoding.EncodeToString(make([]byte, 32))},
			"another length":   {"Content-Length": "549", "X-Amz-Checksum-Sha256": base64.StdEncoding.EncodeToString(sum[:])},
		} {
			err := c.UploadArtifact(ctx, client.Upload{URL: f.URL + "/put?X-Amz-Signature=s", Method: "PUT", Headers: headers}, data)
			if !errors.Is(err, registry.ErrInvalidArgument) {
				t.Errorf("%s: UploadArtifact = %v; want invalid_argument", name, err)
			}
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		if len(f.seen) != 0 {
			t.Errorf("%d requests reached the store", len(f.seen))
		}
	})
	t.Run("the upload carries no Kitaru credentials", func(t *testing.T) {
		f := newFakeServer(t, 200, "")
		if err := c.UploadArtifact(ctx, client.Upload{URL: f.URL + "/put?X-Amz-Signature=s", Method: "PUT"}, data); err != nil {
			t.Fatal(err)
		}
		if h := f.last(t).Header.Get("Authorization"); h != "" {
			t.Errorf("upload sent Authorization %q", h)
		}
	})
	t.Run("a refused upload is an error without the signature", func(t *testing.T) {
		f := newFakeServer(t, 403, "<Error>SignatureDoesNotMatch</Error>")
		err := c.UploadArtifact(ctx, client.Upload{URL: f.URL + "/put?X-Amz-Signature=secret", Method: "PUT"}, data)
		if !errors.Is(err, registry.ErrPermissionDenied) || strings.Contains(err.Error(), "secret") {
			t.Errorf("error %v; want permission_denied without the query", err)
		}
	})
}
