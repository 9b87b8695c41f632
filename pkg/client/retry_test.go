package client_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kitaru/deployments/pkg/client"
)

// fakeFlakyServer stands in for an overloaded Kitaru server: it answers
// the first failures requests with status (and Retry-After when set), or
// drops their connections when status is 0, then 200 with body. It counts
// the requests it saw.
type fakeFlakyServer struct {
	*httptest.Server
	mu       sync.Mutex
	requests int
}

func newFakeFlakyServer(t *testing.T, failures, status int, retryAfter, body string) *fakeFlakyServer {
	t.Helper()
	f := &fakeFlakyServer{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		f.mu.Lock()
		f.requests++
		n := f.requests
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if n <= failures && status == 0 {
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close() // the connection drops before an answer
			}
			return
		}
		if n <= failures {
			if retryAfter != "" {
				w.Header().Set("Retry-After", retryAfter)
			}
			w.WriteHeader(status)
			io.WriteString(w, `{"error":{"code":"`+fakeCodes[status]+`","message":"the server is busy; retry"}}`)
			return
		}
		io.WriteString(w, body)
	}))
	t.Cleanup(f.Close)
	return f
}

// fakeCodes are the codes of the statuses the flaky server fails with.
var fakeCodes = map[int]string{400: "invalid_argument", 429: "rate_limited", 500: "internal", 503: "unavailable"}

func (f *fakeFlakyServer) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.requests
}

// pauses records the pauses a client takes instead of sleeping.
type pauses struct {
	mu  sync.Mutex
	got []time.Duration
}

func (p *pauses) sleep(_ context.Context, d time.Duration) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.got = append(p.got, d)
	return nil
}

func (p *pauses) all() []time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]time.Duration(nil), p.got...)
}

// answer is a body every call below decodes.
const answer = `{"exec_id":"ex_1","status":"running","flow":"f","version":1,"tag":"t","versions":[1]}`

func TestRetriesReadsAndKeyedWrites(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name         string
		call         func(c *client.Client) error
		wantRequests int
	}{
		{"a GET is retried and succeeds", func(c *client.Client) error { _, err := c.Executions().Get(ctx, "ex_1"); return err }, 3},
		{"a list is retried", func(c *client.Client) error {
			_, err := c.Deployments().List(ctx, "f", client.ListOptions{})
			return err
		}, 3},
		{"a tag put is retried", func(c *client.Client) error {
			_, err := c.Deployments().Tag(ctx, "f", "t", 1, client.TagOptions{Exclusive: true})
			return err
		}, 3},
		{"a delete is retried", func(c *client.Client) error { return c.Deployments().Delete(ctx, "f", 1) }, 3},
		{"a cancel is retried", func(c *client.Client) error { _, err := c.Executions().Cancel(ctx, "ex_1"); return err }, 3},
		{"an invoke with an idempotency key is retried", func(c *client.Client) error {
			_, err := c.Deployments().Invoke(ctx, "f", client.InvokeOptions{IdempotencyKey: "k"})
			return err
		}, 3},
		{"a pinned invoke with an idempotency key is retried", func(c *client.Client) error {
			d, err := c.Deployments().Get(ctx, "f", 1)
			if err != nil {
				return err
			}
			_, err = d.Invoke(ctx, client.InvokeOptions{IdempotencyKey: "k"})
			return err
		}, 3 + 1},
		{"a deploy is retried with its key", func(c *client.Client) error {
			_, err := c.Deployments().Deploy(ctx, "f", client.DeployRequest{Entrypoint: "f.py:f"})
			return err
		}, 3},
		{"an invoke without an idempotency key is retried with a key of its own", func(c *client.Client) error {
			_, err := c.Deployments().Invoke(ctx, "f", client.InvokeOptions{})
			return err
		}, 3},
		{"a rollback is retried with its key", func(c *client.Client) error { _, err := c.Deployments().Rollback(ctx, "f", "t"); return err }, 3},
		{"an artifact announcement is not retried", func(c *client.Client) error {
			_, err := c.CreateArtifact(ctx, "sha256:"+strings.Repeat("0", 64), 1)
			return err
		}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeFlakyServer(t, 2, http.StatusServiceUnavailable, "", answer)
			var p pauses
			err := tt.call(newClient(t, f.URL, client.WithRetryPolicy(client.RetryPolicy{Sleep: p.sleep})))
			if got := f.count(); got != tt.wantRequests {
				t.Errorf("%d requests, want %d", got, tt.wantRequests)
			}
			if tt.wantRequests == 1 {
				if !errors.Is(err, client.ErrUnavailable) {
					t.Errorf("error %v; want the server's unavailable", err)
				}
				if n := len(p.all()); n != 0 {
					t.Errorf("%d pauses, want none", n)
				}
				return
			}
			if err != nil {
				t.Errorf("error %v after retries", err)
			}
		})
	}
}

