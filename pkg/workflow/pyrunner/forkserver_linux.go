package pyrunner

import (
	"bufio"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// forkServerScript is the warm runner's Python side; its header says what
// it does per run.
//
//go:embed forkserver.py
var forkServerScript string

// How long a fork server may take to import the runner and say it is ready,
// and how long it may take to start a run's init.
const (
	forkServerStartTimeout = 30 * time.Second
	forkServerRunTimeout   = 10 * time.Second
)

// errForkServerGone is a fork server that did not take the run: it died, or
// never started one. The run may go to a new one.
var errForkServerGone = errors.New("the fork server is gone")

// forkServer is one warm Python process for one (interpreter, runner
// directory, hidden directories): PID 1 of its own user, PID, mount and IPC
// namespaces, runner.py's imports and the kitaru package imported, forking
// each run from that state (forkserver.py).
type forkServer struct {
	cmd  *exec.Cmd
	ctl  *net.UnixConn
	mu   sync.Mutex // serialises control messages
	done chan struct{}
}

// forkServers holds the live server per key, or the reason none can start
// (then runs go the cold way).
var (
	forkServersMu sync.Mutex
	forkServers   = map[string]*forkServer{}
	forkColdWhy   = map[string]string{}
)

func (p Runner) forkKey(python string) string {
	return strings.Join(append([]string{python, p.Dir}, p.HiddenDirs...), "\x00")
}

// warmServer reports whether p has a running fork server, starting one
// when there is none or the last died; false when none can start here,
// once logged.
func (p Runner) warmServer(python string) bool { return p.forkServer(python) != nil }

// forkServer returns the running fork server for p, starting one when there
// is none or the last died; nil when none can start here, once logged.
func (p Runner) forkServer(python string) *forkServer {
	key := p.forkKey(python)
	forkServersMu.Lock()
	defer forkServersMu.Unlock()
	if s := forkServers[key]; s != nil && !s.exited() {
		return s
	}
	if _, cold := forkColdWhy[key]; cold {
		return nil
	}
	s, err := startForkServer(python, p.Dir, p.HiddenDirs, p.logger())
	if err != nil {
		forkColdWhy[key] = err.Error()
		p.logger().Warn("kitaru dev: flows start cold (a new Python process per run): the fork server could not start", "python", python, "reason", err.Error())
		return nil
	}
	forkServers[key] = s
	return s
}

func (p Runner) logger() *slog.Logger {
	if p.Logger != nil {
		return p.Logger
	}
	return slog.Default()
}

// closeWarm stops p's fork server, if one runs; runs in flight end with it.
func (p Runner) closeWarm(python string) {
	key := p.forkKey(python)
	forkServersMu.Lock()
	s := forkServers[key]
	delete(forkServers, key)
	forkServersMu.Unlock()
	if s != nil {
		s.stop()
	}
}

// startForkServer starts a server and waits until it is ready; what it
// says on stderr (a mount that failed, a module it could not preload) goes
// to log, a line each.
func startForkServer(python, dir string, hidden []string, log *slog.Logger) (*forkServer, error) {
	if !isolationAvailable(python) {
		return nil, errors.New("this kernel allows no user namespaces")
	}
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_SEQPACKET|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	ctl, err := unixConn(fds[0], "fork server control")
	if err != nil {
		_ = syscall.Close(fds[1])
		return nil, err
	}
	theirs := os.NewFile(uintptr(fds[1]), "fork server control")
	script := dir + "/runner.py"
	cmd := exec.Command(python, append([]string{"-c", forkServerScript, script, dir}, hidden...)...)
	cmd.Env = runnerEnv(dir)
	cmd.Dir = dir
	stderr, err := cmd.StderrPipe()
	if err != nil {
		ctl.Close()
		_ = syscall.Close(fds[1])
		return nil, err
	}
	cmd.ExtraFiles = []*os.File{theirs}
	cmd.SysProcAttr = namespaceAttr()
	if os.Getuid() != 0 {
		// Kept through exec, so the server can mount and unshare in its
		// user namespace; each flow process drops it (forkserver.py).
		const capSysAdmin = 21
		cmd.SysProcAttr.AmbientCaps = []uintptr{capSysAdmin}
	}
	err = cmd.Start()
	theirs.Close() // the server's now: its end must be its alone, so its exit is our EOF
	if err != nil {
		ctl.Close()
		return nil, fmt.Errorf("start %s: %w", python, err)
	}
	s := &forkServer{cmd: cmd, ctl: ctl, done: make(chan struct{})}
	go func() {
		lines := bufio.NewScanner(stderr)
		for lines.Scan() {
			log.Warn(lines.Text(), "python", python, "runner", dir)
		}
		_, _ = io.Copy(io.Discard, stderr) // after a line too long to scan
		_ = cmd.Wait()
		close(s.done)
	}()
	buf := make([]byte, 512)
	_ = ctl.SetReadDeadline(time.Now().Add(forkServerStartTimeout))
	n, err := ctl.Read(buf)
	_ = ctl.SetReadDeadline(time.Time{})
	if err == nil && string(buf[:n]) == "ready" {
		return s, nil
	}
	s.stop()
	if err != nil || n == 0 {
		return nil, fmt.Errorf("it ended before it was ready (%v; its stderr says why)", err)
	}
	return nil, errors.New(strings.TrimPrefix(string(buf[:n]), "cold "))
}

func (s *forkServer) exited() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// stop ends the server; the kernel ends every run in its namespace with it.
func (s *forkServer) stop() {
	_ = s.ctl.Close() // the server exits on EOF
	select {
	case <-s.done:
	case <-time.After(time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
}

// runMessage is a control message: one run.
type runMessage struct {
	Home string   `json:"home"`
	Env  []string `json:"env"`
}

// run runs runner.py once in a process forked from the server: stdin is
// the request, stdout and stderr go to the writers. It returns the flow
// process's wait status; errForkServerGone when the server did not take
// the run (nothing ran); a crash when the run ended without a status.
func (s *forkServer) run(stop <-chan struct{}, home string, env []string, stdin []byte, stdout, stderr io.Writer) (syscall.WaitStatus, error) {
	var pipes [6]*os.File // stdin r, w; stdout r, w; stderr r, w
	for i := 0; i < 6; i += 2 {
		r, w, err := os.Pipe()
		if err != nil {
			closeAll(pipes[:i])
			return 0, unavailable("pipes for the run: %v", err)
		}
		pipes[i], pipes[i+1] = r, w
	}
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_SEQPACKET|syscall.SOCK_CLOEXEC, 0)
	if err == nil {
		err = syscall.SetsockoptInt(fds[0], syscall.SOL_SOCKET, syscall.SO_PASSCRED, 1)
		if err != nil {
			_ = syscall.Close(fds[0])
			_ = syscall.Close(fds[1])
		}
	}
	if err != nil {
		closeAll(pipes[:])
		return 0, unavailable("the run's status socket: %v", err)
	}
	status, err := unixConn(fds[0], "run status")
	if err != nil {
		_ = syscall.Close(fds[1])
		closeAll(pipes[:])
		return 0, unavailable("%v", err)
	}
	defer status.Close()
	msg, err := json.Marshal(runMessage{Home: home, Env: env})
	if err != nil {
		panic(err) // strings only
	}
	rights := syscall.UnixRights(int(pipes[0].Fd()), int(pipes[3].Fd()), int(pipes[5].Fd()), fds[1])
	s.mu.Lock()
	_, _, err = s.ctl.WriteMsgUnix(msg, rights, nil)
	s.mu.Unlock()
	// The run holds its ends now; ours would keep its pipes open.
	_ = syscall.Close(fds[1])
	closeAll([]*os.File{pipes[0], pipes[3], pipes[5]})
	if err != nil {
		closeAll([]*os.File{pipes[1], pipes[2], pipes[4]})
		return 0, errForkServerGone
	}
	go func() {
		_, _ = pipes[1].Write(stdin)
		pipes[1].Close()
	}()
	var copied sync.WaitGroup
	for _, c := range []struct {
		r *os.File
		w io.Writer
	}{{pipes[2], stdout}, {pipes[4], stderr}} {
		copied.Go(func() { _, _ = io.Copy(c.w, c.r) })
	}
	defer func() {
		// Everything holding the pipes is in the run's namespace, which
		// ended with its init; the delay only guards against the unforeseen.
		waited := make(chan struct{})
		go func() { copied.Wait(); close(waited) }()
		select {
		case <-waited:
		case <-time.After(runnerPipesDelay):
			closeAll([]*os.File{pipes[2], pipes[4]})
			<-waited
		}
		closeAll([]*os.File{pipes[2], pipes[4]})
	}()

	// The init's first word is "started"; its credentials name it in our
	// PID namespace, so it can be signalled.
	buf := make([]byte, 512)
	oob := make([]byte, syscall.CmsgSpace(syscall.SizeofUcred))
	_ = status.SetReadDeadline(time.Now().Add(forkServerRunTimeout))
	n, oobn, _, _, err := status.ReadMsgUnix(buf, oob)
	_ = status.SetReadDeadline(time.Time{})
	if err != nil || n == 0 {
		if s.exited() {
			return 0, errForkServerGone
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			// Stuck: a new server serves the next runs.
			_ = s.cmd.Process.Kill()
		}
		return 0, unavailable("the fork server did not start the run: %v", err)
	}
	if word := string(buf[:n]); word != "started" {
		return 0, unavailable("%s", strings.TrimPrefix(word, "error "))
	}
	initPid, err := senderPid(oob[:oobn])
	if err != nil {
		return 0, unavailable("the run's init: %v", err)
	}

	ended := make(chan struct{})
	defer close(ended)
	go func() {
		select {
		case <-stop:
		case <-ended:
			return
		}
		// SIGTERM reaches every process of the run through its init; a
		// moment later SIGKILL to the init ends the run's namespace.
		_ = syscall.Kill(initPid, syscall.SIGTERM)
		select {
		case <-time.After(runnerTermGrace):
			_ = syscall.Kill(initPid, syscall.SIGKILL)
		case <-ended:
		}
	}()
	n, err = status.Read(buf)
	if err != nil || n == 0 {
		return 0, errRunEnded
	}
	code, err := strconv.ParseUint(string(buf[:n]), 10, 32)
	if err != nil {
		return 0, unavailable("the run's init answered %q", buf[:n])
	}
	return syscall.WaitStatus(code), nil
}

// errRunEnded is a run whose init ended without the flow process's status:
// killed (a stop), or its fork server died.
var errRunEnded = errors.New("the run ended without a status: its fork server died or it was killed")

// senderPid reads the sender's pid from a message's SCM_CREDENTIALS.
func senderPid(oob []byte) (int, error) {
	msgs, err := syscall.ParseSocketControlMessage(oob)
	if err != nil {
		return 0, err
	}
	for _, m := range msgs {
		if cred, err := syscall.ParseUnixCredentials(&m); err == nil && cred.Pid > 0 {
			return int(cred.Pid), nil
		}
	}
	return 0, errors.New("its message carried no credentials")
}

// unixConn wraps a socket fd in a *net.UnixConn; fd is closed either way.
func unixConn(fd int, name string) (*net.UnixConn, error) {
	f := os.NewFile(uintptr(fd), name)
	defer f.Close()
	c, err := net.FileConn(f)
	if err != nil {
		return nil, fmt.Errorf("%s socket: %w", name, err)
	}
	return c.(*net.UnixConn), nil
}

func closeAll(fs []*os.File) {
	for _, f := range fs {
		closeFile(f)
	}
}

// runWarm runs the attempt in a process forked from p's fork server; warm
// is false when there is none (the run goes the cold way). A server that
// died is replaced once.
func (p Runner) runWarm(ctx context.Context, python, home string, env []string, stdin []byte, stdout, stderr io.Writer) (ws syscall.WaitStatus, warm bool, err error) {
	for range 2 {
		s := p.forkServer(python)
		if s == nil {
			return 0, false, nil
		}
		ws, err = s.run(ctx.Done(), home, env, stdin, stdout, stderr)
		if !errors.Is(err, errForkServerGone) {
			return ws, true, err
		}
	}
	return 0, false, nil
}
