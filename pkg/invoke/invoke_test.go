package invoke_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kitaru/deployments/pkg/bundle"
	"github.com/kitaru/deployments/pkg/dynamo"
	"github.com/kitaru/deployments/pkg/dynamo/dynamotest"
	"github.com/kitaru/deployments/pkg/invoke"
	"github.com/kitaru/deployments/pkg/registry"
	"github.com/kitaru/deployments/pkg/workflow"
)

// failingExecutor is a fake Step Functions whose starts fail.
type failingExecutor struct{}

func (failingExecutor) Start(context.Context, workflow.RunRequest) error {
	return errors.New("fake: throttled")
}
func (failingExecutor) Stop(context.Context, string, string) error { return nil }

// recordingExecutor is a fake Step Functions that keeps the run requests it
// is given.
type recordingExecutor struct{ started []workflow.RunRequest }

func (r *recordingExecutor) Start(_ context.Context, req workflow.RunRequest) error {
	r.started = append(r.started, req)
	return nil
}
func (r *recordingExecutor) Stop(context.Context, string, string) error { return nil }

func newService(t *testing.T, executor workflow.Executor) (*invoke.Service, *dynamo.Store) {
	t.Helper()
	store := dynamotest.New(t).Store
	stacks := registry.Stacks{All: []registry.Stack{{Name: "dev", RemoteExecutable: true}, {Name: "gone"}}, Default: "dev"}
	return &invoke.Service{Registry: store, Execs: store, Executor: executor, Objects: fakeObjects{}, Stacks: stacks}, store
}

func deployFlow(t *testing.T, store *dynamo.Store, flow, stack string, source *registry.Source) {
	t.Helper()
	if _, err := store.Deploy(context.Background(), registry.DeployRequest{
		Project: "p", Flow: flow, Entrypoint: "flows/f.py:" + flow, Source: source,
		Inputs: json.RawMessage(`{"topic": "x"}`), Stack: stack,
	}); err != nil {
		t.Fatal(err)
	}
}

func TestInvokeRefusals(t *testing.T) {
	svc, store := newService(t, &fakeExecutor{})
	src := &registry.Source{Digest: fmt.Sprintf("sha256:%064d", 0)}
	deployFlow(t, store, "ok", "dev", src)
	deployFlow(t, store, "unsourced", "dev", nil)
	deployFlow(t, store, "stranded", "gone", src)
	tests := []struct {
		name string
		req  invoke.Request
		code registry.Code
	}{
		{"a deployment on a stack that cannot execute remotely is refused", invoke.Request{Flow: "stranded"}, registry.CodeUnprocessable},
		{"a deployment without a source bundle is refused", invoke.Request{Flow: "unsourced"}, registry.CodeUnprocessable},
		{"inputs that are not an object are refused", invoke.Request{Flow: "ok", Inputs: json.RawMessage(`[1]`)}, registry.CodeInvalidArgument},
		{"an idempotency key with control characters is refused", invoke.Request{Flow: "ok", IdempotencyKey: "a\nb"}, registry.CodeInvalidArgument},
		{"tag and version together are refused", invoke.Request{Flow: "ok", Selector: registry.Selector{Tag: "default", Version: 1}}, registry.CodeInvalidArgument},
		{"a flow without deployments is not found", invoke.Request{Flow: "nothing"}, registry.CodeNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.req.Project = "p"
			_, _, err := svc.Invoke(context.Background(), tt.req)
			if registry.CodeOf(err) != tt.code {
				t.Fatalf("got %v, want %s", err, tt.code)
			}
		})
	}
	t.Run("a refused invocation records no execution", func(t *testing.T) {
		for _, flow := range []string{"ok", "stranded", "unsourced"} {
			p, err := store.ListExecutions(context.Background(), "p", flow, registry.PageRequest{})
			if err != nil || len(p.Items) != 0 {
				t.Fatalf("%s: %d executions, %v", flow, len(p.Items), err)
			}
		}
	})
}

// greetSchema is the input schema of greet(name: str, n: int = 1).
const greetSchema = `{"type": "object", "required": ["name"], "additionalProperties": false,` +
	` "properties": {"name": {"type": "string"}, "n": {"type": "integer"}}}`

