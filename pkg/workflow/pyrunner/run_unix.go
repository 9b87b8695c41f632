//go:build unix

package pyrunner

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/kitaru/deployments/pkg/workflow"
)

// How long a stopped runner has before its group is killed, and how long a
// child holding the runner's pipes may hold Run after the runner exited.
const (
	runnerTermGrace  = time.Second
	runnerPipesDelay = 2 * time.Second
)

// passedThrough are the Environment variables taken from the server.
var passedThrough = []string{"LANG", "LC_ALL", "LC_CTYPE", "TZ", "SSL_CERT_FILE", "SSL_CERT_DIR"}

// runEnv is one run's whole environment: runnerEnv and the run's secrets
// (which registry.ValidateSecretName keeps from shadowing any of it).
func runEnv(home string, secrets map[string]string) []string {
	env := runnerEnv(home)
	for _, name := range slices.Sorted(maps.Keys(secrets)) {
		env = append(env, name+"="+secrets[name])
	}
	return env
}

// runnerEnv is the runner's whole environment, with home as HOME and TMPDIR.
func runnerEnv(home string) []string {
	path := os.Getenv("PATH")
	if path == "" {
		path = "/usr/local/bin:/usr/bin:/bin"
	}
	env := []string{"PATH=" + path, "HOME=" + home, "TMPDIR=" + home,
		"PYTHONUNBUFFERED=1", "PYTHONDONTWRITEBYTECODE=1", "PYTHONNOUSERSITE=1"}
	for _, name := range passedThrough {
		if v, ok := os.LookupEnv(name); ok {
			env = append(env, name+"="+v)
		}
	}
	return env
}

// Run runs one attempt. Exit 0 answers {"result"} or {"result_ref"}; exit 1
// answers {"error": {type, message, traceback}}, the flow's own failure.
// Anything else is a Runner.Crashed failure naming the exit status and the
// end of stderr; a process that cannot be started is Runner.Unavailable.
func (p Runner) Run(ctx context.Context, req workflow.RunRequest) (workflow.RunOutput, error) {
	script := filepath.Join(p.Dir, "runner.py")
	if _, err := os.Stat(script); err != nil {
		return workflow.RunOutput{}, unavailable("the runner script is missing (%v); reinstall kitaru", err)
	}
	stdin, err := json.Marshal(req)
	if err != nil {
		return workflow.RunOutput{}, fmt.Errorf("encode the run request: %w", err)
	}
	python, err := resolvePython(p.Python)
	if err != nil {
		return workflow.RunOutput{}, unavailable("%s", err)
	}
	home, err := os.MkdirTemp("", "kitaru-run-")
	if err != nil {
		return workflow.RunOutput{}, unavailable("create the run's directory: %v", err)
	}
	defer removeRunDir(home)
	var stdout cappedBuffer
	stdout.limit = maxRunnerStdout
	var stderr tailBuffer
	var errOut io.Writer = &stderr
	if p.Stderr != nil {
		limit := p.MaxOutputBytes
		if limit <= 0 {
			limit = DefaultMaxOutputBytes
		}
		errOut = io.MultiWriter(&stderr, &boundedLog{w: p.Stderr, limit: limit, execID: req.ExecID})
	}
	env := runEnv(home, req.Env)
	ws, warm, err := p.runWarm(ctx, python, home, env, stdin, &stdout, errOut)
	if !warm {
		ws, err = p.runCold(ctx, python, script, home, env, stdin, &stdout, errOut)
	}
	if ctx.Err() != nil {
		return workflow.RunOutput{}, fmt.Errorf("runner stopped: %w", context.Cause(ctx))
	}
	if err != nil {
		if re, ok := errors.AsType[*workflow.RunError](err); ok {
			return workflow.RunOutput{}, re
		}
		return workflow.RunOutput{}, crashedWith(&stderr, "%v", err)
	}
	return answerOf(ws, &stdout, &stderr)
}

