//go:build unix

package pyrunner_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kitaru/deployments/pkg/dynamo/dynamotest"
	"github.com/kitaru/deployments/pkg/registry"
	"github.com/kitaru/deployments/pkg/workflow"
	"github.com/kitaru/deployments/pkg/workflow/pyrunner"
)

func TestTheLocalWorkflowRecordsAPythonFlowErrorInTheStore(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	store := dynamotest.New(t).Store
	e, created, err := store.CreateExecution(context.Background(), registry.Execution{
		Project: "p", ExecID: "ex_01JDZ8Q3V9M6T2K4N7P0R5S001", Flow: "research_agent", Version: 1,
		Snapshot: registry.SnapshotName("research_agent", 1), Selector: registry.Selector{Tag: "default"}, Status: registry.StatusRunning,
		Inputs: json.RawMessage(`{}`), StartedAt: now.Add(-time.Minute), InvokedBy: "tester",
	})
	if err != nil || !created {
		t.Fatalf("create execution: created=%v err=%v", created, err)
	}
	dir := runnerDir(t, `
import json, sys
print(json.dumps({"error": {"type": "KeyError", "message": "'topic'", "traceback": "Traceback ...\nKeyError: 'topic'"}}))
sys.exit(1)
`)
	l, err := workflow.NewLocal(workflow.LocalConfig{
		Definition: workflow.Default(), Runner: pyrunner.Runner{Dir: dir}, Finisher: workflow.StoreFinisher(store),
		Now: func() time.Time { return now },
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Start(context.Background(), testRequest(e.ExecID)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := l.Close(ctx); err != nil {
		t.Fatalf("close: %v", err)
	}
	got, err := store.GetExecution(context.Background(), "p", e.ExecID)
	if err != nil {
		t.Fatal(err)
	}
	want := &registry.ExecError{Type: "KeyError", Message: "'topic'", Traceback: "Traceback ...\nKeyError: 'topic'"}
	if got.Status != registry.StatusFailed || !cmp.Equal(want, got.Error) {
		t.Errorf("execution ended %s with %+v, want failed with %+v", got.Status, got.Error, want)
	}
}
