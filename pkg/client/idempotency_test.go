package client_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/kitaru/deployments/pkg/client"
	"github.com/kitaru/deployments/pkg/registry"
)

// loseAnswers is an http.RoundTripper in front of a real server: a request
// it is told to lose is forwarded, the server commits and answers, and the
// answer is read and thrown away; the caller sees a dropped connection, as
// when a network path fails after the server did the work. Every other
// request passes through untouched. It records each attempt it lost and the
// retries that followed, with the Idempotency-Key they carried and the
// answer's Idempotent-Replayed header.
type loseAnswers struct {
	next http.RoundTripper
	mu   sync.Mutex
	// lose matches the requests whose first attempt loses its answer.
	lose     func(*http.Request) bool
	lost     []attempt
	retries  []attempt
	lostOnce map[string]bool
}

// attempt is one request loseAnswers saw on a route it was told to lose.
type attempt struct {
	route    string // METHOD path?query
	key      string // Idempotency-Key sent
	status   int
	replayed string // Idempotent-Replayed answered
}

func (l *loseAnswers) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := l.next.RoundTrip(req)
	if err != nil || l.lose == nil || !l.lose(req) {
		return resp, err
	}
	a := attempt{route: req.Method + " " + req.URL.RequestURI(), key: req.Header.Get("Idempotency-Key"), status: resp.StatusCode, replayed: resp.Header.Get("Idempotent-Replayed")}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.lostOnce == nil {
		l.lostOnce = map[string]bool{}
	}
	if l.lostOnce[a.route] {
		l.retries = append(l.retries, a)
		return resp, nil
	}
	l.lostOnce[a.route] = true
	l.lost = append(l.lost, a)
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return nil, fmt.Errorf("read tcp 127.0.0.1: connection reset by peer (fake: the answer to %s was lost after the server committed)", a.route)
}

// expect reports a lost first attempt that the server committed (2xx) and
// one retry with the same key, answered with the replay of the first answer.
func (l *loseAnswers) expect(t *testing.T, wantStatus int) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.lost) != 1 || l.lost[0].status != wantStatus {
		t.Fatalf("lost answers %+v; want one %d", l.lost, wantStatus)
	}
	if len(l.retries) != 1 {
		t.Fatalf("retries %+v; want exactly one", l.retries)
	}
	first, retry := l.lost[0], l.retries[0]
	if first.key == "" || retry.key != first.key {
		t.Errorf("Idempotency-Key %q on the first attempt, %q on the retry; want one key, reused", first.key, retry.key)
	}
	if retry.status != wantStatus || retry.replayed != "true" {
		t.Errorf("retry answered %d with Idempotent-Replayed %q; want the replayed %d", retry.status, retry.replayed, wantStatus)
	}
}

// startLossyDev is kitaru dev behind a client whose transport loses the
// first answer of the requests lose matches; set lose per test.
func startLossyDev(t *testing.T) (dev, *loseAnswers) {
	t.Helper()
	d := startDev(t)
	l := &loseAnswers{next: http.DefaultTransport}
	var p pauses
	c := newClient(t, d.srv.URL(), client.WithAuthToken(d.srv.APIKey()), client.WithHTTPClient(&http.Client{Transport: l}),
		client.WithRetryPolicy(client.RetryPolicy{Sleep: p.sleep}))
	return dev{srv: d.srv, c: c}, l
}

func route(method, pathSuffix string) func(*http.Request) bool {
	return func(r *http.Request) bool { return r.Method == method && strings.HasSuffix(r.URL.Path, pathSuffix) }
}