// runCold runs script in a new python process (isolated where the kernel
// allows) and returns its wait status.
func (p Runner) runCold(ctx context.Context, python, script, home string, env []string, stdin []byte, stdout, stderr io.Writer) (syscall.WaitStatus, error) {
	var stopHardKill func()
	build := func(isolated bool) (*exec.Cmd, *os.File, *os.File, error) {
		cmd := exec.CommandContext(ctx, python, script)
		cmd.Stdin = bytes.NewReader(stdin)
		cmd.Stdout = stdout
		cmd.Stderr = stderr
		cmd.Env = env
		cmd.Dir = home
		var mu sync.Mutex
		var hardKill *time.Timer
		cmd.Cancel = func() error {
			// SIGTERM lets the runner remove its temporary directory; whatever
			// is still in the group a moment later is killed.
			pid := cmd.Process.Pid
			mu.Lock()
			hardKill = time.AfterFunc(runnerTermGrace, func() { _ = killGroup(pid) })
			mu.Unlock()
			return signalGroup(pid, syscall.SIGTERM)
		}
		// A child that outlives the runner and holds its pipes must not hold Run.
		cmd.WaitDelay = runnerPipesDelay
		stopHardKill = func() {
			mu.Lock()
			if hardKill != nil {
				hardKill.Stop()
			}
			mu.Unlock()
		}
		if !isolated {
			cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
			return cmd, nil, nil, nil
		}
		r, w, err := isolate(cmd, p.Dir, p.HiddenDirs)
		return cmd, r, w, err
	}
	isolated := isolationAvailable(python)
	cmd, status, statusW, err := build(isolated)
	if err == nil {
		err = cmd.Start()
		closeFile(statusW)
	}
	if err != nil && isolated && namespaceRefused(err) {
		// The kernel refused the namespaces after all: run in a session only.
		closeFile(status)
		isolationRefused(python)
		cmd, status, _, _ = build(false)
		err = cmd.Start()
	}
	if err != nil {
		closeFile(status)
		return 0, unavailable("could not start %s: %v", python, err)
	}
	waitErr := cmd.Wait()
	stopHardKill()
	// Whatever the flow left behind goes with it.
	killSession(cmd.Process.Pid)
	if ws, ok := runnerStatus(status); ok {
		return ws, nil
	}
	if cmd.ProcessState == nil {
		return 0, fmt.Errorf("the runner did not run: %v", waitErr)
	}
	ws, _ := cmd.ProcessState.Sys().(syscall.WaitStatus)
	return ws, nil
}

// Start resolves the interpreter, so a missing or broken one is an error
// now rather than at every run, and starts the fork server (Linux; when it
// cannot start, the log says so and runs start cold).
func (p Runner) Start() error {
	python, err := resolvePython(p.Python)
	if err != nil {
		return err
	}
	p.warmServer(python)
	return nil
}

// Close stops the fork server Start or a Run started; a later Run starts a
// new one.
func (p Runner) Close() {
	if python, err := resolvePython(p.Python); err == nil {
		p.closeWarm(python)
	}
}

// Warm reports whether runs are forked from a fork server (starting it if
// none runs); false means each run starts a new interpreter.
func (p Runner) Warm() bool {
	python, err := resolvePython(p.Python)
	return err == nil && p.warmServer(python)
}

// Isolated reports whether runs get their own user, PID and mount namespaces
// on this machine (Linux with user namespaces allowed); otherwise they lead
// their own session only. docs/dev-runner.md says what each guarantees.
func (p Runner) Isolated() bool {
	python, err := resolvePython(p.Python)
	return err == nil && isolationAvailable(python)
}

// unavailable is a runner that could not be started, which the Run step
// tries again.
func unavailable(format string, args ...any) *workflow.RunError {
	return &workflow.RunError{Type: workflow.ErrorRunnerUnavailable, Infrastructure: true, Message: fmt.Sprintf(format, args...)}
}

// resolved caches resolvePython: interpreter name → executable.
var resolved sync.Map

// resolvePython asks the interpreter, with the server's environment, which
// executable it is: a shim (pyenv, asdf) needs variables the runner does not
// get, the interpreter behind it does not.
func resolvePython(python string) (string, error) {
	if python == "" {
		python = "python3"
	}
	if exe, ok := resolved.Load(python); ok {
		return exe.(string), nil
	}
	out, err := exec.Command(python, "-c", "import sys; print(sys.executable)").Output()
	if err != nil {
		return "", fmt.Errorf("could not start %s: %v; install Python 3.10+ or pass its path with --python", python, err)
	}
	lines := strings.Fields(string(out))
	if len(lines) == 0 || !filepath.IsAbs(lines[len(lines)-1]) {
		return "", fmt.Errorf("%s did not name its executable (sys.executable is %q); pass the interpreter's path with --python", python, out)
	}
	exe := lines[len(lines)-1]
	resolved.Store(python, exe)
	return exe, nil
}

// removeRunDir removes a run's directory, also what the flow made read-only.
func removeRunDir(dir string) {
	if os.RemoveAll(dir) == nil {
		return
	}
	_ = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			_ = os.Chmod(path, 0o700)
		}
		return nil
	})
	_ = os.RemoveAll(dir)
}

func closeFile(f *os.File) {
	if f != nil {
		_ = f.Close()
	}
}

// runnerStatus reads the wait status the isolated runner's init process
// reports for the runner (docs/dev-runner.md); false when there is none.
func runnerStatus(f *os.File) (syscall.WaitStatus, bool) {
	if f == nil {
		return 0, false
	}
	defer f.Close()
	_ = f.SetReadDeadline(time.Now().Add(time.Second))
	b, _ := io.ReadAll(io.LimitReader(f, 32))
	n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 32)
	if err != nil {
		return 0, false
	}
	return syscall.WaitStatus(n), true
}
