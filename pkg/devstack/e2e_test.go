package devstack_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/kitaru/deployments/pkg/bundle"
	"github.com/kitaru/deployments/pkg/devstack"
	"github.com/kitaru/deployments/pkg/registry"
)

// devClient is a client of one kitaru dev server for the end-to-end tests.
type devClient struct {
	t   testing.TB
	url string
	key string // the server's API key, sent as the bearer credential
	srv *devstack.Server
}

// do sends a JSON request and decodes the JSON answer into out (when not nil).
func (a devClient) do(method, path string, body any, header map[string]string, out any) int {
	a.t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			a.t.Fatal(err)
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, a.url+path, r)
	if err != nil {
		a.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+a.key)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			a.t.Fatalf("%s %s: decode %s: %v", method, path, raw, err)
		}
	}
	return resp.StatusCode
}

// repoRoot finds the repository root from this file's location.
func repoRoot(t testing.TB) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// deployProject bundles a testdata project and deploys one of its flows.
func (a devClient) deployProject(project, entrypoint string, extra map[string]any) registry.Deployment {
	a.t.Helper()
	b, err := bundle.Build(filepath.Join(repoRoot(a.t), "testdata", "flows", project))
	if err != nil {
		a.t.Fatal(err)
	}
	body := map[string]any{"entrypoint": entrypoint, "source": map[string]any{"archive": base64.StdEncoding.EncodeToString(b.Data)}}
	for k, v := range extra {
		body[k] = v
	}
	flow := entrypoint[strings.LastIndex(entrypoint, ":")+1:]
	var d registry.Deployment
	if status := a.do("POST", "/v1/flows/"+flow+"/deployments", body, nil, &d); status != http.StatusCreated {
		a.t.Fatalf("deploy %s: status %d", entrypoint, status)
	}
	return d
}

