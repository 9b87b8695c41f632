//go:build unix

package pyrunner_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kitaru/deployments/pkg/workflow"
	"github.com/kitaru/deployments/pkg/workflow/pyrunner"
)

// runnerDir writes script as runner.py into a fresh directory: a throwaway
// runner that exercises the process handling, not the real runner.
func runnerDir(t *testing.T, script string) string {
	t.Helper()
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("python3 is not installed")
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "runner.py"), []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func testRequest(execID string) workflow.RunRequest {
	return workflow.RunRequest{Project: "p", ExecID: execID, Flow: "research_agent", Version: 2, Entrypoint: "flows/research.py:research_agent", Inputs: json.RawMessage(`{}`)}
}

// sameJSON compares JSON documents ignoring whitespace.
func sameJSON(a, b json.RawMessage) bool {
	return strings.Join(strings.Fields(string(a)), "") == strings.Join(strings.Fields(string(b)), "")
}

func TestThePythonRunnerReadsTheRunnersAnswer(t *testing.T) {
	tests := []struct {
		name      string
		script    string
		want      workflow.RunOutput
		wantErr   *workflow.RunError
		errSubstr []string // for crashes, parts of the message
	}{
		{"exit 0 with a result answers the result; the request arrives on stdin", `
import json, sys
req = json.load(sys.stdin)
print(json.dumps({"result": {"exec_id": req["exec_id"], "topic": req["inputs"]["topic"]}}))
`, workflow.RunOutput{Result: json.RawMessage(`{"exec_id": "ex_1", "topic": "routing"}`)}, nil, nil},
		{"exit 0 with a result ref answers the ref", `print('{"result_ref": "results/p/ex_1.json"}')`,
			workflow.RunOutput{ResultRef: "results/p/ex_1.json"}, nil, nil},
		{"a stray line before the answer is skipped", `
print("hello from the flow")
print('{"result": 7}')
`, workflow.RunOutput{Result: json.RawMessage(`7`)}, nil, nil},
		{"exit 1 with an error answer is the flow's own failure", `
import json, sys
print(json.dumps({"error": {"type": "ValueError", "message": "bad topic", "traceback": "Traceback ...\nValueError: bad topic"}}))
sys.exit(1)
`, workflow.RunOutput{}, &workflow.RunError{Type: "ValueError", Message: "bad topic", Traceback: "Traceback ...\nValueError: bad topic"}, nil},
		{"exit 1 with an error answer keeps its details", `
import json, sys
print(json.dumps({"error": {"type": "ValueError", "message": "bad topic", "traceback": "Traceback ...\nValueError: bad topic",
                            "details": {"runner_traceback": "Traceback ...runner.py...\nValueError: bad topic"}}}))
sys.exit(1)
`, workflow.RunOutput{}, &workflow.RunError{Type: "ValueError", Message: "bad topic", Traceback: "Traceback ...\nValueError: bad topic",
			Details: map[string]any{"runner_traceback": "Traceback ...runner.py...\nValueError: bad topic"}}, nil},
		{"a runner killed by SIGKILL crashed", `
import os, signal, sys
sys.stderr.write("about to die\n"); sys.stderr.flush()
os.kill(os.getpid(), signal.SIGKILL)
`, workflow.RunOutput{}, nil, []string{"killed by signal killed", "about to die"}},
		{"another exit status crashed, with the end of stderr", `
import sys
sys.stderr.write("Traceback: ImportError: no module named kitaru\n")
sys.exit(3)
`, workflow.RunOutput{}, nil, []string{"exited with status 3", "ImportError: no module named kitaru"}},
		{"exit 0 without an answer crashed", `print("done")`, workflow.RunOutput{}, nil, []string{"exited 0 without"}},
		{"exit 1 without an error answer crashed", `
import sys
print('{"result": 1}')
sys.exit(1)
`, workflow.RunOutput{}, nil, []string{"exited 1 without"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := pyrunner.Runner{Dir: runnerDir(t, tt.script)}
			req := testRequest("ex_1")
			req.Inputs = json.RawMessage(`{"topic": "routing"}`)
			got, err := r.Run(context.Background(), req)
			if tt.wantErr == nil && tt.errSubstr == nil {
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(tt.want, got, cmp.Comparer(sameJSON)); diff != "" {
					t.Errorf("output (-want +got):\n%s", diff)
				}
				return
			}
			re, ok := errors.AsType[*workflow.RunError](err)
			if !ok {
				t.Fatalf("err = %v, want a RunError", err)
			}
			if tt.wantErr != nil {
				if diff := cmp.Diff(tt.wantErr, re); diff != "" {
					t.Errorf("error (-want +got):\n%s", diff)
				}
				return
			}
			if re.Type != workflow.ErrorRunnerCrashed || re.Infrastructure {
				t.Errorf("error %+v, want a Runner.Crashed flow failure", re)
			}
			for _, s := range tt.errSubstr {
				if !strings.Contains(re.Message, s) {
					t.Errorf("message %q does not mention %q", re.Message, s)
				}
			}
		})
	}
}

