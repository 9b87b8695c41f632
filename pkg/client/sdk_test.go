package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kitaru/deployments/pkg/bundle"
	"github.com/kitaru/deployments/pkg/client"
	"github.com/kitaru/deployments/pkg/devstack"
	"github.com/kitaru/deployments/pkg/registry"
)

// dev is a kitaru dev server and a client of it authenticated with its key.
type dev struct {
	srv *devstack.Server
	c   *client.Client
}

func startDev(t *testing.T) dev {
	t.Helper()
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("python3 is not installed: kitaru dev cannot run flows")
	}
	srv, err := devstack.Start(context.Background(), devstack.Config{Addr: "127.0.0.1:0", FlowOutput: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("close kitaru dev: %v", err)
		}
	})
	return dev{srv: srv, c: newClient(t, srv.URL(), client.WithAuthToken(srv.APIKey()))}
}

// archive bundles a project under testdata/flows as a deploy does.
func archive(t *testing.T, project string) *client.Source {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	b, err := bundle.Build(filepath.Join(filepath.Dir(file), "..", "..", "testdata", "flows", project))
	if err != nil {
		t.Fatal(err)
	}
	return &client.Source{Archive: b.Data}
}

// deploy deploys one flow of a testdata project with inputs and the
// request's tag.
func (d dev) deploy(t *testing.T, project, entrypoint, inputs string, req client.DeployRequest) client.Deployment {
	t.Helper()
	req.Entrypoint, req.Source = entrypoint, archive(t, project)
	if inputs != "" {
		req.Inputs = json.RawMessage(inputs)
	}
	dep, err := d.c.Deployments().Deploy(context.Background(), entrypoint[strings.LastIndex(entrypoint, ":")+1:], req)
	if err != nil {
		t.Fatalf("deploy %s: %v", entrypoint, err)
	}
	return dep
}

func versionsOf(deps []client.Deployment) []int {
	var vs []int
	for _, d := range deps {
		vs = append(vs, d.Version)
	}
	return vs
}

