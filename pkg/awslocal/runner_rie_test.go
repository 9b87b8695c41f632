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
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kitaru/deployments/pkg/awslocal"
	"github.com/kitaru/deployments/pkg/bundle"
	"github.com/kitaru/deployments/pkg/registry"
	"github.com/kitaru/deployments/pkg/runnerfiles"
	"github.com/kitaru/deployments/pkg/workflow"
	"github.com/kitaru/deployments/pkg/workflow/pyrunner"
)

// runnerUnderRIE starts the runner under RIE and the Python runtime
// bootstrap with extra in the function's environment, and serves a bundle of
// files and the given objects (path → body) on a local HTTP server, whose
// URL it returns. Needs aws-lambda-rie (AWS_LAMBDA_RIE, else on PATH).
func runnerUnderRIE(t *testing.T, files map[string]string, objects map[string][]byte, extra map[string]string) (*awslocal.Instance, bundle.Bundle, string) {
	t.Helper()
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
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if body, ok := objects[r.URL.Path]; ok {
			_, _ = w.Write(body)
			return
		}
		_, _ = w.Write(b.Data)
	}))
	t.Cleanup(srv.Close)

	in, err := awslocal.RIE{
		Path: rie, Python: python, PythonRuntime: bootstrap, LogDir: t.TempDir(),
	}.Start(&awslocal.Function{
		LogicalID: "Runner", Name: "function", Runtime: "python3.12", Handler: "runner.handler", CodeDir: code, TimeoutSeconds: 60, MemoryMB: 512,
	}, extra)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = in.Close() })
	return in, b, srv.URL
}

// The Lambda path of a failed run: its error report read as the finish
// function reads a Step Functions cause.
func TestTheRunnerUnderRIEReportsATracebackFromTheUsersCodeAndItsDetails(t *testing.T) {
	in, b, url := runnerUnderRIE(t, map[string]string{
		"helpers.py": "def outer(word):\n    return inner(word)\n\n\ndef inner(word):\n    raise ValueError(f'no {word}')\n",
		"flows/nested.py": "from kitaru import flow\nfrom helpers import outer\n\n\n@flow\ndef nested(word: str) -> str:\n" +
			"    try:\n        return outer(word)\n    except ValueError as exc:\n        raise RuntimeError('wrapped') from exc\n",
	}, nil, nil)
	payload, err := json.Marshal(workflow.RunRequest{
		Project: "p", ExecID: "ex_1", Flow: "nested", Version: 1, Snapshot: registry.SnapshotName("nested", 1),
		Entrypoint: "flows/nested.py:nested", Inputs: json.RawMessage(`{"word": "sources"}`),
		Bundle: workflow.URLRef{URL: url + "/bundle.tar.gz", Digest: b.Digest},
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

// Under the Lambda runtime, the flow's process has the documented minimal
// environment and its run's secrets, none of the function's own variables
// (docs/secrets.md, "What a run's process sees").
func TestTheRunnerUnderRIEGivesTheFlowOnlyTheMinimalEnvironmentAndItsSecrets(t *testing.T) {
	const secret, token = "sk-rie-leakcheck-5e5e", "rie-leakcheck-session-token"
	runObject, err := json.Marshal(workflow.RunObject{Secrets: map[string]string{"OPENAI_API_KEY": secret}})
	if err != nil {
		t.Fatal(err)
	}
	in, b, url := runnerUnderRIE(t, map[string]string{
		"flows/dump.py": "import os\n\n\ndef dump():\n    with open('/proc/self/environ', 'rb') as f:\n" +
			"        initial = sorted(e.split(b'=', 1)[0].decode() for e in f.read().split(b'\\0') if e)\n" +
			"    return {'environ': dict(os.environ), 'initial': initial}\n",
	}, map[string][]byte{"/run-secrets/p/ex_2.json": runObject}, map[string]string{"AWS_SESSION_TOKEN": token})
	payload, err := json.Marshal(workflow.RunRequest{
		Project: "p", ExecID: "ex_2", Flow: "dump", Version: 1, Snapshot: registry.SnapshotName("dump", 1),
		Entrypoint: "flows/dump.py:dump", Inputs: json.RawMessage(`{}`),
		Bundle: workflow.URLRef{URL: url + "/bundle.tar.gz", Digest: b.Digest},
		Run:    &workflow.URLRef{URL: url + "/run-secrets/p/ex_2.json"},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := in.Invoke(ctx, payload)
	if err != nil {
		t.Fatalf("invoke: %v", err)
	}
	if strings.Contains(string(out), token) {
		t.Errorf("the flow saw the function's session token: %s", out)
	}
	var answer struct {
		Result struct {
			Environ map[string]string
			Initial []string
		}
	}
	if err := json.Unmarshal(out, &answer); err != nil {
		t.Fatalf("answer %s: %v", out, err)
	}
	allowed := append([]string{"LD_LIBRARY_PATH"}, pyrunner.Environment...)
	for name := range answer.Result.Environ {
		if !slices.Contains(allowed, name) && name != "OPENAI_API_KEY" {
			t.Errorf("the flow's os.environ has %s, neither documented nor its secret", name)
		}
	}
	for _, name := range answer.Result.Initial {
		if !slices.Contains(allowed, name) {
			t.Errorf("the flow's /proc/self/environ has %s", name)
		}
	}
	if answer.Result.Environ["OPENAI_API_KEY"] != secret {
		t.Errorf("the flow did not get its secret from the run object")
	}
}
