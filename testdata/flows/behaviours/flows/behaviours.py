"""Flows that exercise the runner's and the workflow's edge cases.

Each is named for what it does; see testdata/flows/README.md.
"""

import os
import signal
import subprocess
import sys
import time

from kitaru import flow


@flow
def fails(message: str = "the flow failed on purpose") -> str:
    """Raise ValueError(message): the flow's own exception."""
    raise ValueError(message)


@flow
def sleeps(seconds: float = 30) -> dict:
    """Sleep, then answer: for cancel and timeout tests."""
    time.sleep(seconds)
    return {"slept": seconds}


@flow
def chatty(name: str = "kitaru") -> dict:
    """Write to stdout three ways (print, fd 1, a child process) and return a dict."""
    print(f"hello from print, {name}")
    sys.stdout.flush()
    os.write(1, b"hello from fd 1\n")
    subprocess.run([sys.executable, "-c", "print('hello from a child process')"], check=True)
    return {"greeting": f"hello {name}", "count": 3}


@flow
def large(kib: int = 300) -> str:
    """Return a string whose JSON encoding is a little over kib KiB."""
    return "x" * (kib * 1024)


@flow
def unserialisable() -> object:
    """Return an object json cannot encode."""
    return object()


@flow
def kills_the_lambda_runtime() -> str:
    """Kill the process that started the runner's process with SIGKILL: on
    Lambda the runtime itself, which then dies without a report."""
    os.kill(os.getppid(), signal.SIGKILL)
    time.sleep(10)  # not reached: the runtime's end ends this run
    return "unreachable"


def crashes() -> str:
    """Kill its own process with SIGKILL: the runner dies without an answer."""
    os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(10)  # not reached
    return "unreachable"


@flow
def prints(mib: int = 100, line: str = "the quick brown fox jumps over the lazy dog") -> dict:
    """Print about mib MiB of numbered lines: for the log cap."""
    lines = 0
    written = 0
    while written < mib << 20:
        text = f"{lines:09d} {line}\n"
        sys.stdout.write(text)
        written += len(text)
        lines += 1
    return {"lines": lines, "bytes": written}


@flow
def silent() -> str:
    """Print nothing: an empty log (only the runner's own lines)."""
    return "quiet"


@flow
def breaks_mid_line(text: str = "a partial last line") -> str:
    """Print a line, then text without a newline, then raise: the log keeps both."""
    print("a whole first line")
    sys.stdout.write(text)
    raise RuntimeError("the flow broke mid-line")


@flow
def ticks(count: int = 5, every: float = 0.4) -> int:
    """Print "tick i" count times, every seconds apart: a log that grows while it runs."""
    for i in range(count):
        print(f"tick {i}", flush=True)
        time.sleep(every)
    return count