func TestAPythonRunnerCrashKeepsOnlyTheEndOfStderr(t *testing.T) {
	r := pyrunner.Runner{Dir: runnerDir(t, `
import sys
sys.stderr.write("early-noise " * 2000)
sys.stderr.write("THE-LAST-WORDS")
sys.exit(2)
`)}
	_, err := r.Run(context.Background(), testRequest("ex_1"))
	re, ok := errors.AsType[*workflow.RunError](err)
	if !ok {
		t.Fatalf("err = %v, want a RunError", err)
	}
	if !strings.HasSuffix(re.Message, "THE-LAST-WORDS") || len(re.Message) > 4<<10+200 {
		t.Errorf("message is %d bytes ending %q, want at most ~4 KiB ending with the last words", len(re.Message), re.Message[max(0, len(re.Message)-40):])
	}
}

func TestAPythonRunnerThatCannotStartIsAnInfrastructureError(t *testing.T) {
	tests := []struct {
		name   string
		runner pyrunner.Runner
	}{
		{"no runner.py in the directory", pyrunner.Runner{Dir: t.TempDir()}},
		{"no such interpreter", pyrunner.Runner{Dir: runnerDir(t, `print('{"result": 1}')`), Python: filepath.Join(t.TempDir(), "no-python")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.runner.Run(context.Background(), testRequest("ex_1"))
			re, ok := errors.AsType[*workflow.RunError](err)
			if !ok || re.Type != workflow.ErrorRunnerUnavailable || !re.Infrastructure {
				t.Errorf("err = %#v, want a Runner.Unavailable infrastructure error", err)
			}
		})
	}
}

// childScript starts a grandchild that sleeps and ignores SIGTERM, with
// marker on its command line (so the test finds it from outside any
// namespace), writes the file ready when it runs, then does what tail says.
func childScript(marker, ready string) string {
	return `
import os, subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(120)", "` + marker + `"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
with open("` + ready + `.tmp", "w") as f:
    f.write(str(child.pid))
os.rename("` + ready + `.tmp", "` + ready + `")
`
}

func TestAStoppedPythonRunnerIsKilledWithItsChildren(t *testing.T) {
	tests := []struct {
		name string
		tail string
		stop bool
	}{
		{"a timeout kills the runner and the process it started", "time.sleep(120)\n", true},
		{"a runner that ignores SIGTERM is killed with its group a moment later", "import signal\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\ntime.sleep(120)\n", true},
		{"a runner that answers and leaves a child behind has the child killed", "print('{\"result\": 1}')\n", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ready := filepath.Join(t.TempDir(), "child.pid")
			marker := "marker-" + ready
			dir := runnerDir(t, childScript(marker, ready)+tt.tail)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tt.stop {
				go func() {
					waitForFile(t, ready)
					cancel()
				}()
			}
			done := make(chan error, 1)
			go func() {
				_, err := pyrunner.Runner{Dir: dir}.Run(ctx, testRequest("ex_1"))
				done <- err
			}()
			select {
			case err := <-done:
				if tt.stop && !errors.Is(err, context.Canceled) {
					t.Errorf("err = %v, want the run stopped by its context", err)
				}
				if !tt.stop && err != nil {
					t.Errorf("err = %v, want the answer", err)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("the runner was not killed")
			}
			waitGone(t, marker)
		})
	}
}

