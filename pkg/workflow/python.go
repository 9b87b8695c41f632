package workflow

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// ErrorRunnerUnavailable is a runner process that could not be started: the
// local counterpart of Lambda's service errors, retried by the Run step.
const ErrorRunnerUnavailable = "Runner.Unavailable"

// Limits on what a runner process may print.
const (
	maxRunnerStdout  = 8 << 20 // results over 256 KiB are uploaded, so this is generous
	maxStderrTail    = 4 << 10
	runnerTermGrace  = time.Second
	runnerPipesDelay = 2 * time.Second
	// DefaultMaxOutputBytes is how much of what one run prints reaches
	// PythonRunner.Stderr when MaxOutputBytes is 0.
	DefaultMaxOutputBytes = 1 << 20
)

// RunnerEnvironment is every variable a runner process gets; nothing else of
// the server's environment reaches a flow (docs/dev-runner.md):
//   - PATH: the server's, or /usr/local/bin:/usr/bin:/bin;
//   - HOME and TMPDIR: a fresh directory per run, also the working directory,
//     removed when the run ends;
//   - LANG, LC_ALL, LC_CTYPE, TZ, SSL_CERT_FILE, SSL_CERT_DIR: the server's,
//     when set (locale, time zone, CA certificates: no secrets);
//   - PYTHONUNBUFFERED=1, PYTHONDONTWRITEBYTECODE=1, PYTHONNOUSERSITE=1.
var RunnerEnvironment = []string{
	"PATH", "HOME", "TMPDIR",
	"LANG", "LC_ALL", "LC_CTYPE", "TZ", "SSL_CERT_FILE", "SSL_CERT_DIR",
	"PYTHONUNBUFFERED", "PYTHONDONTWRITEBYTECODE", "PYTHONNOUSERSITE",
}

// passedThrough are the RunnerEnvironment variables taken from the server.
var passedThrough = []string{"LANG", "LC_ALL", "LC_CTYPE", "TZ", "SSL_CERT_FILE", "SSL_CERT_DIR"}

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

// PythonRunner runs a flow as `python3 <Dir>/runner.py`, the RunRequest JSON
// on stdin and one JSON answer on stdout (docs/executions.md, "The runner
// protocol"). Flow code is untrusted: the process gets RunnerEnvironment
// only, runs in a fresh directory, and leads its own session; on Linux it
// also runs in its own user, PID and mount namespaces where the kernel
// allows them, so it cannot see or signal the server and nothing it starts
// outlives the run (docs/dev-runner.md says what holds where). A stop or a
// timeout sends SIGTERM to the group and SIGKILL a second later; at the end
// of every run whatever is left is killed.
type PythonRunner struct {
	// Dir holds runner.py and the kitaru package. Isolated runs see it read-only.
	Dir string
	// Python is the interpreter; empty is python3 on PATH. It is resolved
	// once, with the server's environment, to the executable it runs (so a
	// pyenv shim works without the server's environment).
	Python string
	// Stderr, when set, also receives the runner's stderr (the flow's logs),
	// at most MaxOutputBytes of it per run, then a truncation marker.
	Stderr io.Writer
	// MaxOutputBytes caps what one run writes to Stderr; 0 is DefaultMaxOutputBytes.
	MaxOutputBytes int64
	// HiddenDirs are hidden from isolated runs (an empty directory is
	// mounted over each): kitaru dev's on-disk blobs, say.
	HiddenDirs []string
}

var _ Runner = PythonRunner{}

