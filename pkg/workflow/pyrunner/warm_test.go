//go:build unix

package pyrunner_test

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
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kitaru/deployments/pkg/bundle"
	"github.com/kitaru/deployments/pkg/runnerfiles"
	"github.com/kitaru/deployments/pkg/workflow"
	"github.com/kitaru/deployments/pkg/workflow/pyrunner"
)

// realRunner is the runner kitaru dev runs: runner.py and the kitaru
// package, with its fork server stopped at the end of the test.
func realRunner(t *testing.T) pyrunner.Runner {
	t.Helper()
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("python3 is not installed")
	}
	dir := t.TempDir()
	if err := runnerfiles.Write(dir); err != nil {
		t.Fatal(err)
	}
	r := pyrunner.Runner{Dir: dir}
	t.Cleanup(r.Close)
	return r
}

// bundleRequest serves a bundle of files (path → source) and returns a
// request to run entrypoint from it with inputs.
func bundleRequest(t *testing.T, files map[string]string, entrypoint, inputs string) workflow.RunRequest {
	t.Helper()
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
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(b.Data) }))
	t.Cleanup(srv.Close)
	req := testRequest("ex_1")
	req.Entrypoint = entrypoint
	req.Inputs = json.RawMessage(inputs)
	req.Bundle = workflow.URLRef{URL: srv.URL + "/bundle.tar.gz", Digest: b.Digest}
	return req
}

// result runs req and decodes its result into out.
func result(t *testing.T, r pyrunner.Runner, req workflow.RunRequest, out any) {
	t.Helper()
	got, err := r.Run(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(got.Result, out); err != nil {
		t.Fatalf("result %s: %v", got.Result, err)
	}
}

func TestAFlowThatChangesTheKitaruPackageDoesNotChangeTheNextRun(t *testing.T) {
	r := realRunner(t)
	req := bundleRequest(t, map[string]string{"flows/touch.py": `
import sys
import kitaru

def touch(mark):
    module = sys.modules["kitaru.flow"]
    seen = [getattr(kitaru, "left_behind", None), getattr(module, "left_behind", None), module.is_flow.__name__]
    kitaru.left_behind = mark
    module.left_behind = mark
    module.is_flow = lambda obj: True
    return seen
`}, "flows/touch.py:touch", `{"mark": "run 1"}`)
	for i := range 3 {
		var seen []any
		result(t, r, req, &seen)
		if want := []any{nil, nil, "is_flow"}; !cmp.Equal(want, seen) {
			t.Fatalf("run %d saw %v in the kitaru package, want it as shipped %v", i+1, seen, want)
		}
	}
}

func TestAFlowOfTheRealRunnerGetsOnlyTheDocumentedEnvironment(t *testing.T) {
	t.Setenv("AWS_SECRET_ACCESS_KEY", "server-secret")
	t.Setenv("KITARU_DEV_API_KEY", "kat_server")
	r := realRunner(t)
	req := bundleRequest(t, map[string]string{"flows/env.py": `
import os, subprocess, sys

def env():
    child = subprocess.run([sys.executable, "-c", "import os; print(' '.join(sorted(os.environ)))"], capture_output=True, text=True, check=True)
    return {"env": dict(os.environ), "child": child.stdout.split(), "cwd": os.getcwd()}
`}, "flows/env.py:env", `{}`)
	homes := map[string]bool{}
	for range 2 {
		var got struct {
			Env   map[string]string
			Child []string
			Cwd   string
		}
		result(t, r, req, &got)
		for name := range got.Env {
			if !slices.Contains(pyrunner.Environment, name) {
				t.Errorf("the flow got %s=%q, which is not in pyrunner.Environment", name, got.Env[name])
			}
		}
		for _, name := range got.Child {
			if !slices.Contains(pyrunner.Environment, name) {
				t.Errorf("a process the flow started got %s, which is not in pyrunner.Environment", name)
			}
		}
		home := got.Env["HOME"]
		if home == "" || got.Env["TMPDIR"] != home || homes[home] {
			t.Errorf("HOME %q TMPDIR %q, want a fresh directory per run (seen: %v)", home, got.Env["TMPDIR"], homes)
		}
		homes[home] = true
	}
}

func TestAModuleOfOneBundleIsNotCachedForTheNextBundle(t *testing.T) {
	r := realRunner(t)
	flow := `
import sys

def which():
    cached = "helper" in sys.modules
    import helper
    return {"cached": cached, "value": helper.VALUE}
`
	for _, value := range []string{"from bundle A", "from bundle B"} {
		req := bundleRequest(t, map[string]string{"flows/which.py": flow, "helper.py": "VALUE = " + `"` + value + `"` + "\n"}, "flows/which.py:which", `{}`)
		var got map[string]any
		result(t, r, req, &got)
		if want := map[string]any{"cached": false, "value": value}; !cmp.Equal(want, got) {
			t.Errorf("got %v, want %v", got, want)
		}
	}
}

func TestAStoppedRunKillsItsChildrensChildren(t *testing.T) {
	ready := filepath.Join(t.TempDir(), "grandchild.pid")
	marker := "marker-" + ready
	// The flow starts a child, which starts a grandchild in a new session
	// that ignores SIGTERM; the child and the flow then wait.
	grandchild := `import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); open("` + ready + `.tmp", "w").close(); __import__("os").rename("` + ready + `.tmp", "` + ready + `"); time.sleep(120)`
	child := `import subprocess, sys, time; subprocess.Popen([sys.executable, "-c", sys.argv[1], sys.argv[2]], start_new_session=True); time.sleep(120)`
	dir := runnerDir(t, `
import subprocess, sys, time
subprocess.Popen([sys.executable, "-c", `+"'''"+child+"'''"+`, `+"'''"+grandchild+"'''"+`, "`+marker+`"])
time.sleep(120)
`)
	r := pyrunner.Runner{Dir: dir}
	t.Cleanup(r.Close)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := r.Run(ctx, testRequest("ex_1"))
		done <- err
	}()
	waitForFile(t, ready)
	if len(liveWithMarker(marker)) == 0 {
		t.Fatal("the grandchild is not running")
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v, want the run stopped by its context", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the run was not stopped")
	}
	waitGone(t, marker)
}