func waitForFile(t *testing.T, path string) {
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := os.Stat(path); err == nil {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Errorf("%s never appeared", path)
}

// waitGone waits up to 5 s until no live process has marker on its command
// line; zombies waiting to be reaped count as gone.
func waitGone(t *testing.T, marker string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		pids := liveWithMarker(marker)
		if len(pids) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("processes %v started by the run are still alive", pids)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// liveWithMarker lists the live processes whose command line holds marker.
func liveWithMarker(marker string) []int {
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil || !strings.Contains(string(cmdline), marker) || !processAlive(pid) {
			continue
		}
		pids = append(pids, pid)
	}
	return pids
}

// processAlive reports whether pid runs; a zombie waiting to be reaped is dead.
func processAlive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	return len(fields) > 0 && fields[0] != "Z"
}

// runAnswer runs script as the runner and decodes its result into a map.
func runAnswer(t *testing.T, r pyrunner.Runner, inputs string) map[string]any {
	t.Helper()
	req := testRequest("ex_1")
	req.Inputs = json.RawMessage(inputs)
	out, err := r.Run(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(out.Result, &got); err != nil {
		t.Fatalf("result %s: %v", out.Result, err)
	}
	return got
}

func TestTheRunnerGetsOnlyTheDocumentedEnvironment(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIASERVERKEY")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "server-secret")
	t.Setenv("KITARU_DEV_API_KEY", "kat_server")
	t.Setenv("PYTHONPATH", "/server/python/path")
	t.Setenv("LANG", "C.UTF-8")
	dir := runnerDir(t, `
import json, os, sys
json.load(sys.stdin)
print(json.dumps({"result": {"env": dict(os.environ), "cwd": os.getcwd(), "home_is_dir": os.path.isdir(os.environ.get("HOME", "/nonexistent"))}}))
`)
	got := runAnswer(t, pyrunner.Runner{Dir: dir}, `{}`)
	env, _ := got["env"].(map[string]any)
	for name := range env {
		if !slices.Contains(pyrunner.Environment, name) {
			t.Errorf("the runner got %s=%v, which is not in pyrunner.Environment", name, env[name])
		}
	}
	if env["LANG"] != "C.UTF-8" {
		t.Errorf("LANG = %v, want the server's C.UTF-8 passed through", env["LANG"])
	}
	home, _ := env["HOME"].(string)
	if serverHome, _ := os.UserHomeDir(); home == "" || home == serverHome || got["home_is_dir"] != true {
		t.Errorf("HOME = %q (a directory: %v), want a fresh directory, not the server's %q", home, got["home_is_dir"], serverHome)
	}
	if got["cwd"] != home {
		t.Errorf("the runner runs in %v, want its own HOME %q", got["cwd"], home)
	}
	if _, err := os.Stat(home); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the run's HOME %s is still there after the run (err %v)", home, err)
	}
}

func TestARunLeavesNoProcessBehind(t *testing.T) {
	tests := []struct{ name, spawn string }{
		{"a child in a new session", `subprocess.Popen(cmd, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)`},
		{"a double-forked daemon in a new session whose parent exited", `
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.execv(sys.executable, cmd)
    os._exit(0)
os.wait()`},
	}
	if !(pyrunner.Runner{}).Isolated() {
		t.Skip("this machine allows no user namespaces: a process that leaves the run's session survives it (docs/dev-runner.md)")
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := runnerDir(t, "")
			marker := "marker-" + dir
			script := `
import json, os, subprocess, sys, time
json.load(sys.stdin)
cmd = [sys.executable, "-c", "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(120)", "` + marker + `"]
` + tt.spawn + `
time.sleep(0.3)
print('{"result": 1}')
`
			if err := os.WriteFile(filepath.Join(dir, "runner.py"), []byte(script), 0o644); err != nil {
				t.Fatal(err)
			}
			if _, err := (pyrunner.Runner{Dir: dir}).Run(context.Background(), testRequest("ex_1")); err != nil {
				t.Fatal(err)
			}
			waitGone(t, marker)
		})
	}
}