// TestInvokeValidatesMergedInputs: a deployment without an input schema
// takes any object; one with a schema takes only merged inputs that fit it,
// required ones included, and a refused invocation records and starts nothing.
func TestInvokeValidatesMergedInputs(t *testing.T) {
	exec := &recordingExecutor{}
	svc, store := newService(t, exec)
	src := &registry.Source{Digest: fmt.Sprintf("sha256:%064d", 0)}
	ctx := context.Background()
	deployFlow(t, store, "open", "dev", src)
	if _, err := store.Deploy(ctx, registry.DeployRequest{
		Project: "p", Flow: "greet", Entrypoint: "flows/f.py:greet", Source: src, Stack: "dev",
		Inputs: json.RawMessage(`{"n": 2}`), InputSchema: json.RawMessage(greetSchema),
	}); err != nil {
		t.Fatal(err)
	}

	t.Run("without a schema, keys the deploy did not give are taken", func(t *testing.T) {
		e, _, err := svc.Invoke(ctx, invoke.Request{Project: "p", Flow: "open", Inputs: json.RawMessage(`{"name": "bob", "n": 2}`)})
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(`{"n":2,"name":"bob","topic":"x"}`, string(e.Inputs)); diff != "" {
			t.Errorf("inputs (-want +got):\n%s", diff)
		}
	})
	t.Run("with a schema, merged inputs that fit start", func(t *testing.T) {
		e, _, err := svc.Invoke(ctx, invoke.Request{Project: "p", Flow: "greet", Inputs: json.RawMessage(`{"name": "bob"}`)})
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(`{"n":2,"name":"bob"}`, string(e.Inputs)); diff != "" {
			t.Errorf("inputs (-want +got):\n%s", diff)
		}
	})
	started := len(exec.started)

	refusals := []struct {
		name, inputs string
		keys         []string
	}{
		{"a missing required input is refused naming it", `{}`, []string{"name"}},
		{"an unknown key is refused naming it", `{"name": "bob", "nmae": "x"}`, []string{"nmae"}},
		{"a wrong type is refused naming the key", `{"name": "bob", "n": "two"}`, []string{"n"}},
	}
	for _, tt := range refusals {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := svc.Invoke(ctx, invoke.Request{Project: "p", Flow: "greet", Inputs: json.RawMessage(tt.inputs), IdempotencyKey: tt.name})
			var e *registry.Error
			if !errors.As(err, &e) || e.Code != registry.CodeUnprocessable {
				t.Fatalf("got %v, want unprocessable", err)
			}
			if diff := cmp.Diff(tt.keys, e.Details["keys"]); diff != "" {
				t.Errorf("keys (-want +got):\n%s", diff)
			}
		})
	}
	t.Run("a refused invocation records and starts nothing", func(t *testing.T) {
		p, err := store.ListExecutions(ctx, "p", "greet", registry.PageRequest{})
		if err != nil || len(p.Items) != 1 {
			t.Fatalf("%d executions of greet, want the 1 accepted: %v", len(p.Items), err)
		}
		if len(exec.started) != started {
			t.Errorf("%d runs started after the refusals, want none", len(exec.started)-started)
		}
	})
}

func TestAStartThatFailsIsRecordedAsFailed(t *testing.T) {
	svc, store := newService(t, failingExecutor{})
	deployFlow(t, store, "ok", "dev", &registry.Source{Digest: fmt.Sprintf("sha256:%064d", 0)})
	_, _, err := svc.Invoke(context.Background(), invoke.Request{Project: "p", Flow: "ok"})
	if registry.CodeOf(err) != registry.CodeUnavailable {
		t.Fatalf("got %v, want unavailable", err)
	}
	p, err := store.ListExecutions(context.Background(), "p", "ok", registry.PageRequest{})
	if err != nil || len(p.Items) != 1 || p.Items[0].Status != registry.StatusFailed || p.Items[0].Error.Type != "StartFailed" {
		t.Fatalf("executions %+v %v", p.Items, err)
	}
}

func TestCancel(t *testing.T) {
	exec := &fakeExecutor{}
	svc, store := newService(t, exec)
	deployFlow(t, store, "ok", "dev", &registry.Source{Digest: fmt.Sprintf("sha256:%064d", 0)})
	ctx := context.Background()
	e, _, err := svc.Invoke(ctx, invoke.Request{Project: "p", Flow: "ok"})
	if err != nil {
		t.Fatal(err)
	}
	t.Run("a running execution is recorded cancelled", func(t *testing.T) {
		got, err := svc.Cancel(ctx, "p", e.ExecID)
		if err != nil || got.Status != registry.StatusCancelled {
			t.Fatalf("%+v %v", got, err)
		}
	})
	t.Run("cancelling again is harmless", func(t *testing.T) {
		if _, err := svc.Cancel(ctx, "p", e.ExecID); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("a completed execution cannot be cancelled", func(t *testing.T) {
		done, _, err := svc.Invoke(ctx, invoke.Request{Project: "p", Flow: "ok"})
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := store.FinishExecution(ctx, "p", done.ExecID, registry.Outcome{Status: registry.StatusCompleted, Result: json.RawMessage(`1`), At: time.Now()}); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.Cancel(ctx, "p", done.ExecID); registry.CodeOf(err) != registry.CodeConflict {
			t.Fatalf("got %v", err)
		}
	})
}

func TestTheRunRequestCarriesTheDeployPathsBundleLimit(t *testing.T) {
	tests := []struct {
		name   string
		limits bundle.Limits
		want   int64
	}{
		{"a service given no limits sends the default", bundle.Limits{}, bundle.DefaultMaxCompressed},
		{"a limit over the default (KITARU_MAX_BUNDLE_MB=100) reaches the runner", bundle.LimitsFor(100 << 20), 100 << 20},
		{"a limit under the default reaches the runner", bundle.LimitsFor(1 << 20), 1 << 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			exec := &recordingExecutor{}
			svc, store := newService(t, exec)
			svc.BundleLimits = tt.limits
			digest := fmt.Sprintf("sha256:%064d", 0)
			deployFlow(t, store, "ok", "dev", &registry.Source{Digest: digest})
			if _, _, err := svc.Invoke(context.Background(), invoke.Request{Project: "p", Flow: "ok"}); err != nil {
				t.Fatal(err)
			}
			if len(exec.started) != 1 {
				t.Fatalf("%d runs started, want 1", len(exec.started))
			}
			want := workflow.URLRef{Digest: digest, URL: "http://127.0.0.1/bundle", MaxBytes: tt.want}
			if diff := cmp.Diff(want, exec.started[0].Bundle); diff != "" {
				t.Errorf("run request bundle (-want +got):\n%s", diff)
			}
		})
	}
}
