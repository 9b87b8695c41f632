package workflow_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kitaru/deployments/pkg/artifacts"
	"github.com/kitaru/deployments/pkg/blob/localblob"
	"github.com/kitaru/deployments/pkg/dynamo"
	"github.com/kitaru/deployments/pkg/dynamo/dynamotest"
	"github.com/kitaru/deployments/pkg/registry"
	"github.com/kitaru/deployments/pkg/workflow"
)

// newStore is the real execution store on an in-process minidyn.
func newStore(t *testing.T) *dynamo.Store {
	t.Helper()
	return dynamotest.New(t).Store
}

var execSeq atomic.Int64

func createRunning(t *testing.T, s *dynamo.Store) registry.Execution {
	t.Helper()
	e := registry.Execution{
		Project: "p", ExecID: fmt.Sprintf("ex_01JDZ8Q3V9M6T2K4N7P0R5S%03d", execSeq.Add(1)), Flow: "research_agent", Version: 1,
		Snapshot: registry.SnapshotName("research_agent", 1), Selector: registry.Selector{Tag: "default"}, Status: registry.StatusRunning,
		Inputs: json.RawMessage(`{}`), StartedAt: testNow.Add(-time.Minute), InvokedBy: "tester",
	}
	got, created, err := s.CreateExecution(context.Background(), e)
	if err != nil || !created {
		t.Fatalf("create execution: created=%v err=%v", created, err)
	}
	return got
}

func TestTheFinishFunctionRecordsTheOutcomeInTheStore(t *testing.T) {
	store := newStore(t)
	h := workflow.RecordHandler{Finisher: workflow.StoreFinisher(store), Now: func() time.Time { return testNow }}
	tests := []struct {
		name      string
		cancelled bool
		record    func(execID string) string
		want      func(e *registry.Execution)
	}{
		{"a runner answer completes the execution with its result", false,
			func(id string) string {
				return `{"project": "p", "exec_id": "` + id + `", "output": {"result": {"summary": "done"}}}`
			},
			func(e *registry.Execution) {
				e.Status, e.Result = registry.StatusCompleted, json.RawMessage(`{"summary":"done"}`)
			}},
		{"a caught error fails the execution with the flow's exception", false,
			func(id string) string {
				return `{"project": "p", "exec_id": "` + id + `", "error": {"Error": "ValueError", "Cause": "{\"errorType\": \"ValueError\", \"errorMessage\": \"bad\", \"stackTrace\": [\"  File \\\"f.py\\\", line 1\\n\"]}"}}`
			},
			func(e *registry.Execution) {
				e.Status, e.Error = registry.StatusFailed, &registry.ExecError{Type: "ValueError", Message: "bad", Traceback: `  File "f.py", line 1`}
			}},
		{"a record after a cancel leaves the execution cancelled", true,
			func(id string) string {
				return `{"project": "p", "exec_id": "` + id + `", "output": {"result": 1}}`
			},
			func(e *registry.Execution) { e.Status = registry.StatusCancelled }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			e := createRunning(t, store)
			if tt.cancelled {
				if _, _, err := store.FinishExecution(ctx, "p", e.ExecID, registry.Outcome{Status: registry.StatusCancelled, At: testNow}); err != nil {
					t.Fatal(err)
				}
			}
			if err := h.Handle(ctx, json.RawMessage(tt.record(e.ExecID))); err != nil {
				t.Fatalf("handle: %v", err)
			}
			got, err := store.GetExecution(ctx, "p", e.ExecID)
			if err != nil {
				t.Fatal(err)
			}
			want := e
			tt.want(&want)
			ended := testNow
			want.EndedAt = &ended
			if diff := cmp.Diff(want, got, cmp.Comparer(sameJSON), cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })); diff != "" {
				t.Errorf("execution (-want +got):\n%s", diff)
			}
		})
	}
	t.Run("a malformed record is an error, so the step is retried and then fails", func(t *testing.T) {
		if err := h.Handle(context.Background(), json.RawMessage(`{"exec_id": "ex_1"}`)); registry.CodeOf(err) != registry.CodeInvalidArgument {
			t.Errorf("handle = %v, want invalid_argument", err)
		}
	})
}

