# kitaru dev's fork server (docs/dev-runner.md): run as
# `python -c <this> RUNNER_PY RUNNER_DIR HIDDEN...` by pkg/workflow/pyrunner,
# as PID 1 of its own user, PID, mount and IPC namespaces, with the runs'
# minimal environment and a SOCK_SEQPACKET control socket on fd 3.
#
# At start it makes its mounts private, mounts its own /proc, makes
# RUNNER_DIR read-only and hides each HIDDEN directory under an empty tmpfs
# (as initScript does for a cold run); then it imports what runner.py imports
# (top level, and its PRELOAD tuple) and the kitaru package, runs runner.py's
# top level (all of it but the `if __name__ == "__main__":` block) when it
# has PRELOAD, and says "ready" (or "cold <why>") on the control socket.
#
# Each control message is one run: JSON {"home", "env"} with four fds:
# stdin, stdout, stderr and a status socket. Per run it forks the run's init
# as PID 1 of a new PID namespace; the init unshares new mount and IPC
# namespaces, mounts a fresh /proc, says "started" on the status socket (the
# server in Go learns its pid from the message's credentials, to signal it),
# passes SIGTERM on to every process of the run, and forks the flow process:
# its own session, the fds as 0/1/2, HOME as working directory, exactly the
# given environment, runner.py's main block run as __main__. When that
# process ends, the init writes its wait status and exits, and the kernel
# kills whatever is left in the run's namespace. Nothing of one run reaches
# another: each starts from this pristine server, which never runs a flow.
import ast, ctypes, gc, json, os, signal, socket, sys

script, ro, hidden = sys.argv[1], sys.argv[2], sys.argv[3:]
ctl = socket.socket(fileno=3)
os.set_inheritable(3, False)
libc = ctypes.CDLL(None, use_errno=True)
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 0x1, 0x2, 0x4, 0x8, 0x20, 0x1000, 0x4000, 0x40000
CLONE_NEWNS, CLONE_NEWIPC, CLONE_NEWPID = 0x20000, 0x8000000, 0x20000000


def say(what):
    os.write(2, b"kitaru fork server: " + what.encode() + b"\n")


def mount(src, dst, fstype, flags, what):
    if libc.mount(src, dst.encode(), fstype, flags, None) != 0:
        say("could not %s (%s)" % (what, os.strerror(ctypes.get_errno())))
        return False
    return True


if mount(None, "/", None, MS_REC | MS_PRIVATE, "make the runs' mounts private"):
    mount(b"proc", "/proc", b"proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mount a private /proc: flows can see other processes")
    if mount(ro.encode(), ro, None, MS_BIND | MS_REC, "bind the runner directory"):
        mount(None, ro, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV, "make the runner directory read-only")
    for d in hidden:
        mount(b"tmpfs", d, b"tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "hide " + d)

# As `python runner.py` has it: the runner's directory first on sys.path.
sys.path[0] = ro
with open(script, "rb") as f:
    source = f.read()
tree = ast.parse(source)
preload, importable = [], False
for node in tree.body:
    if isinstance(node, ast.Import):
        preload += [a.name for a in node.names]
    elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module != "__future__":
        preload.append(node.module)
    elif isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "PRELOAD" for t in node.targets):
        importable = True  # runner.py: its top level only defines (it is a Lambda handler module too)
        try:
            preload += list(ast.literal_eval(node.value))
        except ValueError:
            pass
if os.path.isdir(os.path.join(ro, "kitaru")):
    preload.append("kitaru")
for name in preload:
    try:
        __import__(name)
    except Exception as exc:  # the run imports it again and reports the error
        say("could not preload %s: %s" % (name, exc))
import tempfile, threading, traceback, types  # noqa: E401  used by every run


def is_main_guard(node):
    t = node.test if isinstance(node, ast.If) else None
    return (isinstance(t, ast.Compare) and isinstance(t.left, ast.Name) and t.left.id == "__name__"
            and len(t.comparators) == 1 and isinstance(t.comparators[0], ast.Constant) and t.comparators[0].value == "__main__")


# The runs' __main__: runner.py's top level runs here once, and each run
# runs only its `if __name__ == "__main__":` block. Any other script runs
# whole in each run.
main = types.ModuleType("__main__")
main.__file__ = script
main.__cached__ = None
if importable:
    exec(compile(ast.Module([n for n in tree.body if not is_main_guard(n)], []), script, "exec"), main.__dict__)
    code = compile(ast.Module([s for n in tree.body if is_main_guard(n) for s in n.body], []), script, "exec")
else:
    code = compile(tree, script, "exec")

# Each run gets new PID namespace: unshare(CLONE_NEWPID) makes the next
# child PID 1 of a new one, and setns back to this server's own lets the
# next run unshare again. The probe tries it twice.
own_pid_ns = os.open("/proc/self/ns/pid", os.O_RDONLY)