// wait polls an execution until it ends or the deadline passes.
func (a devClient) wait(id string, within time.Duration) registry.Execution {
	a.t.Helper()
	deadline := time.Now().Add(within)
	for {
		var e registry.Execution
		if status := a.do("GET", "/v1/executions/"+id, nil, nil, &e); status != http.StatusOK {
			a.t.Fatalf("get execution %s: status %d", id, status)
		}
		if e.Status.Terminal() {
			return e
		}
		if time.Now().After(deadline) {
			a.t.Fatalf("execution %s still %s after %s", id, e.Status, within)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func startDev(t *testing.T) devClient { return startDevB(t) }

func startDevB(t testing.TB) devClient {
	t.Helper()
	srv, err := devstack.Start(context.Background(), devstack.Config{Addr: "127.0.0.1:0", FlowOutput: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return devClient{t: t, url: srv.URL(), key: srv.APIKey(), srv: srv}
}

func TestSnapshotExecutionsEndToEnd(t *testing.T) {
	if _, err := os.Stat("/usr/bin/env"); err != nil {
		t.Skip("no /usr/bin/env")
	}
	a := startDev(t)
	// research_agent(topic: str) as its input schema, which invokes are checked against.
	researchSchema := map[string]any{"type": "object", "required": []string{"topic"}, "additionalProperties": false, "properties": map[string]any{"topic": map[string]any{"type": "string"}}}
	a.deployProject("research", "flows/research.py:research_agent", map[string]any{"inputs": map[string]any{"topic": "durable execution"}, "input_schema": researchSchema})
	v2 := a.deployProject("research", "flows/research.py:research_agent", map[string]any{"inputs": map[string]any{"topic": "durable execution"}, "input_schema": researchSchema, "tag": "canary", "exclusive": true})
	if status := a.do("PUT", "/v1/flows/research_agent/tags/stable", map[string]any{"version": v2.Version, "exclusive": true}, nil, nil); status != http.StatusOK {
		t.Fatalf("tag stable: %d", status)
	}
	a.deployProject("behaviours", "flows/behaviours.py:fails", map[string]any{"inputs": map[string]any{"message": "deploy-time message"}})
	a.deployProject("behaviours", "flows/behaviours.py:crashes", nil)
	a.deployProject("behaviours", "flows/behaviours.py:large", map[string]any{"inputs": map[string]any{"kib": 300}})

	invoke := func(flow string, body map[string]any, header map[string]string) (registry.Execution, int) {
		t.Helper()
		var e registry.Execution
		var payload any // no body at all when body is nil
		if body != nil {
			payload = body
		}
		status := a.do("POST", "/v1/flows/"+flow+"/invocations", payload, header, &e)
		if status != http.StatusAccepted && status != http.StatusOK {
			t.Fatalf("invoke %s: status %d", flow, status)
		}
		return e, status
	}

	t.Run("invoking by tag runs the saved snapshot and the result is read back", func(t *testing.T) {
		e, status := invoke("research_agent", map[string]any{"tag": "stable", "inputs": map[string]any{"topic": "deployment routing"}}, nil)
		if status != http.StatusAccepted || e.Status != registry.StatusRunning || e.Version != 2 || e.Selector.Tag != "stable" {
			t.Fatalf("status %d, execution %+v", status, e)
		}
		done := a.wait(e.ExecID, time.Minute)
		if done.Status != registry.StatusCompleted || string(done.Result) != `"research notes on deployment routing"` {
			t.Fatalf("got %+v (result %s)", done, done.Result)
		}
	})
	t.Run("deploy-time inputs are used when the invocation gives none", func(t *testing.T) {
		e, _ := invoke("research_agent", map[string]any{}, nil)
		if done := a.wait(e.ExecID, time.Minute); string(done.Result) != `"research notes on durable execution"` || done.Version != 1 {
			t.Fatalf("got v%d %s", done.Version, done.Result)
		}
	})
	t.Run("a flow that raises ends failed with the exception's type and message", func(t *testing.T) {
		e, _ := invoke("fails", map[string]any{"inputs": map[string]any{"message": "boom"}}, nil)
		done := a.wait(e.ExecID, time.Minute)
		if done.Status != registry.StatusFailed || done.Error == nil || done.Error.Type != "ValueError" || done.Error.Message != "boom" || !strings.Contains(done.Error.Traceback, "ValueError") {
			t.Fatalf("got %+v %+v", done, done.Error)
		}
	})
	t.Run("a runner killed mid-run ends failed, not running", func(t *testing.T) {
		e, _ := invoke("crashes", nil, nil)
		done := a.wait(e.ExecID, time.Minute)
		if done.Status != registry.StatusFailed || done.Error == nil || done.Error.Type != "Runner.Crashed" {
			t.Fatalf("got %+v %+v", done, done.Error)
		}
	})
	t.Run("a result over 256 KiB is stored in the bucket and referenced", func(t *testing.T) {
		e, _ := invoke("large", nil, nil)
		done := a.wait(e.ExecID, time.Minute)
		if done.Status != registry.StatusCompleted || done.ResultRef == "" || len(done.Result) != 0 {
			t.Fatalf("got %s ref %q result %d bytes %+v", done.Status, done.ResultRef, len(done.Result), done.Error)
		}
	})
	t.Run("the same Idempotency-Key twice gives one execution", func(t *testing.T) {
		h := map[string]string{"Idempotency-Key": "order-42"}
		first, s1 := invoke("research_agent", map[string]any{"inputs": map[string]any{"topic": "once"}}, h)
		second, s2 := invoke("research_agent", map[string]any{"inputs": map[string]any{"topic": "once"}}, h)
		if s1 != http.StatusAccepted || s2 != http.StatusOK || first.ExecID != second.ExecID {
			t.Fatalf("statuses %d %d, ids %s %s", s1, s2, first.ExecID, second.ExecID)
		}
		a.wait(first.ExecID, time.Minute)
	})
	t.Run("inputs that break the schema are refused with 422 naming the key and nothing starts", func(t *testing.T) {
		var before, after registry.Page[registry.Execution]
		a.do("GET", "/v1/flows/research_agent/executions?limit=200", nil, nil, &before)
		for _, body := range []map[string]any{
			{"inputs": map[string]any{"tpoic": "typo"}},
			{"inputs": map[string]any{"topic": 42}},
		} {
			var env struct {
				Error struct {
					Code    string
					Message string
				}
			}
			if status := a.do("POST", "/v1/flows/research_agent/invocations", body, nil, &env); status != http.StatusUnprocessableEntity || env.Error.Code != "unprocessable" {
				t.Fatalf("status %d %+v", status, env)
			}
		}
		a.do("GET", "/v1/flows/research_agent/executions?limit=200", nil, nil, &after)
		if len(after.Items) != len(before.Items) {
			t.Fatalf("executions went from %d to %d", len(before.Items), len(after.Items))
		}
	})
	t.Run("the pinned route keeps running its version after the tag moves", func(t *testing.T) {
		if status := a.do("PUT", "/v1/flows/research_agent/tags/stable", map[string]any{"version": 1, "exclusive": true}, nil, nil); status != http.StatusOK {
			t.Fatalf("move stable: %d", status)
		}
		var e registry.Execution
		if status := a.do("POST", "/v1/flows/research_agent/versions/2/invocations", map[string]any{"inputs": map[string]any{"topic": "pinned run"}}, nil, &e); status != http.StatusAccepted {
			t.Fatalf("status %d", status)
		}
		if done := a.wait(e.ExecID, time.Minute); done.Version != 2 || done.Status != registry.StatusCompleted {
			t.Fatalf("got %+v", done)
		}
	})
	t.Run("every execution reached a terminal status", func(t *testing.T) {
		for _, flow := range []string{"research_agent", "fails", "crashes", "large"} {
			var p registry.Page[registry.Execution]
			a.do("GET", "/v1/flows/"+flow+"/executions?limit=200", nil, nil, &p)
			for _, e := range p.Items {
				if done := a.wait(e.ExecID, time.Minute); !done.Status.Terminal() {
					t.Errorf("%s is %s", e.ExecID, done.Status)
				}
			}
		}
	})
}