// Run runs one attempt. Exit 0 answers {"result"} or {"result_ref"}; exit 1
// answers {"error": {type, message, traceback}}, the flow's own failure.
// Anything else is a Runner.Crashed failure naming the exit status and the
// end of stderr; a process that cannot be started is Runner.Unavailable.
func (p PythonRunner) Run(ctx context.Context, req RunRequest) (RunOutput, error) {
	script := filepath.Join(p.Dir, "runner.py")
	if _, err := os.Stat(script); err != nil {
		return RunOutput{}, &RunError{Type: ErrorRunnerUnavailable, Infrastructure: true,
			Message: fmt.Sprintf("the runner script is missing (%v); reinstall kitaru", err)}
	}
	stdin, err := json.Marshal(req)
	if err != nil {
		return RunOutput{}, fmt.Errorf("encode the run request: %w", err)
	}
	python, err := resolvePython(p.Python)
	if err != nil {
		return RunOutput{}, &RunError{Type: ErrorRunnerUnavailable, Infrastructure: true, Message: err.Error()}
	}
	home, err := os.MkdirTemp("", "kitaru-run-")
	if err != nil {
		return RunOutput{}, &RunError{Type: ErrorRunnerUnavailable, Infrastructure: true,
			Message: fmt.Sprintf("create the run's directory: %v", err)}
	}
	defer removeRunDir(home)
	var stdout cappedBuffer
	stdout.limit = maxRunnerStdout
	var stderr tailBuffer
	var stopHardKill func()
	build := func(isolated bool) (*exec.Cmd, *os.File, *os.File, error) {
		cmd := exec.CommandContext(ctx, python, script)
		cmd.Stdin = bytes.NewReader(stdin)
		cmd.Stdout = &stdout
		cmd.Stderr = &stderr
		if p.Stderr != nil {
			limit := p.MaxOutputBytes
			if limit <= 0 {
				limit = DefaultMaxOutputBytes
			}
			cmd.Stderr = io.MultiWriter(&stderr, &boundedLog{w: p.Stderr, limit: limit, execID: req.ExecID})
		}
		cmd.Env = runnerEnv(home)
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
		return RunOutput{}, &RunError{Type: ErrorRunnerUnavailable, Infrastructure: true,
			Message: fmt.Sprintf("could not start %s: %v", python, err)}
	}
	waitErr := cmd.Wait()
	stopHardKill()
	// Whatever the flow left behind goes with it.
	killSession(cmd.Process.Pid)
	ws, ok := runnerStatus(status)
	if ctx.Err() != nil {
		return RunOutput{}, fmt.Errorf("runner stopped: %w", context.Cause(ctx))
	}
	if !ok {
		if cmd.ProcessState == nil {
			return RunOutput{}, crashedWith(&stderr, "the runner did not run: %v", waitErr)
		}
		ws, _ = cmd.ProcessState.Sys().(syscall.WaitStatus)
	}
	return answerOf(ws, &stdout, &stderr)
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

// boundedLog passes the first limit bytes of a run's output to w, then one
// line saying the rest was dropped.
type boundedLog struct {
	w         io.Writer
	limit     int64
	written   int64
	truncated bool
	execID    string
}

func (b *boundedLog) Write(p []byte) (int, error) {
	if b.truncated {
		return len(p), nil
	}
	if room := b.limit - b.written; int64(len(p)) > room {
		b.truncated = true
		_, _ = b.w.Write(p[:room])
		_, _ = fmt.Fprintf(b.w, "\n[kitaru: execution %s: output truncated after %d bytes; the rest of what it prints is dropped]\n", b.execID, b.limit)
		return len(p), nil
	}
	b.written += int64(len(p))
	_, _ = b.w.Write(p)
	return len(p), nil
}

func crashedWith(stderr *tailBuffer, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	if tail := strings.TrimSpace(stderr.String()); tail != "" {
		msg += "; stderr ends with:\n" + tail
	}
	return &RunError{Type: ErrorRunnerCrashed, Message: msg}
}

func answerOf(ws syscall.WaitStatus, stdout *cappedBuffer, stderr *tailBuffer) (RunOutput, error) {
	crashed := func(format string, args ...any) error { return crashedWith(stderr, format, args...) }
	if ws.Signaled() {
		return RunOutput{}, crashed("the runner was killed by signal %s", ws.Signal())
	}
	if stdout.overflow {
		return RunOutput{}, crashed("the runner printed more than %d bytes on stdout", maxRunnerStdout)
	}
	switch code := ws.ExitStatus(); code {
	case 0:
		var a struct {
			Result    json.RawMessage `json:"result"`
			ResultRef string          `json:"result_ref"`
		}
		if !decodeAnswer(stdout.Bytes(), &a) || (a.Result == nil && a.ResultRef == "") {
			return RunOutput{}, crashed("the runner exited 0 without a {\"result\"} or {\"result_ref\"} answer on stdout")
		}
		return RunOutput{Result: a.Result, ResultRef: a.ResultRef}, nil
	case 1:
		var a struct {
			Error *struct {
				Type      string `json:"type"`
				Message   string `json:"message"`
				Traceback string `json:"traceback"`
			} `json:"error"`
		}
		if !decodeAnswer(stdout.Bytes(), &a) || a.Error == nil || a.Error.Type == "" {
			return RunOutput{}, crashed("the runner exited 1 without an {\"error\"} answer on stdout")
		}
		return RunOutput{}, &RunError{Type: a.Error.Type, Message: a.Error.Message, Traceback: a.Error.Traceback}
	default:
		return RunOutput{}, crashed("the runner exited with status %d", code)
	}
}

// decodeAnswer reads the runner's one JSON document. Should something have
// printed before it despite the runner, the last line is tried alone.
func decodeAnswer(out []byte, v any) bool {
	if json.Unmarshal(out, v) == nil {
		return true
	}
	trimmed := bytes.TrimRight(out, " \t\r\n")
	last := trimmed[bytes.LastIndexByte(trimmed, '\n')+1:]
	return len(last) > 0 && json.Unmarshal(last, v) == nil
}

// killSession kills what is left of a run: the process group led by pid
// and every process of the session pid leads (a child may have moved to
// another group of the session).
func killSession(pid int) {
	_ = killGroup(pid)
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return
	}
	for _, e := range entries {
		other, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if sessionOf(other) == pid {
			_ = syscall.Kill(other, syscall.SIGKILL)
		}
	}
}

