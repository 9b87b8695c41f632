//go:build unix && !linux

package pyrunner

import (
	"errors"
	"os"
	"os/exec"
)

// isolate is Linux only: elsewhere a run leads its own session, no more.
func isolate(*exec.Cmd, string, []string) (r, w *os.File, err error) {
	return nil, nil, errors.New("namespaces are Linux only")
}

func isolationAvailable(string) bool { return false }

func isolationRefused(string) {}

func namespaceRefused(error) bool { return false }
