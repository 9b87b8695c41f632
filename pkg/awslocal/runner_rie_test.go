package awslocal_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kitaru/deployments/pkg/awslocal"
	"github.com/kitaru/deployments/pkg/bundle"
	"github.com/kitaru/deployments/pkg/registry"
	"github.com/kitaru/deployments/pkg/runnerfiles"
	"github.com/kitaru/deployments/pkg/workflow"
)

// The Lambda path of a failed run: the runner under RIE and the Python
// runtime bootstrap, its error report read as the finish function reads a
// Step Functions cause. Needs aws-lambda-rie (AWS_LAMBDA_RIE, else on PATH).
func TestTheRunnerUnderRIEReportsATracebackFromTheUsersCodeAndItsDetails(t *testing.T) {
	rie := os.Getenv("AWS_LAMBDA_RIE")
	if rie == "" {
		rie, _ = exec.LookPath("aws-lambda-rie")
	}
	python, err := exec.LookPath("python3")
	if rie == "" || err != nil {
		t.Skip("needs aws-lambda-rie (set AWS_LAMBDA_RIE) and python3; scripts/awslocal/test_awslocal.py says how to build it")
	}
	bootstrap, err := filepath.Abs(filepath.Join("..", "..", "scripts", "awslocal", "python_runtime.py"))
	if err != nil {
		t.Fatal(err)
	}
	code := t.TempDir()
	if err := runnerfiles.Write(code); err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	files := map[string]string{
		"helpers.py": "def outer(word):\n    return inner(word)\n\n\ndef inner(word):\n    raise ValueError(f'no {word}')\n",
		"flows/nested.py": "from kitaru import flow\nfrom helpers import outer\n\n\n@flow\ndef nested(word: str) -> str:\n" +
			"    try:\n        return outer(word)\n    except ValueError as exc:\n        raise RuntimeError('wrapped') from exc\n",
	}
	for name, src := range files {
		path := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := bundle.Build(root)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(b.Data) }))
	defer srv.Close()

	in, err := awslocal.RIE{
		Path: rie, Python: python, PythonRuntime: bootstrap, LogDir: t.TempDir(),
	}.Start(&awslocal.Function{
		LogicalID: "Runner", Name: "function", Runtime: "python3.12", Handler: "runner.handler", CodeDir: code, TimeoutSeconds: 60, MemoryMB: 512,
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	payload, err := json.Marshal(workflow.RunRequest{
		Project: "p", ExecID: "ex_1", Flow: "nested", Version: 1, Snapshot: registry.SnapshotName("nested", 1),
		Entrypoint: "flows/nested.py:nested", Inputs: json.RawMessage(`{"word": "sources"}`),
		Bundle: workflow.URLRef{URL: srv.URL + "/bundle.tar.gz", Digest: b.Digest},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	_, err = in.Invoke(ctx, payload)
	fe, ok := errors.AsType[*awslocal.FunctionError](err)
	if !ok {
		t.Fatalf("invoke: %v, want the runner's error report", err)
	}

	got := workflow.FailureFromStates(fe.Type, string(fe.Payload))
	if got.Type != "RuntimeError" || got.Message != "wrapped" {
		t.Fatalf("error %+v, want RuntimeError: wrapped", got)
	}
	wantStart := "Traceback (most recent call last):\n  File \"flows/nested.py\", line 8, in nested\n    return outer(word)\n"
	if !strings.HasPrefix(got.Traceback, wantStart) || strings.Contains(got.Traceback, "runner.py") ||
		!strings.Contains(got.Traceback, "The above exception was the direct cause of the following exception:") {
		t.Errorf("traceback does not start at the user's code, or lost its chain:\n%s", got.Traceback)
	}
	full, _ := got.Details[registry.DetailRunnerTraceback].(string)
	if !strings.Contains(full, "runner.py") || !strings.Contains(full, "raise ValueError(f'no {word}')") {
		t.Errorf("details.%s is not the full traceback:\n%s", registry.DetailRunnerTraceback, full)
	}
}