func TestRetryPauses(t *testing.T) {
	ctx := context.Background()
	get := func(c *client.Client) error { _, err := c.Executions().Get(ctx, "ex_1"); return err }
	tests := []struct {
		name         string
		status       int
		failures     int
		retryAfter   string
		policy       client.RetryPolicy
		wantRequests int
		wantErr      error
		// check the pauses: each within [min, max]
		wantPauses [][2]time.Duration
	}{
		{
			name: "backoff grows from 100 ms with jitter", status: 503, failures: 2, wantRequests: 3,
			wantPauses: [][2]time.Duration{{50 * time.Millisecond, 100 * time.Millisecond}, {100 * time.Millisecond, 200 * time.Millisecond}},
		},
		{
			name: "Retry-After in seconds is honoured exactly", status: 503, failures: 2, retryAfter: "7", wantRequests: 3,
			wantPauses: [][2]time.Duration{{7 * time.Second, 7 * time.Second}, {7 * time.Second, 7 * time.Second}},
		},
		{
			name: "Retry-After as an HTTP date is honoured", status: 503, failures: 1, retryAfter: time.Now().Add(3 * time.Second).UTC().Format(http.TimeFormat), wantRequests: 2,
			wantPauses: [][2]time.Duration{{time.Second, 3 * time.Second}},
		},
		{
			name: "429 is retried with its Retry-After", status: 429, failures: 1, retryAfter: "1", wantRequests: 2,
			wantPauses: [][2]time.Duration{{time.Second, time.Second}},
		},
		{
			name: "a Retry-After over MaxRetryAfter returns the answer at once", status: 503, failures: 2, retryAfter: "120",
			wantRequests: 1, wantErr: client.ErrUnavailable,
		},
		{
			name: "three failures exhaust three attempts", status: 500, failures: 3, wantRequests: 3, wantErr: client.ErrInternal,
			wantPauses: [][2]time.Duration{{50 * time.Millisecond, 100 * time.Millisecond}, {100 * time.Millisecond, 200 * time.Millisecond}},
		},
		{
			name: "MaxAttempts 1 sends once", status: 503, failures: 2, policy: client.RetryPolicy{MaxAttempts: 1},
			wantRequests: 1, wantErr: client.ErrUnavailable,
		},
		{
			name: "a dropped connection is retried", status: 0, failures: 2, wantRequests: 3,
			wantPauses: [][2]time.Duration{{50 * time.Millisecond, 100 * time.Millisecond}, {100 * time.Millisecond, 200 * time.Millisecond}},
		},
		{
			name: "a 400 is not retried", status: 400, failures: 2, wantRequests: 1, wantErr: client.ErrInvalidArgument,
		},
		{
			name: "backoff is capped by MaxDelay", status: 503, failures: 3, policy: client.RetryPolicy{MaxAttempts: 4, BaseDelay: time.Second, MaxDelay: 1500 * time.Millisecond},
			wantRequests: 4,
			wantPauses:   [][2]time.Duration{{500 * time.Millisecond, time.Second}, {750 * time.Millisecond, 1500 * time.Millisecond}, {750 * time.Millisecond, 1500 * time.Millisecond}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeFlakyServer(t, tt.failures, tt.status, tt.retryAfter, answer)
			var p pauses
			tt.policy.Sleep = p.sleep
			err := get(newClient(t, f.URL, client.WithRetryPolicy(tt.policy)))
			if tt.wantErr == nil && err != nil || tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("error %v, want %v", err, tt.wantErr)
			}
			if got := f.count(); got != tt.wantRequests {
				t.Errorf("%d requests, want %d", got, tt.wantRequests)
			}
			got := p.all()
			if len(got) != len(tt.wantPauses) {
				t.Fatalf("pauses %v, want %d", got, len(tt.wantPauses))
			}
			for i, w := range tt.wantPauses {
				if got[i] < w[0] || got[i] > w[1] {
					t.Errorf("pause %d is %v, want %v to %v", i, got[i], w[0], w[1])
				}
			}
		})
	}
}

func TestRetriesStopWithTheContext(t *testing.T) {
	t.Run("a deadline before the pause ends returns the server's answer without waiting", func(t *testing.T) {
		f := newFakeFlakyServer(t, 2, 503, "5", answer)
		var p pauses
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, err := newClient(t, f.URL, client.WithRetryPolicy(client.RetryPolicy{Sleep: p.sleep})).Executions().Get(ctx, "ex_1")
		if !errors.Is(err, client.ErrUnavailable) || f.count() != 1 || len(p.all()) != 0 {
			t.Errorf("error %v after %d requests and pauses %v; want unavailable after 1 and no pause", err, f.count(), p.all())
		}
	})
	t.Run("a context cancelled during the pause ends the retries", func(t *testing.T) {
		f := newFakeFlakyServer(t, 2, 503, "", answer)
		ctx, cancel := context.WithCancel(context.Background())
		sleep := func(ctx context.Context, d time.Duration) error { cancel(); <-ctx.Done(); return ctx.Err() }
		_, err := newClient(t, f.URL, client.WithRetryPolicy(client.RetryPolicy{Sleep: sleep})).Executions().Get(ctx, "ex_1")
		if !errors.Is(err, context.Canceled) || f.count() != 1 {
			t.Errorf("error %v after %d requests; want context.Canceled after 1", err, f.count())
		}
	})
}
