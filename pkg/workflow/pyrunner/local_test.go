//go:build unix

package pyrunner_test

import (
	"context"
	"encoding/json"
	"strings"
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

func TestARealFlowsFailureIsRecordedWithATracebackThatStartsAtTheUsersCode(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	store := dynamotest.New(t).Store
	e, _, err := store.CreateExecution(context.Background(), registry.Execution{
		Project: "p", ExecID: "ex_01JDZ8Q3V9M6T2K4N7P0R5S002", Flow: "nested", Version: 1,
		Snapshot: registry.SnapshotName("nested", 1), Selector: registry.Selector{Tag: "default"}, Status: registry.StatusRunning,
		Inputs: json.RawMessage(`{}`), StartedAt: now.Add(-time.Minute), InvokedBy: "tester",
	})
	if err != nil {
		t.Fatal(err)
	}
	req := bundleRequest(t, map[string]string{
		"helpers.py": "def outer(word):\n    return inner(word)\n\n\ndef inner(word):\n    raise ValueError(f'no {word}')\n",
		"flows/nested.py": "from kitaru import flow\nfrom helpers import outer\n\n\n@flow\ndef nested(word: str) -> str:\n" +
			"    try:\n        return outer(word)\n    except ValueError as exc:\n        raise RuntimeError('wrapped') from exc\n",
	}, "flows/nested.py:nested", `{"word": "sources"}`)
	req.ExecID, req.Flow = e.ExecID, "nested"
	l, err := workflow.NewLocal(workflow.LocalConfig{
		Definition: workflow.Default(), Runner: realRunner(t), Finisher: workflow.StoreFinisher(store),
		Now: func() time.Time { return now },
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Start(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := l.Close(ctx); err != nil {
		t.Fatalf("close: %v", err)
	}
	got, err := store.GetExecution(context.Background(), "p", e.ExecID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != registry.StatusFailed || got.Error == nil || got.Error.Type != "RuntimeError" {
		t.Fatalf("execution ended %s with %+v, want failed with a RuntimeError", got.Status, got.Error)
	}
	tb := got.Error.Traceback
	wantStart := "Traceback (most recent call last):\n  File \"flows/nested.py\", line 8, in nested\n    return outer(word)\n"
	if !strings.HasPrefix(tb, wantStart) {
		t.Errorf("traceback does not start at the user's code with its source line:\n%s", tb)
	}
	for _, want := range []string{
		"  File \"helpers.py\", line 6, in inner\n    raise ValueError(f'no {word}')\n",
		"ValueError: no sources\n\nThe above exception was the direct cause of the following exception:\n",
		"    raise RuntimeError('wrapped') from exc\n",
	} {
		if !strings.Contains(tb, want) {
			t.Errorf("traceback lacks %q:\n%s", want, tb)
		}
	}
	if strings.Contains(tb, "runner.py") {
		t.Errorf("traceback shows the runner's frames:\n%s", tb)
	}
	full, _ := got.Error.Details[registry.DetailRunnerTraceback].(string)
	if !strings.Contains(full, "runner.py") || !strings.Contains(full, "raise ValueError(f'no {word}')") {
		t.Errorf("details.%s is not the full traceback with source lines:\n%s", registry.DetailRunnerTraceback, full)
	}
}
