//go:build linux

package cli_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
	"testing"
	"unsafe"

	"github.com/kitaru/deployments/pkg/cli"
)

// openTerminal opens a pseudo-terminal and returns its two ends: what a
// program writes to the terminal end is read from the controller end.
func openTerminal(t *testing.T) (controller, terminal *os.File) {
	t.Helper()
	controller, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	t.Cleanup(func() { controller.Close() })
	var unlock int32
	var n uint32
	for _, op := range []struct {
		req uintptr
		arg unsafe.Pointer
	}{{syscall.TIOCSPTLCK, unsafe.Pointer(&unlock)}, {syscall.TIOCGPTN, unsafe.Pointer(&n)}} {
		if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, controller.Fd(), op.req, uintptr(op.arg)); errno != 0 {
			t.Skipf("pseudo-terminal ioctl: %v", errno)
		}
	}
	terminal, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("open the terminal end: %v", err)
	}
	return controller, terminal
}

func TestExecutionsWaitShowsProgressOnATerminal(t *testing.T) {
	startKitaruDev(t)
	deployBehaviours(t)
	id := invokeID(t, "sleeps")
	controller, terminal := openTerminal(t)
	shown := make(chan string)
	go func() {
		var buf bytes.Buffer
		io.Copy(&buf, controller) // ends with EIO once the terminal end is closed
		shown <- buf.String()
	}()
	var stdout bytes.Buffer
	exit := cli.Run(context.Background(), []string{"executions", "wait", id, "--timeout", "1s"}, &stdout, terminal)
	terminal.Close()
	out := <-shown
	mustKitaru(t, "executions", "cancel", id)
	if exit != cli.ExitError {
		t.Errorf("exit %d, want %d (still running)", exit, cli.ExitError)
	}
	if want := "\r\x1b[KWaiting for execution " + id + " of sleeps version 1: running, "; !strings.Contains(out, want) {
		t.Errorf("terminal showed %q; want it to contain %q", out, want)
	}
	if !strings.Contains(out, "\r\x1b[Kerror: execution "+id+" is still running after 1s") {
		t.Errorf("terminal showed %q; want the progress line cleared before the error", out)
	}
}