func TestRunsAreForkedFromAWarmServerWhereRunsAreIsolated(t *testing.T) {
	r := realRunner(t)
	if !r.Isolated() {
		t.Skip("this machine allows no user namespaces: every run starts cold (docs/dev-runner.md)")
	}
	if !r.Warm() {
		t.Fatal("runs are isolated but not forked from a fork server")
	}
}

func TestARunnerTheForkServerCannotLoadStartsCold(t *testing.T) {
	dir := runnerDir(t, "def (:\n")
	r := pyrunner.Runner{Dir: dir}
	t.Cleanup(r.Close)
	if r.Warm() {
		t.Fatal("a fork server runs a runner.py it cannot compile")
	}
	_, err := r.Run(context.Background(), testRequest("ex_1"))
	re, ok := errors.AsType[*workflow.RunError](err)
	if !ok || re.Type != workflow.ErrorRunnerCrashed || !strings.Contains(re.Message, "SyntaxError") {
		t.Errorf("err = %v, want the cold run's Runner.Crashed naming the SyntaxError", err)
	}
}

func TestARunInFlightWhenTheForkServerDiesCrashesAndTheNextRunGetsANewServer(t *testing.T) {
	ready := filepath.Join(t.TempDir(), "ready")
	dir := runnerDir(t, `
import json, os, sys, time
if json.load(sys.stdin)["inputs"].get("wait"):
    open("`+ready+`", "w").close()
    time.sleep(120)
print('{"result": 1}')
`)
	r := pyrunner.Runner{Dir: dir}
	t.Cleanup(r.Close)
	if !r.Warm() {
		t.Skip("no fork server here")
	}
	done := make(chan error, 1)
	go func() {
		req := testRequest("ex_1")
		req.Inputs = json.RawMessage(`{"wait": true}`)
		_, err := r.Run(context.Background(), req)
		done <- err
	}()
	waitForFile(t, ready)
	// The server and the runs it forked share its command line; the
	// server is PID 1 of the only namespace below ours (NSpid: ours, 1).
	killed := 0
	for _, pid := range liveWithMarker("kitaru dev's fork server") {
		cmdline, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
		status, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
		if strings.Contains(string(cmdline), dir) && strings.Contains(string(status), "\t"+strconv.Itoa(pid)+"\t1\n") {
			if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			killed++
		}
	}
	if killed != 1 {
		t.Fatalf("found %d fork servers for %s, want 1", killed, dir)
	}
	select {
	case err := <-done:
		re, ok := errors.AsType[*workflow.RunError](err)
		if !ok || re.Type != workflow.ErrorRunnerCrashed {
			t.Errorf("err = %v, want Runner.Crashed", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the run in flight hangs after its fork server died")
	}
	if !r.Warm() {
		t.Error("no new fork server after the last one died")
	}
	if out, err := r.Run(context.Background(), testRequest("ex_2")); err != nil || string(out.Result) != "1" {
		t.Errorf("the next run answered %s, %v; want 1", out.Result, err)
	}
}

func TestAFlowOfANonRootServerHasNoCapabilities(t *testing.T) {
	if os.Getuid() == 0 {
		t.Skip("the server runs as root: a flow is root in its user namespace, as a cold run is (docs/dev-runner.md)")
	}
	dir := runnerDir(t, `
import json, sys
json.load(sys.stdin)
caps = dict(line.split(":\t") for line in open("/proc/self/status").read().splitlines() if line.startswith("Cap"))
print(json.dumps({"result": {k: v.strip() for k, v in caps.items() if k in ("CapEff", "CapPrm", "CapAmb")}}))
`)
	got := runAnswer(t, pyrunner.Runner{Dir: dir}, `{}`)
	want := map[string]any{"CapEff": "0000000000000000", "CapPrm": "0000000000000000", "CapAmb": "0000000000000000"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("the flow's capabilities (-want +got):\n%s", diff)
	}
}
