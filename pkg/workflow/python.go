package workflow

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
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
)

// PythonRunner runs a flow as `python3 <Dir>/runner.py`, the RunRequest JSON
// on stdin and one JSON answer on stdout (docs/executions.md, "The runner
// protocol"). The process leads its own process group, so a stop or a
// timeout ends whatever the flow started too: SIGTERM to the group, SIGKILL a
// second later.
type PythonRunner struct {
	// Dir holds runner.py and the kitaru package.
	Dir string
	// Python is the interpreter; empty is python3 on PATH.
	Python string
	// Stderr, when set, also receives the runner's stderr (the flow's logs).
	Stderr io.Writer
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
	python := p.Python
	if python == "" {
		python = "python3"
	}
	var stdout cappedBuffer
	stdout.limit = maxRunnerStdout
	var stderr tailBuffer
	cmd := exec.CommandContext(ctx, python, script)
	cmd.Stdin = bytes.NewReader(stdin)
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if p.Stderr != nil {
		cmd.Stderr = io.MultiWriter(&stderr, p.Stderr)
	}
	cmd.Env = append(os.Environ(), "PYTHONUNBUFFERED=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
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
	if err := cmd.Start(); err != nil {
		return RunOutput{}, &RunError{Type: ErrorRunnerUnavailable, Infrastructure: true,
			Message: fmt.Sprintf("could not start %s: %v", python, err)}
	}
	waitErr := cmd.Wait()
	mu.Lock()
	if hardKill != nil {
		hardKill.Stop()
	}
	mu.Unlock()
	// Whatever the flow left behind in its group goes with it.
	_ = killGroup(cmd.Process.Pid)
	if ctx.Err() != nil {
		return RunOutput{}, fmt.Errorf("runner stopped: %w", context.Cause(ctx))
	}
	return answerOf(cmd.ProcessState, waitErr, &stdout, &stderr)
}

func answerOf(state *os.ProcessState, waitErr error, stdout *cappedBuffer, stderr *tailBuffer) (RunOutput, error) {
	crashed := func(format string, args ...any) error {
		msg := fmt.Sprintf(format, args...)
		if tail := strings.TrimSpace(stderr.String()); tail != "" {
			msg += "; stderr ends with:\n" + tail
		}
		return &RunError{Type: ErrorRunnerCrashed, Message: msg}
	}
	if state == nil {
		return RunOutput{}, crashed("the runner did not run: %v", waitErr)
	}
	if ws, ok := state.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return RunOutput{}, crashed("the runner was killed by signal %s", ws.Signal())
	}
	if stdout.overflow {
		return RunOutput{}, crashed("the runner printed more than %d bytes on stdout", maxRunnerStdout)
	}
	switch code := state.ExitCode(); code {
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
