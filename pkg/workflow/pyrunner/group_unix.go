//go:build unix

package pyrunner

import (
	"bytes"
	"errors"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// killSession kills what is left of a run: the process group led by pid
// and every process of the session pid leads (a child may have moved to
// another group of the session). Without /proc (macOS) only the group is.
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