func TestMaxDurationBoundsEveryAttemptAndDelay(t *testing.T) {
	tests := []struct {
		name string
		def  workflow.Definition
		want time.Duration
	}{
		// Run: 4 attempts × 900 s + delays 2+4+8; record: 7 × 60 s + 1+2+4+8+16+30.
		{"the default workflow takes at most 68 min 15 s", workflow.Default(), 3614*time.Second + 481*time.Second},
		{"a step without retries is one attempt", workflow.Definition{
			Run: workflow.Step{TimeoutSeconds: 10}, Record: workflow.Step{TimeoutSeconds: 5},
		}, 15 * time.Second},
		{"a step without a timeout bounds nothing", workflow.Definition{
			Run: workflow.Step{}, Record: workflow.Step{TimeoutSeconds: 5},
		}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.def.MaxDuration(); got != tt.want {
				t.Fatalf("MaxDuration = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestTheFinishFunctionDeletesTheRunObjectOnEveryOutcome(t *testing.T) {
	srv, err := localblob.Start("")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	objects := &artifacts.Store{Blobs: srv.Store()}
	store := newStore(t)
	h := workflow.RecordHandler{Finisher: workflow.RemovingRunObjects(workflow.StoreFinisher(store), objects), Now: func() time.Time { return testNow }}
	tests := []struct {
		name      string
		cancelled bool
		record    string
		want      registry.ExecStatus
	}{
		{"completed", false, `"output": {"result": 1}`, registry.StatusCompleted},
		{"failed by the flow", false, `"error": {"Error": "ValueError", "Cause": "{\"errorType\": \"ValueError\", \"errorMessage\": \"bad\"}"}`, registry.StatusFailed},
		{"failed by a timeout", false, `"error": {"Error": "States.Timeout", "Cause": ""}`, registry.StatusFailed},
		{"recorded after a cancel", true, `"output": {"result": 1}`, registry.StatusCancelled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			e := createRunning(t, store)
			if _, err := objects.PutRunObject(ctx, "p", e.ExecID, workflow.RunObject{Secrets: map[string]string{"K": "v"}}, time.Minute); err != nil {
				t.Fatal(err)
			}
			if tt.cancelled {
				if _, _, err := store.FinishExecution(ctx, "p", e.ExecID, registry.Outcome{Status: registry.StatusCancelled, At: testNow}); err != nil {
					t.Fatal(err)
				}
			}
			if err := h.Handle(ctx, json.RawMessage(`{"project": "p", "exec_id": "`+e.ExecID+`", `+tt.record+`}`)); err != nil {
				t.Fatalf("handle: %v", err)
			}
			if got, err := store.GetExecution(ctx, "p", e.ExecID); err != nil || got.Status != tt.want {
				t.Fatalf("status = %s, %v; want %s", got.Status, err, tt.want)
			}
			if _, exists, err := srv.Store().Stat(ctx, artifacts.RunObjectKey("p", e.ExecID)); err != nil || exists {
				t.Errorf("the run object is still stored (%v) after the record step", err)
			}
		})
	}
	t.Run("a record whose outcome could not be recorded keeps the object and fails, so the step is retried", func(t *testing.T) {
		ctx := context.Background()
		if _, err := objects.PutRunObject(ctx, "p", "ex_unknown", workflow.RunObject{}, time.Minute); err != nil {
			t.Fatal(err)
		}
		failing := workflow.FinisherFunc(func(context.Context, string, string, registry.Outcome) error {
			return registry.Errorf(registry.CodeUnavailable, "fake: the table is throttled")
		})
		err := workflow.RemovingRunObjects(failing, objects).Finish(ctx, "p", "ex_unknown", registry.Outcome{Status: registry.StatusCompleted})
		if registry.CodeOf(err) != registry.CodeUnavailable {
			t.Errorf("Finish = %v; want the store's unavailable", err)
		}
		if _, exists, _ := srv.Store().Stat(ctx, artifacts.RunObjectKey("p", "ex_unknown")); !exists {
			t.Error("the run object was deleted before its outcome was recorded")
		}
	})
}
