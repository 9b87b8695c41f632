package workflow_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kitaru/deployments/pkg/workflow"
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
			r := workflow.PythonRunner{Dir: runnerDir(t, tt.script)}
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
	r := workflow.PythonRunner{Dir: runnerDir(t, `
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
		runner workflow.PythonRunner
	}{
		{"no runner.py in the directory", workflow.PythonRunner{Dir: t.TempDir()}},
		{"no such interpreter", workflow.PythonRunner{Dir: runnerDir(t, `print('{"result": 1}')`), Python: filepath.Join(t.TempDir(), "no-python")}},
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

// childScript starts a grandchild that sleeps and ignores SIGTERM, writes its
// pid to child.pid, then does what tail says.
const childScript = `
import os, subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(120)"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
with open(os.path.join(os.path.dirname(__file__), "child.pid.tmp"), "w") as f:
    f.write(str(child.pid))
os.rename(os.path.join(os.path.dirname(__file__), "child.pid.tmp"), os.path.join(os.path.dirname(__file__), "child.pid"))
`

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
			dir := runnerDir(t, childScript+tt.tail)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tt.stop {
				go func() {
					waitForFile(t, filepath.Join(dir, "child.pid"))
					cancel()
				}()
			}
			done := make(chan error, 1)
			go func() {
				_, err := workflow.PythonRunner{Dir: dir}.Run(ctx, testRequest("ex_1"))
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
			pid := readPid(t, filepath.Join(dir, "child.pid"))
			deadline := time.Now().Add(5 * time.Second)
			for processAlive(pid) {
				if time.Now().After(deadline) {
					t.Fatalf("the runner's child %d is still alive", pid)
				}
				time.Sleep(20 * time.Millisecond)
			}
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

func readPid(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	return pid
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
