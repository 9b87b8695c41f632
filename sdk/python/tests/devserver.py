"""A real `kitaru dev` for the SDK's integration tests: built from this repo
once per test run (`go build ./cmd/kitaru`), started on a free port, stopped
at the end. No HTTP mocks anywhere.

Set KITARU_TEST_BIN to a built kitaru binary to skip the build.
"""

from __future__ import annotations

import os
import queue
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import unittest

SDK_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPO = os.path.dirname(os.path.dirname(SDK_DIR))
FLOWS = os.path.join(REPO, "testdata", "flows")
CONNECTION_ENV = ("KITARU_SERVER_URL", "KITARU_AUTH_TOKEN", "KITARU_PROJECT", "KITARU_CONFIG_DIR")


class DevServer:
    """kitaru dev on 127.0.0.1:0; url and api_key parsed from its banner."""

    def __init__(self, bin: str | None = None) -> None:
        self.tmp = tempfile.mkdtemp(prefix="kitaru-sdk-test-")
        self.bin = bin or os.environ.get("KITARU_TEST_BIN") or self._build()
        self.proc: subprocess.Popen | None = None
        self.url = ""
        self.api_key = ""
        self.log_path = os.path.join(self.tmp, "dev.stderr")

    def _build(self) -> str:
        go = shutil.which("go")
        if go is None:
            raise unittest.SkipTest("go is not on PATH: cannot build kitaru dev (set KITARU_TEST_BIN)")
        out = os.path.join(self.tmp, "kitaru")
        subprocess.run([go, "build", "-o", out, "./cmd/kitaru"], cwd=REPO, check=True, timeout=600)
        return out

    def start(self, timeout: float = 60) -> "DevServer":
        log = open(self.log_path, "wb")
        env = {k: v for k, v in os.environ.items() if k not in CONNECTION_ENV}
        self.proc = subprocess.Popen(
            [self.bin, "dev", "--addr", "127.0.0.1:0", "--memory", "--python", sys.executable],
            stdout=subprocess.PIPE,
            stderr=log,
            env=env,
            text=True,
        )
        log.close()
        lines: "queue.Queue[str | None]" = queue.Queue()

        def drain() -> None:
            assert self.proc is not None and self.proc.stdout is not None
            for line in self.proc.stdout:
                lines.put(line)
            lines.put(None)

        self._drain = threading.Thread(target=drain, daemon=True)
        self._drain.start()
        banner = []
        while not (self.url and self.api_key):
            try:
                line = lines.get(timeout=timeout)
            except queue.Empty:
                line = None
            if line is None:
                self.stop()
                raise RuntimeError(f"kitaru dev did not start: {''.join(banner)}\n{self.log()}")
            banner.append(line)
            if m := re.search(r"serving the Kitaru API at (http://\S+)", line):
                self.url = m.group(1)
            if m := re.search(r"API key:\s+(kat_\S+)", line):
                self.api_key = m.group(1)
        return self

    def log(self) -> str:
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as f:
                return f.read()[-4000:]
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc is not None and self.proc.stdout is not None and not self.proc.stdout.closed:
            if getattr(self, "_drain", None) is not None:
                self._drain.join(timeout=5)
            self.proc.stdout.close()

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def env(self, base: dict | None = None) -> dict:
        """base (default os.environ) connected to this server as project default."""
        env = dict(os.environ if base is None else base)
        env.update(KITARU_SERVER_URL=self.url, KITARU_AUTH_TOKEN=self.api_key, KITARU_PROJECT="default")
        return env

    def cli(self, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
        """Run the built kitaru CLI."""
        return subprocess.run([self.bin, *args], capture_output=True, text=True, timeout=120, env=env)


def start_server() -> DevServer:
    """Build and start a kitaru dev; cleaned up if it fails to start."""
    server = DevServer()
    try:
        server.start()
    except BaseException:
        server.cleanup()
        raise
    return server


def connect(url: str, api_key: str, prefix: str):
    """Point the connection variables at url (project default, an empty
    config dir) in a fresh work directory; returns it and a function that
    restores the variables and removes it."""
    work = tempfile.mkdtemp(prefix=prefix)
    saved = {k: os.environ.get(k) for k in CONNECTION_ENV}
    os.makedirs(os.path.join(work, "config"))
    os.environ.update(
        KITARU_SERVER_URL=url,
        KITARU_AUTH_TOKEN=api_key,
        KITARU_PROJECT="default",
        KITARU_CONFIG_DIR=os.path.join(work, "config"),
    )

    def restore() -> None:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        shutil.rmtree(work, ignore_errors=True)

    return work, restore


def python_env(**overrides: str | None) -> dict:
    """os.environ with the SDK importable (PYTHONPATH) and overrides (None removes)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = SDK_DIR + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    for k, v in overrides.items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = v
    return env


def run_python(code: str, cwd: str, env: dict | None = None, python: str = sys.executable, timeout: float = 120):
    """Run code in a fresh interpreter; returns the CompletedProcess (text)."""
    return subprocess.run(
        [python, "-c", code], cwd=cwd, env=env or python_env(), capture_output=True, text=True, timeout=timeout
    )
