//go:build unix

package pyrunner

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"syscall"

	"github.com/kitaru/deployments/pkg/workflow"
)

// Limits on what a runner process may print.
const (
	maxRunnerStdout = 8 << 20 // results over 256 KiB are uploaded, so this is generous
	maxStderrTail   = 4 << 10
)

// answerOf reads the runner's answer from how it ended and what it printed.
func answerOf(ws syscall.WaitStatus, stdout *cappedBuffer, stderr *tailBuffer) (workflow.RunOutput, error) {
	crashed := func(format string, args ...any) error { return crashedWith(stderr, format, args...) }
	if ws.Signaled() {
		return workflow.RunOutput{}, crashed("the runner was killed by signal %s", ws.Signal())
	}
	if stdout.overflow {
		return workflow.RunOutput{}, crashed("the runner printed more than %d bytes on stdout", maxRunnerStdout)
	}
	switch code := ws.ExitStatus(); code {
	case 0:
		var a struct {
			Result    json.RawMessage `json:"result"`
			ResultRef string          `json:"result_ref"`
		}
		if !decodeAnswer(stdout.Bytes(), &a) || (a.Result == nil && a.ResultRef == "") {
			return workflow.RunOutput{}, crashed("the runner exited 0 without a {\"result\"} or {\"result_ref\"} answer on stdout")
		}
		return workflow.RunOutput{Result: a.Result, ResultRef: a.ResultRef}, nil
	case 1:
		var a workflow.ErrorAnswer
		if !decodeAnswer(stdout.Bytes(), &a) || a.Error == nil || a.Error.Type == "" {
			return workflow.RunOutput{}, crashed("the runner exited 1 without an {\"error\"} answer on stdout")
		}
		return workflow.RunOutput{}, a.RunError()
	default:
		return workflow.RunOutput{}, crashed("the runner exited with status %d", code)
	}
}

func crashedWith(stderr *tailBuffer, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	if tail := strings.TrimSpace(stderr.String()); tail != "" {
		msg += "; stderr ends with:\n" + tail
	}
	return &workflow.RunError{Type: workflow.ErrorRunnerCrashed, Message: msg}
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