def fork_into_new_pid_ns():
    if libc.unshare(CLONE_NEWPID) != 0:
        raise OSError(ctypes.get_errno(), "could not create the run's PID namespace: " + os.strerror(ctypes.get_errno()))
    try:
        pid = os.fork()
    except OSError:
        pid = -1
        raise
    finally:
        if pid != 0 and libc.setns(own_pid_ns, CLONE_NEWPID) != 0:
            say("could not return to the server's PID namespace (%s)" % os.strerror(ctypes.get_errno()))
            os._exit(1)
    return pid


try:
    for _ in range(2):
        probe = fork_into_new_pid_ns()
        if probe == 0:
            os._exit(0 if os.getpid() == 1 and libc.unshare(CLONE_NEWNS | CLONE_NEWIPC) == 0 else 1)
        _, probed = os.waitpid(probe, 0)
        if probed != 0:
            raise OSError(0, "a run could not have its own mount and IPC namespaces")
except OSError as exc:
    ctl.send(b"cold this server cannot give each run its own namespaces: " + str(exc).encode())
    sys.exit(0)

# Objects from here on are never collected: forked runs copy fewer pages.
gc.collect()
gc.freeze()
# Runs that ended are reaped by the kernel.
signal.signal(signal.SIGCHLD, signal.SIG_IGN)
signal.signal(signal.SIGINT, signal.SIG_IGN)
signal.signal(signal.SIGTERM, signal.SIG_DFL)
sys.stdout.flush()
sys.stderr.flush()


def close(fds):
    for fd in fds:
        try:
            os.close(fd)
        except OSError:
            pass


def flow(run, fds):
    """The flow process: runner.py as __main__, as `python runner.py` runs it."""
    os.setsid()
    if os.getuid() != 0:
        # kitaru dev kept CAP_SYS_ADMIN for this server; a flow gets no
        # capability (as a cold run of a non-root server has none).
        libc.prctl(47, 4, 0, 0, 0)  # PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL
        libc.capset((ctypes.c_uint32 * 2)(0x20080522, 0), (ctypes.c_uint32 * 6)())
    for i, fd in enumerate(fds[:3]):
        os.dup2(fd, i)
    close(fds)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    os.chdir(run["home"])
    os.environ.clear()
    for entry in run["env"]:
        name, _, value = entry.partition("=")
        os.environ[name] = value
    tempfile.tempdir = None  # the run's TMPDIR, not the server's
    sys.argv = [script]
    sys.modules["__main__"] = main
    status = 0
    try:
        exec(code, main.__dict__)
    except SystemExit as exc:
        if exc.code is None:
            status = 0
        elif isinstance(exc.code, int):
            status = exc.code & 0xFF
        else:
            print(exc.code, file=sys.stderr)
            status = 1
    except BaseException:
        traceback.print_exc()
        status = 1
    try:
        threading._shutdown()
        import atexit
        atexit._run_exitfuncs()
        sys.stdout.flush()
        sys.stderr.flush()
    except BaseException:
        pass
    os._exit(status)


def init(run, fds):
    """PID 1 of the run's PID namespace, in its own mount and IPC namespaces."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    ctl.close()
    os.close(own_pid_ns)
    status = socket.socket(fileno=fds[3])
    if libc.unshare(CLONE_NEWNS | CLONE_NEWIPC) != 0:
        status.send(b"error could not create the run's namespaces: " + os.strerror(ctypes.get_errno()).encode())
        os._exit(1)
    libc.mount(b"proc", b"/proc", b"proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, None)
    status.send(b"started")

    def pass_on(signum, frame):
        try:
            os.kill(-1, signal.SIGTERM)
        except OSError:
            pass

    signal.signal(signal.SIGTERM, pass_on)
    child = os.fork()
    if child == 0:
        status.detach()
        flow(run, fds)
    close(fds[:3])
    while True:
        try:
            pid, ws = os.wait()
        except ChildProcessError:
            os._exit(70)
        if pid == child:
            break
    status.send(b"%d" % ws)
    os._exit(0)


ctl.send(b"ready")
while True:
    try:
        msg, fds, _, _ = socket.recv_fds(ctl, 1 << 16, 4)
    except OSError as exc:
        say("control socket: %s" % exc)
        os._exit(1)
    if not msg:
        os._exit(0)  # kitaru dev closed its end: this server, and every run, ends
    if len(fds) != 4:
        close(fds)
        continue
    try:
        run = json.loads(msg)
        pid = fork_into_new_pid_ns()
    except Exception as exc:
        try:
            os.write(fds[3], b"error the fork server could not start the run: " + str(exc).encode())
        except OSError:
            pass
        close(fds)
        continue
    if pid == 0:
        try:
            init(run, fds)
        finally:
            os._exit(1)
    close(fds)