func TestAFlowCannotReachTheServerProcess(t *testing.T) {
	dir := runnerDir(t, `
import json, os, sys
server = json.load(sys.stdin)["inputs"]["server_pid"]
def attempt(f):
    try:
        f()
        return True
    except OSError:
        return False
print(json.dumps({"result": {
    "parent_is_server": os.getppid() == server,
    "signal_server": attempt(lambda: os.kill(server, 0)),
    "read_cmdline": attempt(lambda: open("/proc/%d/cmdline" % server, "rb").read()),
    "read_environ": attempt(lambda: open("/proc/%d/environ" % server, "rb").read()),
}}))
`)
	if !(pyrunner.Runner{}).Isolated() {
		t.Skip("this machine allows no user namespaces: a flow can signal the server and read its command line (docs/dev-runner.md)")
	}
	got := runAnswer(t, pyrunner.Runner{Dir: dir}, `{"server_pid": `+strconv.Itoa(os.Getpid())+`}`)
	want := map[string]any{"parent_is_server": false, "signal_server": false, "read_cmdline": false, "read_environ": false}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("what the flow could do to the server (-want +got):\n%s", diff)
	}
}

func TestWhatAFlowPrintsIsCappedPerRun(t *testing.T) {
	dir := runnerDir(t, `
import json, os, sys
json.load(sys.stdin)
chunk = b"x" * 65536
for _ in range(160):  # 10 MiB
    os.write(2, chunk)
print('{"result": 1}')
`)
	var log bytes.Buffer // written by Run's copier, read once Run returned
	r := pyrunner.Runner{Dir: dir, Stderr: &log, MaxOutputBytes: 64 << 10}
	if _, err := r.Run(context.Background(), testRequest("ex_1")); err != nil {
		t.Fatal(err)
	}
	out := log.String()
	if len(out) > 64<<10+512 {
		t.Errorf("the log got %d bytes of flow output, want at most the 64 KiB cap and a marker", len(out))
	}
	if !strings.Contains(out, "output truncated") || !strings.Contains(out, "ex_1") {
		t.Errorf("the log does not end with a truncation marker naming the execution: %q", out[max(0, len(out)-300):])
	}
}

func TestAFlowCannotChangeTheRunnerOrSeeHiddenDirectories(t *testing.T) {
	if !(pyrunner.Runner{}).Isolated() {
		t.Skip("this machine allows no user namespaces: the runner directory is writable and nothing is hidden (docs/dev-runner.md)")
	}
	hidden := t.TempDir()
	if err := os.WriteFile(filepath.Join(hidden, "other-project-result.json"), []byte(`"secret"`), 0o600); err != nil {
		t.Fatal(err)
	}
	dir := runnerDir(t, `
import json, os, sys
hidden = json.load(sys.stdin)["inputs"]["hidden"]
here = os.path.dirname(os.path.abspath(__file__))
try:
    open(os.path.join(here, "runner.py"), "a").close()
    writable = True
except OSError:
    writable = False
print(json.dumps({"result": {"runner_writable": writable, "hidden_listing": os.listdir(hidden)}}))
`)
	in, _ := json.Marshal(map[string]string{"hidden": hidden})
	got := runAnswer(t, pyrunner.Runner{Dir: dir, HiddenDirs: []string{hidden}}, string(in))
	want := map[string]any{"runner_writable": false, "hidden_listing": []any{}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("what the flow could do (-want +got):\n%s", diff)
	}
}