// sessionOf reads the session id of pid from /proc; 0 when unknown.
func sessionOf(pid int) int {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	// pid (comm) state ppid pgrp session ...; comm may hold anything but ')'.
	fields := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(fields) < 4 {
		return 0
	}
	sid, _ := strconv.Atoi(fields[3])
	return sid
}

// killGroup kills the process group led by pid.
func killGroup(pid int) error { return signalGroup(pid, syscall.SIGKILL) }

// signalGroup signals the process group led by pid; a group already gone is fine.
func signalGroup(pid int, sig syscall.Signal) error {
	if err := syscall.Kill(-pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		return err
	}
	return nil
}

// cappedBuffer keeps the first limit bytes and notes whether more came.
type cappedBuffer struct {
	bytes.Buffer
	limit    int
	overflow bool
}

func (b *cappedBuffer) Write(p []byte) (int, error) {
	if room := b.limit - b.Len(); len(p) > room {
		b.overflow = true
		b.Buffer.Write(p[:max(room, 0)])
		return len(p), nil
	}
	return b.Buffer.Write(p)
}

// tailBuffer keeps the last maxStderrTail bytes written to it.
type tailBuffer struct{ buf []byte }

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.buf = append(b.buf, p...)
	if over := len(b.buf) - maxStderrTail; over > 0 {
		b.buf = append(b.buf[:0], b.buf[over:]...)
	}
	return len(p), nil
}

func (b *tailBuffer) String() string { return strings.ToValidUTF8(string(b.buf), "�") }

// Isolated reports whether runs get their own user, PID and mount namespaces
// on this machine (Linux with user namespaces allowed); otherwise they lead
// their own session only. docs/dev-runner.md says what each guarantees.
func (p PythonRunner) Isolated() bool {
	python, err := resolvePython(p.Python)
	return err == nil && isolationAvailable(python)
}