func TestDeploymentsOnKitaruDev(t *testing.T) {
	d := startDev(t)
	ctx := context.Background()
	deps := d.c.Deployments()
	const flow = "research_agent"
	const topic = `{"topic": "durable agents"}`
	v1 := d.deploy(t, "research", "flows/research.py:research_agent", topic, client.DeployRequest{})
	v2 := d.deploy(t, "research", "flows/research.py:research_agent", topic, client.DeployRequest{Tag: "canary", Exclusive: true})

	t.Run("Deploy numbers versions and attaches one routing tag, default on the first", func(t *testing.T) {
		if v1.Version != 1 || !cmp.Equal(v1.Tags, map[string]bool{"default": true}) || v1.Snapshot != "kitaru::research_agent::v1" {
			t.Errorf("v1 = %+v", v1.Deployment)
		}
		if v2.Version != 2 || !cmp.Equal(v2.Tags, map[string]bool{"canary": true}) {
			t.Errorf("v2 = %+v", v2.Deployment)
		}
	})
	t.Run("List pages through the versions newest first", func(t *testing.T) {
		first, err := deps.List(ctx, flow, client.ListOptions{Limit: 1})
		if err != nil || !slices.Equal(versionsOf(first.Items), []int{2}) || first.NextToken == "" {
			t.Fatalf("first page %v, next %q, err %v", versionsOf(first.Items), first.NextToken, err)
		}
		second, err := deps.List(ctx, flow, client.ListOptions{Limit: 1, NextToken: first.NextToken})
		if err != nil || !slices.Equal(versionsOf(second.Items), []int{1}) || second.NextToken != "" {
			t.Fatalf("second page %v, next %q, err %v", versionsOf(second.Items), second.NextToken, err)
		}
	})
	t.Run("Get returns one version with its tags", func(t *testing.T) {
		got, err := deps.Get(ctx, flow, 2)
		if err != nil || got.Snapshot != "kitaru::research_agent::v2" || !got.Tags["canary"] || got.Entrypoint != "flows/research.py:research_agent" {
			t.Fatalf("Get = %+v, %v", got.Deployment, err)
		}
	})
	t.Run("Tag moves an exclusive tag, adds a shared one, and honours IfRevision", func(t *testing.T) {
		stable, err := deps.Tag(ctx, flow, "stable", 2, client.TagOptions{Exclusive: true})
		if err != nil || !stable.Exclusive || !slices.Equal(stable.Versions, []int{2}) {
			t.Fatalf("stable = %+v, %v", stable, err)
		}
		for _, v := range []int{1, 2} {
			if _, err := deps.Tag(ctx, flow, "benchmark", v, client.TagOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		stale := stable.Revision - 1
		if _, err := deps.Tag(ctx, flow, "stable", 1, client.TagOptions{Exclusive: true, IfRevision: &stale}); !errors.Is(err, client.ErrPreconditionFailed) {
			t.Errorf("a stale revision: %v; want precondition_failed", err)
		}
		moved, err := deps.Tag(ctx, flow, "stable", 1, client.TagOptions{Exclusive: true, IfRevision: &stable.Revision})
		if err != nil || !slices.Equal(moved.Versions, []int{1}) {
			t.Fatalf("move with the current revision = %+v, %v", moved, err)
		}
	})
	t.Run("Rollback moves the exclusive tag back and History records it", func(t *testing.T) {
		back, err := deps.Rollback(ctx, flow, "stable")
		if err != nil || !slices.Equal(back.Versions, []int{2}) {
			t.Fatalf("Rollback = %+v, %v", back, err)
		}
		h, err := deps.History(ctx, flow, "stable", client.ListOptions{})
		if err != nil || len(h.Items) != 3 {
			t.Fatalf("History = %+v, %v", h, err)
		}
		var actions []registry.Action
		for _, c := range h.Items {
			actions = append(actions, c.Action)
		}
		if want := []registry.Action{registry.ActionRollback, registry.ActionMove, registry.ActionMove}; !slices.Equal(actions, want) {
			t.Errorf("actions %v, want %v (newest first)", actions, want)
		}
	})
	t.Run("GetTag reads a tag with the revision a conditional move takes", func(t *testing.T) {
		stable, err := deps.GetTag(ctx, flow, "stable")
		if err != nil || !stable.Exclusive || !slices.Equal(stable.Versions, []int{2}) || stable.Revision == 0 {
			t.Fatalf("GetTag = %+v, %v", stable, err)
		}
		moved, err := deps.Tag(ctx, flow, "stable", 1, client.TagOptions{Exclusive: true, IfRevision: &stable.Revision})
		if err != nil || moved.Revision != stable.Revision+1 {
			t.Fatalf("a move with the revision read = %+v, %v", moved, err)
		}
		if _, err := deps.Tag(ctx, flow, "stable", 2, client.TagOptions{Exclusive: true, IfRevision: &stable.Revision}); !errors.Is(err, client.ErrPreconditionFailed) {
			t.Errorf("a second move with the same revision: %v; want precondition_failed", err)
		}
		if _, err := deps.Rollback(ctx, flow, "stable"); err != nil { // back to 2, as the tests below expect
			t.Fatal(err)
		}
		if _, err := deps.GetTag(ctx, flow, "nope"); !errors.Is(err, client.ErrNotFound) {
			t.Errorf("an unknown tag: %v; want not_found", err)
		}
	})
	t.Run("Resolve names the deployment a selector routes to", func(t *testing.T) {
		tests := []struct {
			name string
			sel  client.Selector
			want int
		}{
			{"neither tag nor version is the default tag", client.Selector{}, 1},
			{"a tag", client.Selector{Tag: "canary"}, 2},
			{"a version", client.Selector{Version: 1}, 1},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				got, err := deps.Resolve(ctx, flow, tt.sel)
				if err != nil || got.Version != tt.want {
					t.Fatalf("Resolve = v%d, %v; want v%d", got.Version, err, tt.want)
				}
			})
		}
	})
	t.Run("errors carry the server's code", func(t *testing.T) {
		tests := []struct {
			name string
			call func() error
			want error
		}{
			{"an unknown flow is not found", func() error { _, err := d.c.Flow(ctx, "no_such_flow"); return err }, client.ErrNotFound},
			{"resolving an unknown flow is not found", func() error { _, err := deps.Resolve(ctx, "no_such_flow", client.Selector{}); return err }, client.ErrNotFound},
			{"an unknown tag is not found", func() error { _, err := deps.Resolve(ctx, flow, client.Selector{Tag: "nope"}); return err }, client.ErrNotFound},
			{"an unknown version is not found", func() error { _, err := deps.Get(ctx, flow, 99); return err }, client.ErrNotFound},
			{"a shared tag on two versions is ambiguous", func() error { _, err := deps.Resolve(ctx, flow, client.Selector{Tag: "benchmark"}); return err }, client.ErrConflict},
			{"invoking an ambiguous shared tag is a conflict", func() error {
				_, err := deps.Invoke(ctx, flow, client.InvokeOptions{Selector: client.Selector{Tag: "benchmark"}})
				return err
			}, client.ErrConflict},
			{"a tag and a version together are invalid", func() error {
				_, err := deps.Resolve(ctx, flow, client.Selector{Tag: "canary", Version: 2})
				return err
			}, client.ErrInvalidArgument},
			{"using an exclusive tag as shared is a conflict", func() error { _, err := deps.Tag(ctx, flow, "canary", 1, client.TagOptions{}); return err }, client.ErrConflict},
			{"default cannot be removed", func() error { return deps.Untag(ctx, flow, "default", 1) }, client.ErrConflict},
			{"a version holding an exclusive tag cannot be deleted", func() error { return deps.Delete(ctx, flow, 2) }, client.ErrConflict},
			{"a shared tag cannot be rolled back", func() error { _, err := deps.Rollback(ctx, flow, "benchmark"); return err }, client.ErrConflict},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				err := tt.call()
				if !errors.Is(err, tt.want) {
					t.Fatalf("error %v; want %v", err, tt.want)
				}
				var ce *client.Error
				if !errors.As(err, &ce) || ce.StatusCode < 400 || ce.Message == "" {
					t.Errorf("error %#v is not a *client.Error with the server's status and message", err)
				}
			})
		}
	})
	t.Run("Untag removes a shared tag from one version", func(t *testing.T) {
		if err := deps.Untag(ctx, flow, "benchmark", 1); err != nil {
			t.Fatal(err)
		}
		if got, err := deps.Resolve(ctx, flow, client.Selector{Tag: "benchmark"}); err != nil || got.Version != 2 {
			t.Fatalf("benchmark resolves to v%d, %v; want v2", got.Version, err)
		}
	})
	t.Run("Delete removes a version without exclusive tags", func(t *testing.T) {
		v3 := d.deploy(t, "research", "flows/research.py:research_agent", topic, client.DeployRequest{Tag: "scratch"})
		if err := deps.Delete(ctx, flow, v3.Version); err != nil {
			t.Fatal(err)
		}
		if _, err := deps.Get(ctx, flow, v3.Version); !errors.Is(err, client.ErrNotFound) {
			t.Errorf("Get after Delete: %v; want not_found", err)
		}
	})
	t.Run("Flows and Flow summarise the project's flows", func(t *testing.T) {
		page, err := d.c.Flows(ctx, client.ListOptions{})
		if err != nil || len(page.Items) != 1 || page.Items[0].Flow != flow {
			t.Fatalf("Flows = %+v, %v", page, err)
		}
		s, err := d.c.Flow(ctx, flow)
		if err != nil || s.DeploymentCount != 2 || s.DefaultVersion == nil || *s.DefaultVersion != 1 {
			t.Fatalf("Flow = %+v, %v", s, err)
		}
	})
	t.Run("NewFromEnvironment uses the connection the environment names", func(t *testing.T) {
		t.Setenv(client.EnvConfigDir, t.TempDir())
		t.Setenv(client.EnvServerURL, d.srv.URL())
		t.Setenv(client.EnvAuthToken, d.srv.APIKey())
		t.Setenv(client.EnvProject, devstack.Project)
		c, err := client.NewFromEnvironment()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Flow(ctx, flow); err != nil {
			t.Fatal(err)
		}
		t.Setenv(client.EnvAuthToken, "")
		if _, err := client.NewFromEnvironment(); !errors.Is(err, client.ErrPreconditionFailed) {
			t.Errorf("without a credential: %v; want precondition_failed", err)
		}
	})
}