func TestEveryWriteSurvivesALostAnswer(t *testing.T) {
	ctx := context.Background()
	const flow = "research_agent"
	history := func(t *testing.T, d dev, tag string) []registry.RouteChange {
		t.Helper()
		p, err := d.c.Deployments().History(ctx, flow, tag, client.ListOptions{Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		return p.Items
	}
	versions := func(t *testing.T, d dev) []int {
		t.Helper()
		p, err := d.c.Deployments().List(ctx, flow, client.ListOptions{Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		return versionsOf(p.Items)
	}

	t.Run("a deploy whose answer is lost creates one version and returns it", func(t *testing.T) {
		d, l := startLossyDev(t)
		d.deploy(t, "research", "flows/research.py:research_agent", `{"topic": "a"}`, client.DeployRequest{})
		l.lose = route(http.MethodPost, "/deployments")
		dep, err := d.c.Deployments().Deploy(ctx, flow, client.DeployRequest{Entrypoint: "flows/research.py:research_agent", Source: archive(t, "research"), Tag: "canary", Exclusive: true})
		if err != nil || dep.Version != 2 || !dep.Tags["canary"] {
			t.Fatalf("Deploy = %+v, %v; want version 2 with canary", dep.Deployment, err)
		}
		l.expect(t, http.StatusCreated)
		if got := versions(t, d); fmt.Sprint(got) != "[2 1]" {
			t.Errorf("versions %v; want [2 1]: one deploy, one version", got)
		}
	})
	t.Run("a delete whose answer is lost succeeds once", func(t *testing.T) {
		d, l := startLossyDev(t)
		d.deploy(t, "research", "flows/research.py:research_agent", `{"topic": "a"}`, client.DeployRequest{})
		d.deploy(t, "research", "flows/research.py:research_agent", `{"topic": "a"}`, client.DeployRequest{Tag: "nightly"})
		l.lose = route(http.MethodDelete, "/deployments/2")
		if err := d.c.Deployments().Delete(ctx, flow, 2); err != nil {
			t.Fatalf("Delete: %v; want success, not the retry's not_found", err)
		}
		l.expect(t, http.StatusNoContent)
		if got := versions(t, d); fmt.Sprint(got) != "[1]" {
			t.Errorf("versions %v; want [1]", got)
		}
		if h := history(t, d, "nightly"); len(h) != 2 || h[0].Action != "delete" {
			t.Errorf("nightly history %+v; want the deploy and one delete", h)
		}
	})
	t.Run("a tag move with If-Match whose answer is lost returns the committed move", func(t *testing.T) {
		d, l := startLossyDev(t)
		d.deploy(t, "research", "flows/research.py:research_agent", `{"topic": "a"}`, client.DeployRequest{})
		d.deploy(t, "research", "flows/research.py:research_agent", `{"topic": "a"}`, client.DeployRequest{Tag: "stable", Exclusive: true})
		before := history(t, d, "stable")
		// Putting the tag where it is changes nothing and reads its revision.
		cur, err := d.c.Deployments().Tag(ctx, flow, "stable", 2, client.TagOptions{Exclusive: true})
		if err != nil {
			t.Fatal(err)
		}
		rev := cur.Revision
		l.lose = route(http.MethodPut, "/tags/stable")
		tag, err := d.c.Deployments().Tag(ctx, flow, "stable", 1, client.TagOptions{Exclusive: true, IfRevision: &rev})
		if err != nil || fmt.Sprint(tag.Versions) != "[1]" || tag.Revision != rev+1 {
			t.Fatalf("Tag = %+v, %v; want stable on [1] at revision %d, not the retry's precondition_failed", tag, err, rev+1)
		}
		l.expect(t, http.StatusOK)
		if h := history(t, d, "stable"); len(h) != len(before)+1 {
			t.Errorf("stable history has %d changes, want %d: one move", len(h), len(before)+1)
		}
	})
	t.Run("an untag whose answer is lost succeeds once", func(t *testing.T) {
		d, l := startLossyDev(t)
		d.deploy(t, "research", "flows/research.py:research_agent", `{"topic": "a"}`, client.DeployRequest{Tag: "benchmark"})
		l.lose = route(http.MethodDelete, "/tags/benchmark")
		if err := d.c.Deployments().Untag(ctx, flow, "benchmark", 1); err != nil {
			t.Fatalf("Untag: %v; want success, not the retry's not_found", err)
		}
		l.expect(t, http.StatusNoContent)
		if h := history(t, d, "benchmark"); len(h) != 2 || h[0].Action != "remove" {
			t.Errorf("benchmark history %+v; want the deploy and one removal", h)
		}
	})
	t.Run("a rollback whose answer is lost rolls back once", func(t *testing.T) {
		d, l := startLossyDev(t)
		d.deploy(t, "research", "flows/research.py:research_agent", `{"topic": "a"}`, client.DeployRequest{Tag: "stable", Exclusive: true})
		d.deploy(t, "research", "flows/research.py:research_agent", `{"topic": "a"}`, client.DeployRequest{Tag: "stable", Exclusive: true})
		before := history(t, d, "stable")
		l.lose = route(http.MethodPost, "/tags/stable/rollback")
		tag, err := d.c.Deployments().Rollback(ctx, flow, "stable")
		if err != nil || fmt.Sprint(tag.Versions) != "[1]" {
			t.Fatalf("Rollback = %+v, %v; want stable back on [1]", tag, err)
		}
		l.expect(t, http.StatusOK)
		h := history(t, d, "stable")
		if len(h) != len(before)+1 || h[0].Action != "rollback" {
			t.Errorf("stable history %+v; want one rollback on top of %d changes", h, len(before))
		}
		if res, err := d.c.Deployments().Resolve(ctx, flow, client.Selector{Tag: "stable"}); err != nil || res.Version != 1 {
			t.Errorf("stable resolves to %d, %v; want 1 (a second rollback would have moved it back to 2)", res.Version, err)
		}
	})
	t.Run("an invoke whose answer is lost starts one execution", func(t *testing.T) {
		d, l := startLossyDev(t)
		d.deploy(t, "research", "flows/research.py:research_agent", `{"topic": "a"}`, client.DeployRequest{})
		l.lose = route(http.MethodPost, "/invocations")
		h, err := d.c.Deployments().Invoke(ctx, flow, client.InvokeOptions{Inputs: map[string]any{"topic": "once"}})
		if err != nil {
			t.Fatalf("Invoke: %v; want the execution the lost answer named", err)
		}
		l.mu.Lock()
		lost, retries := l.lost, l.retries
		l.mu.Unlock()
		if len(lost) != 1 || len(retries) != 1 || lost[0].key == "" || retries[0].key != lost[0].key {
			t.Fatalf("lost %+v, retries %+v; want one lost attempt and one retry with its key", lost, retries)
		}
		p, err := d.c.Executions().List(ctx, flow, client.ListOptions{Limit: 100})
		if err != nil || len(p.Items) != 1 || p.Items[0].ExecID != h.ExecID {
			t.Fatalf("executions %+v, %v; want exactly %s", p.Items, err, h.ExecID)
		}
	})
	t.Run("a cancel whose answer is lost returns the cancelled execution", func(t *testing.T) {
		d, l := startLossyDev(t)
		d.deploy(t, "behaviours", "flows/behaviours.py:sleeps", `{"seconds": 30}`, client.DeployRequest{})
		h, err := d.c.Deployments().Invoke(ctx, "sleeps", client.InvokeOptions{})
		if err != nil {
			t.Fatal(err)
		}
		l.lose = route(http.MethodPost, "/cancel")
		got, err := d.c.Executions().Cancel(ctx, h.ExecID)
		if err != nil || got.Status != registry.StatusCancelled || got.ExecID != h.ExecID {
			t.Fatalf("Cancel = %+v, %v; want the cancelled execution", got, err)
		}
		l.expect(t, http.StatusOK)
	})
}

func TestAReusedKeyWithAnotherRequestIsRefused(t *testing.T) {
	ctx := context.Background()
	d := startDev(t)
	d.deploy(t, "research", "flows/research.py:research_agent", `{"topic": "a"}`, client.DeployRequest{})
	first, err := d.c.Deployments().Invoke(ctx, "research_agent", client.InvokeOptions{Inputs: map[string]any{"topic": "one"}, IdempotencyKey: "order-7"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = d.c.Deployments().Invoke(ctx, "research_agent", client.InvokeOptions{Inputs: map[string]any{"topic": "two"}, IdempotencyKey: "order-7"})
	var ce *client.Error
	if !errors.As(err, &ce) || ce.StatusCode != http.StatusUnprocessableEntity || ce.Code != "idempotency_mismatch" {
		t.Fatalf("an invoke reusing a key with other inputs: %v; want 422 idempotency_mismatch", err)
	}
	p, err := d.c.Executions().List(ctx, "research_agent", client.ListOptions{Limit: 100})
	if err != nil || len(p.Items) != 1 || p.Items[0].ExecID != first.ExecID {
		t.Fatalf("executions %+v, %v; want only %s", p.Items, err, first.ExecID)
	}
	again, err := d.c.Deployments().Invoke(ctx, "research_agent", client.InvokeOptions{Inputs: map[string]any{"topic": "one"}, IdempotencyKey: "order-7"})
	if err != nil || again.ExecID != first.ExecID || !again.Replayed {
		t.Fatalf("the same invoke again: %+v, %v; want the replay of %s", again, err, first.ExecID)
	}
}

func TestEachWriteCallSendsAKeyOfItsOwn(t *testing.T) {
	ctx := context.Background()
	writes := map[string]func(c *client.Client) error{
		"deploy": func(c *client.Client) error {
			_, err := c.Deployments().Deploy(ctx, "f", client.DeployRequest{Entrypoint: "f.py:f"})
			return err
		},
		"delete": func(c *client.Client) error { return c.Deployments().Delete(ctx, "f", 1) },
		"tag": func(c *client.Client) error {
			_, err := c.Deployments().Tag(ctx, "f", "t", 1, client.TagOptions{})
			return err
		},
		"untag":    func(c *client.Client) error { return c.Deployments().Untag(ctx, "f", "t", 1) },
		"rollback": func(c *client.Client) error { _, err := c.Deployments().Rollback(ctx, "f", "t"); return err },
		"cancel":   func(c *client.Client) error { _, err := c.Executions().Cancel(ctx, "ex_1"); return err },
		"invoke": func(c *client.Client) error {
			_, err := c.Deployments().Invoke(ctx, "f", client.InvokeOptions{})
			return err
		},
	}
	for name, write := range writes {
		t.Run(name+" sends a fresh key on each call", func(t *testing.T) {
			f := newFakeServer(t, http.StatusOK, answer)
			c := newClient(t, f.URL)
			var keys []string
			for range 2 {
				if err := write(c); err != nil {
					t.Fatal(err)
				}
				keys = append(keys, f.last(t).Header.Get(client.HeaderIdempotencyKey))
			}
			if keys[0] == "" || keys[0] == keys[1] || len(keys[0]) > registry.MaxIdempotencyKeyLen || registry.ValidateIdempotencyKey(keys[0]) != nil {
				t.Errorf("keys %q; want two different valid keys", keys)
			}
		})
	}
	t.Run("an invoke sends the caller's key as it is", func(t *testing.T) {
		f := newFakeServer(t, http.StatusAccepted, answer)
		h, err := newClient(t, f.URL).Deployments().Invoke(ctx, "f", client.InvokeOptions{IdempotencyKey: "order-1"})
		if err != nil || h.Replayed {
			t.Fatalf("Invoke = %+v, %v; want a new execution", h, err)
		}
		if got := f.last(t).Header.Get(client.HeaderIdempotencyKey); got != "order-1" {
			t.Errorf("key %q, want order-1", got)
		}
	})
}
