//go:build unix && !linux

package pyrunner

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"syscall"
)

// isolate is Linux only: elsewhere a run leads its own session, no more.
func isolate(*exec.Cmd, string, []string) (r, w *os.File, err error) {
	return nil, nil, errors.New("namespaces are Linux only")
}

func isolationAvailable(string) bool { return false }

func isolationRefused(string) {}

func namespaceRefused(error) bool { return false }

// runWarm is Linux only: elsewhere every run starts a new interpreter.
func (Runner) runWarm(context.Context, string, string, []string, []byte, io.Writer, io.Writer) (syscall.WaitStatus, bool, error) {
	return 0, false, nil
}

func (Runner) closeWarm(string) {}

func (Runner) warmServer(string) bool { return false }
