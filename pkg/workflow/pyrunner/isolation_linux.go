package pyrunner

import (
	"errors"
	"os"
	"os/exec"
	"sync"
	"syscall"
)

// initScript is the isolated runner's first process: PID 1 of the run's PID
// namespace, run as `python -c initScript runner.py DIR HIDDEN...`. It makes
// the mounts private, mounts a /proc showing only the run's processes, makes
// DIR (runner.py and the kitaru package) read-only and mounts an empty
// tmpfs over each HIDDEN directory, then runs runner.py as its child, reaps
// orphans, and writes the runner's wait status to fd 3. When it exits, the
// kernel kills every process left in the namespace. A mount that fails is
// reported on stderr and the run goes on: the PID namespace still holds.
const initScript = `
import ctypes, os, signal, sys
script, ro, hidden = sys.argv[1], sys.argv[2], sys.argv[3:]
os.set_inheritable(3, False)
libc = ctypes.CDLL(None, use_errno=True)
libc.prctl(4, 0, 0, 0, 0)
def mount(src, dst, fstype, flags, what):
    if libc.mount(src, dst.encode(), fstype, flags, None) != 0:
        os.write(2, b"kitaru: could not %s (%s)\n" % (what.encode(), os.strerror(ctypes.get_errno()).encode()))
        return False
    return True
if mount(None, "/", None, 0x4000 | 0x40000, "make the run's mounts private"):
    mount(b"proc", "/proc", b"proc", 0x2 | 0x4 | 0x8, "mount a private /proc: the flow can see other processes")
    if mount(ro.encode(), ro, None, 0x1000 | 0x4000, "bind the runner directory"):
        mount(None, ro, None, 0x20 | 0x1000 | 0x1 | 0x2 | 0x4, "make the runner directory read-only")
    for d in hidden:
        mount(b"tmpfs", d, b"tmpfs", 0x1 | 0x2 | 0x4 | 0x8, "hide " + d)
child = os.fork()
if child == 0:
    os.execv(sys.executable, [sys.executable, script])
signal.signal(signal.SIGTERM, signal.SIG_IGN)
signal.signal(signal.SIGINT, signal.SIG_IGN)
while True:
    try:
        pid, status = os.wait()
    except ChildProcessError:
        os._exit(70)
    if pid == child:
        break
os.write(3, b"%d\n" % status)
os._exit(0)
`

// isolate runs cmd (python runner.py) under initScript in new user, PID,
// mount and IPC namespaces, as the server's own uid and gid, leading its own
// session. It returns the status pipe: the parent reads r and closes w
// once the process started.
func isolate(cmd *exec.Cmd, runnerDir string, hidden []string) (r, w *os.File, err error) {
	r, w, err = os.Pipe()
	if err != nil {
		return nil, nil, err
	}
	python, script := cmd.Args[0], cmd.Args[1]
	cmd.Args = append([]string{python, "-c", initScript, script, runnerDir}, hidden...)
	cmd.ExtraFiles = []*os.File{w}
	cmd.SysProcAttr = namespaceAttr()
	return r, w, nil
}

// namespaceAttr starts a process in new user, PID, mount and IPC
// namespaces, as the server's own uid and gid, leading its own session.
func namespaceAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{
		Setsid:                     true,
		Cloneflags:                 syscall.CLONE_NEWUSER | syscall.CLONE_NEWPID | syscall.CLONE_NEWNS | syscall.CLONE_NEWIPC,
		UidMappings:                []syscall.SysProcIDMap{{ContainerID: os.Getuid(), HostID: os.Getuid(), Size: 1}},
		GidMappings:                []syscall.SysProcIDMap{{ContainerID: os.Getgid(), HostID: os.Getgid(), Size: 1}},
		GidMappingsEnableSetgroups: false,
	}
}

// Whether the kernel lets this server create the namespaces, per interpreter.
var (
	isolationMu    sync.Mutex
	isolationKnown = map[string]bool{}
)

// isolationAvailable says whether runs of python are isolated; the first
// call tries it once.
func isolationAvailable(python string) bool {
	isolationMu.Lock()
	defer isolationMu.Unlock()
	if ok, known := isolationKnown[python]; known {
		return ok
	}
	cmd := exec.Command(python, "-c", "pass")
	cmd.Env = []string{}
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:  syscall.CLONE_NEWUSER | syscall.CLONE_NEWPID | syscall.CLONE_NEWNS | syscall.CLONE_NEWIPC,
		UidMappings: []syscall.SysProcIDMap{{ContainerID: os.Getuid(), HostID: os.Getuid(), Size: 1}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: os.Getgid(), HostID: os.Getgid(), Size: 1}},
	}
	ok := cmd.Run() == nil
	isolationKnown[python] = ok
	return ok
}

// isolationRefused records that the namespaces could not be created.
func isolationRefused(python string) {
	isolationMu.Lock()
	defer isolationMu.Unlock()
	isolationKnown[python] = false
}

// namespaceRefused reports a start that failed because the kernel refused the
// namespaces (user namespaces disabled or limited).
func namespaceRefused(err error) bool {
	return errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EINVAL) ||
		errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EUSERS) || errors.Is(err, syscall.EACCES)
}