func TestExecutionsOnKitaruDev(t *testing.T) {
	d := startDev(t)
	ctx := context.Background()
	deps, execs := d.c.Deployments(), d.c.Executions()
	// research_agent(topic: str) as its input schema, which invokes are checked against.
	researchSchema := json.RawMessage(`{"type": "object", "required": ["topic"], "additionalProperties": false, "properties": {"topic": {"type": "string"}}}`)
	d.deploy(t, "research", "flows/research.py:research_agent", `{"topic": "durable agents"}`, client.DeployRequest{InputSchema: researchSchema})
	d.deploy(t, "research", "flows/research.py:research_agent", `{"topic": "durable agents"}`, client.DeployRequest{InputSchema: researchSchema, Tag: "stable", Exclusive: true})
	d.deploy(t, "behaviours", "flows/behaviours.py:fails", `{"message": "deploy-time message"}`, client.DeployRequest{})
	d.deploy(t, "behaviours", "flows/behaviours.py:sleeps", `{"seconds": 30}`, client.DeployRequest{})
	d.deploy(t, "behaviours", "flows/behaviours.py:large", `{"kib": 300}`, client.DeployRequest{})
	within := func(t *testing.T, d time.Duration) context.Context {
		ctx, cancel := context.WithTimeout(ctx, d)
		t.Cleanup(cancel)
		return ctx
	}

	t.Run("Invoke by tag and Result return the flow's answer", func(t *testing.T) {
		h, err := deps.Invoke(ctx, "research_agent", client.InvokeOptions{Selector: client.Selector{Tag: "stable"}, Inputs: map[string]any{"topic": "deployment routing"}})
		if err != nil {
			t.Fatal(err)
		}
		if h.ExecID == "" || h.ExecID != h.Execution.ExecID || h.Execution.Version != 2 || h.Execution.Selector.Tag != "stable" {
			t.Errorf("handle %+v", h)
		}
		result, err := h.Result(within(t, time.Minute))
		if err != nil || string(result) != `"research notes on deployment routing"` {
			t.Fatalf("Result = %s, %v", result, err)
		}
		if status, err := h.Status(ctx); err != nil || status != registry.StatusCompleted {
			t.Errorf("Status = %s, %v", status, err)
		}
	})
	t.Run("a Deployment invokes its pinned version whatever the selector says", func(t *testing.T) {
		v1, err := deps.Get(ctx, "research_agent", 1)
		if err != nil {
			t.Fatal(err)
		}
		h, err := v1.Invoke(ctx, client.InvokeOptions{Selector: client.Selector{Tag: "stable"}})
		if err != nil {
			t.Fatal(err)
		}
		done, err := h.Wait(within(t, time.Minute))
		if err != nil || done.Version != 1 || done.Status != registry.StatusCompleted || string(done.Result) != `"research notes on durable agents"` {
			t.Fatalf("Wait = %+v, %v", done, err)
		}
	})
	t.Run("a resolved Deployment invokes the version the tag named", func(t *testing.T) {
		stable, err := deps.Resolve(ctx, "research_agent", client.Selector{Tag: "stable"})
		if err != nil {
			t.Fatal(err)
		}
		h, err := stable.Invoke(ctx, client.InvokeOptions{Inputs: map[string]any{"topic": "pinned run"}})
		if err != nil || h.Execution.Version != 2 {
			t.Fatalf("Invoke = %+v, %v", h, err)
		}
	})
	t.Run("the same idempotency key returns the same execution", func(t *testing.T) {
		opts := client.InvokeOptions{Inputs: map[string]any{"topic": "once"}, IdempotencyKey: "order-42"}
		first, err := deps.Invoke(ctx, "research_agent", opts)
		if err != nil {
			t.Fatal(err)
		}
		again, err := deps.Invoke(ctx, "research_agent", opts)
		if err != nil || again.ExecID != first.ExecID {
			t.Fatalf("second invoke %v, %v; want %s", again, err, first.ExecID)
		}
	})
	t.Run("Executions.Get, List and Wait follow an execution", func(t *testing.T) {
		h, err := deps.Invoke(ctx, "research_agent", client.InvokeOptions{Inputs: map[string]any{"topic": "listing"}})
		if err != nil {
			t.Fatal(err)
		}
		got, err := execs.Get(ctx, h.ExecID)
		if err != nil || got.ExecID != h.ExecID || got.Flow != "research_agent" {
			t.Fatalf("Get = %+v, %v", got, err)
		}
		done, err := execs.Wait(within(t, time.Minute), h.ExecID)
		if err != nil || done.Status != registry.StatusCompleted {
			t.Fatalf("Wait = %+v, %v", done, err)
		}
		page, err := execs.List(ctx, "research_agent", client.ListOptions{Limit: 1})
		if err != nil || len(page.Items) != 1 || page.Items[0].ExecID != h.ExecID || page.NextToken == "" {
			t.Fatalf("List = %+v, %v; want the newest, %s, and a next page", page, err, h.ExecID)
		}
	})
	t.Run("Wait past the context's deadline returns DeadlineExceeded and the execution keeps running until cancelled", func(t *testing.T) {
		h, err := deps.Invoke(ctx, "sleeps", client.InvokeOptions{})
		if err != nil {
			t.Fatal(err)
		}
		last, err := h.Wait(within(t, 700*time.Millisecond))
		if !errors.Is(err, context.DeadlineExceeded) || last.ExecID != h.ExecID || last.Status != registry.StatusRunning {
			t.Fatalf("Wait = %+v, %v; want the running execution and DeadlineExceeded", last, err)
		}
		if status, err := h.Status(ctx); err != nil || status != registry.StatusRunning {
			t.Fatalf("after the deadline: %s, %v; want running", status, err)
		}
		cancelled, err := execs.Cancel(ctx, h.ExecID)
		if err != nil || cancelled.Status != registry.StatusCancelled {
			t.Fatalf("Cancel = %+v, %v", cancelled, err)
		}
		if _, err := h.Wait(within(t, time.Minute)); !errors.Is(err, client.ErrCancelled) {
			t.Errorf("Wait after Cancel: %v; want ErrCancelled", err)
		}
	})
	t.Run("a flow that raises fails Wait with an ExecutionError naming the Python type", func(t *testing.T) {
		h, err := deps.Invoke(ctx, "fails", client.InvokeOptions{Inputs: map[string]any{"message": "boom"}})
		if err != nil {
			t.Fatal(err)
		}
		_, err = h.Result(within(t, time.Minute))
		var ee *client.ExecutionError
		if !errors.As(err, &ee) || ee.Type != "ValueError" || ee.Message != "boom" || !strings.Contains(ee.Traceback, "ValueError") || ee.Execution.Status != registry.StatusFailed {
			t.Fatalf("error %v; want an ExecutionError of ValueError boom", err)
		}
	})
	t.Run("a result stored in the bucket is an error naming where", func(t *testing.T) {
		h, err := deps.Invoke(ctx, "large", client.InvokeOptions{})
		if err != nil {
			t.Fatal(err)
		}
		_, err = h.Result(within(t, time.Minute))
		if !errors.Is(err, client.ErrPayloadTooLarge) || !strings.Contains(err.Error(), "results/") {
			t.Fatalf("error %v; want payload_too_large naming the stored result", err)
		}
	})
	t.Run("invocation errors carry the server's code", func(t *testing.T) {
		tests := []struct {
			name string
			opts client.InvokeOptions
			flow string
			want error
		}{
			{"an unknown flow is not found", client.InvokeOptions{}, "no_such_flow", client.ErrNotFound},
			{"an unknown tag is not found", client.InvokeOptions{Selector: client.Selector{Tag: "nope"}}, "research_agent", client.ErrNotFound},
			{"a tag and a version together are invalid", client.InvokeOptions{Selector: client.Selector{Tag: "stable", Version: 1}}, "research_agent", client.ErrInvalidArgument},
			{"inputs of the wrong type are unprocessable", client.InvokeOptions{Inputs: map[string]any{"topic": 42}}, "research_agent", client.ErrUnprocessable},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				if _, err := deps.Invoke(ctx, tt.flow, tt.opts); !errors.Is(err, tt.want) {
					t.Fatalf("error %v; want %v", err, tt.want)
				}
			})
		}
		if _, err := execs.Get(ctx, "ex_00000000000000000000000000"); !errors.Is(err, client.ErrNotFound) {
			t.Errorf("an unknown execution: %v; want not_found", err)
		}
	})
}
