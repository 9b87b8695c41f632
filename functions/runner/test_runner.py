"""Tests of runner.py: python3 -m unittest discover -s functions/runner -p 'test_*.py'.

Every test runs the runner as it ships: runner.py next to a copy of the kitaru
package (sdk/python/kitaru) in a temporary directory, as a subprocess
(`python3 runner.py`, the kitaru dev protocol) or imported as the Lambda
handler. Bundles are real tar.gz files built here, served by a real HTTP server
on 127.0.0.1 that also accepts the result PUT.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import unittest
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Optional

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, "..", ".."))
SDK_KITARU = os.path.join(REPO, "sdk", "python", "kitaru")
FLOWS = os.path.join(REPO, "testdata", "flows")
RESEARCH = os.path.join(FLOWS, "research")
BEHAVIOURS = os.path.join(FLOWS, "behaviours")
BEHAVIOURS_PY = "flows/behaviours.py"
with open(os.path.join(HERE, "entrypoint_cases.json"), encoding="utf-8") as _f:
    ENTRYPOINT_CASES = json.load(_f)


# ---------------------------------------------------------------------------
# Fixtures: the runner layout, bundles, a blob server


def make_runner_dir(parent: str) -> str:
    """The layout the Go side writes (pkg/runnerfiles): runner.py and kitaru/*.py."""
    d = os.path.join(parent, "runner")
    os.makedirs(os.path.join(d, "kitaru"))
    shutil.copy(os.path.join(HERE, "runner.py"), d)
    for name in os.listdir(SDK_KITARU):
        if name.endswith(".py"):
            shutil.copy(os.path.join(SDK_KITARU, name), os.path.join(d, "kitaru"))
    return d


def bundle_of_dir(root: str) -> bytes:
    """A tar.gz of root's contents, named relative to root, as a deploy builds it."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
            for name in sorted(filenames):
                full = os.path.join(dirpath, name)
                tar.add(full, arcname=os.path.relpath(full, root), recursive=False)
    return buf.getvalue()


def bundle_of(files: dict[str, str], extra: Optional[list[tarfile.TarInfo]] = None) -> bytes:
    """A tar.gz of in-memory files plus raw members (links, devices, hostile names)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
        for info in extra or []:
            tar.addfile(info, io.BytesIO(b"x" * info.size) if info.isreg() else None)
    return buf.getvalue()


def member(name: str, kind: bytes = tarfile.REGTYPE, linkname: str = "", size: int = 0) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    info.size = size
    info.mode = 0o644
    return info


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


OK_FLOW = {"flows/ok.py": "from kitaru import flow\n\n@flow\ndef ok() -> str:\n    return 'ok'\n"}

# Flows that fail in nested user code: a helper module, a chained exception,
# a flow calling another flow through kitaru's Flow.__call__.
FAILING_FLOWS = {
    "helpers.py": (
        "def outer(word):\n"
        "    return inner(word)\n"
        "\n"
        "\n"
        "def inner(word):\n"
        "    raise ValueError(f'no {word}')\n"
    ),
    "flows/failing.py": (
        "import sys\n"
        "\n"
        "from kitaru import flow\n"
        "from helpers import inner, outer\n"
        "\n"
        "\n"
        "@flow\n"
        "def nested(word: str) -> str:\n"
        "    return outer(word)\n"
        "\n"
        "\n"
        "@flow\n"
        "def chained() -> str:\n"
        "    try:\n"
        "        inner('cause')\n"
        "    except ValueError as exc:\n"
        "        raise RuntimeError('wrapped') from exc\n"
        "\n"
        "\n"
        "@flow\n"
        "def during() -> str:\n"
        "    try:\n"
        "        inner('context')\n"
        "    except ValueError:\n"
        "        raise KeyError('while handling')\n"
        "\n"
        "\n"
        "@flow\n"
        "def calls_a_flow(word: str) -> str:\n"
        "    return nested(word)\n"
        "\n"
        "\n"
        "@flow\n"
        "def exits() -> str:\n"
        "    sys.exit(3)\n"
        "\n"
        "\n"
        "@flow\n"
        "def huge(chars: int) -> str:\n"
        "    raise ValueError('x' * chars)\n"
    ),
}
FAILING_PY = "flows/failing.py"
_FRAME = re.compile(r'^  File "(.*)", line (\d+), in (.*)$')


def frames_of(tb: str) -> list[tuple[str, str, str]]:
    """(file, function, source line) of each frame a formatted traceback shows, in order."""
    lines = tb.splitlines()
    frames = []
    for i, line in enumerate(lines):
        m = _FRAME.match(line)
        if m:
            source = lines[i + 1].strip() if i + 1 < len(lines) and not _FRAME.match(lines[i + 1]) else ""
            frames.append((m.group(1), m.group(3), source))
    return frames


class BlobServer:
    """A real HTTP server on 127.0.0.1: GET serves blobs, PUT stores them.

    A path in `failing` answers 403, like an expired presigned URL.
    """

    def __init__(self) -> None:
        self.blobs: dict[str, bytes] = {}
        self.puts: dict[str, tuple[bytes, str]] = {}
        self.failing: set[str] = set()
        self.put_attempts: dict[str, int] = {}
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path in server.failing or self.path not in server.blobs:
                    self.send_error(403 if self.path in server.failing else 404)
                    return
                body = server.blobs[self.path]
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_PUT(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                server.put_attempts[self.path] = server.put_attempts.get(self.path, 0) + 1
                if self.path in server.failing:
                    self.send_error(403)
                    return
                server.puts[self.path] = (body, self.headers.get("Content-Type", ""))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def put_bundle(self, data: bytes) -> dict[str, str]:
        path = "/bundles/" + hashlib.sha256(data).hexdigest()
        self.blobs[path] = data
        return {"digest": digest_of(data), "url": self.url(path)}

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class RunnerTestCase(unittest.TestCase):
    server: BlobServer
    tmp: str
    runner_dir: str

    @classmethod
    def setUpClass(cls) -> None:
        cls.tmp = tempfile.mkdtemp(prefix="kitaru-runner-test-")
        cls.runner_dir = make_runner_dir(cls.tmp)
        cls.server = BlobServer()
        cls.research = cls.server.put_bundle(bundle_of_dir(RESEARCH))
        cls.behaviours = cls.server.put_bundle(bundle_of_dir(BEHAVIOURS))
        cls.failing = cls.server.put_bundle(bundle_of(FAILING_FLOWS))

    @classmethod
    def tearDownClass(cls) -> None:
        cls.server.close()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def event(self, bundle: dict[str, str], entrypoint: str, inputs: Any = None, **extra: Any) -> dict[str, Any]:
        ev = {
            "project": "default",
            "exec_id": "ex_01JTEST",
            "flow": entrypoint.rsplit(":", 1)[-1],
            "version": 1,
            "snapshot": "kitaru::test::v1",
            "entrypoint": entrypoint,
            "inputs": inputs if inputs is not None else {},
            "bundle": bundle,
            "timeout_seconds": 60,
        }
        ev.update(extra)
        return ev

    def run_ref(self, name: str, log_upload: Any = None, secrets: Any = None) -> dict[str, str]:
        """Serve a run object {log_upload?, secrets?} and return the event's run: {url}."""
        obj: dict[str, Any] = {}
        if log_upload is not None:
            obj["log_upload"] = log_upload
        if secrets is not None:
            obj["secrets"] = secrets
        path = f"/run-secrets/{name}.json"
        self.server.blobs[path] = json.dumps(obj).encode()
        return {"url": self.server.url(path)}

    def result_upload(self, name: str) -> dict[str, str]:
        return {"url": self.server.url(f"/results/{name}.json"), "ref": f"results/default/{name}.json"}


class Run:
    def __init__(self, proc: subprocess.CompletedProcess, tmpdir: str) -> None:
        self.code = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        self.tmpdir = tmpdir

    def answer(self) -> dict[str, Any]:
        lines = self.stdout.splitlines()
        assert len(lines) == 1, f"stdout must be one JSON line, got {self.stdout!r}"
        return json.loads(lines[0])


# ---------------------------------------------------------------------------
# The process protocol: python3 runner.py, event on stdin


class ProcessProtocolTest(RunnerTestCase):
    def run_process(self, event: Any, timeout: float = 60) -> Run:
        tmpdir = tempfile.mkdtemp(dir=self.tmp, prefix="tmpdir-")
        stdin = event if isinstance(event, str) else json.dumps(event)
        proc = subprocess.run(
            [sys.executable, os.path.join(self.runner_dir, "runner.py")],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=self.tmp,
            env={**os.environ, "TMPDIR": tmpdir, "PYTHONDONTWRITEBYTECODE": "1"},
        )
        return Run(proc, tmpdir)

    def assert_error(self, run: Run, error_type: str, message_part: str = "") -> dict[str, Any]:
        self.assertEqual(run.code, 1, run.stderr)
        err = run.answer()["error"]
        self.assertEqual(err["type"], error_type, err)
        self.assertIn(message_part, err["message"])
        self.assertIn("Traceback (most recent call last)", err["traceback"])
        return err

    def assert_temp_dir_cleaned(self, run: Run) -> None:
        self.assertEqual(os.listdir(run.tmpdir), [], "the runner left files in its temp dir")

    def test_research_agent_answers_its_result_on_stdout(self):
        run = self.run_process(self.event(self.research, "flows/research.py:research_agent", {"topic": "deployment routing"}))
        self.assertEqual(run.code, 0, run.stderr)
        self.assertEqual(run.answer(), {"result": "research notes on deployment routing"})
        self.assert_temp_dir_cleaned(run)

    def test_plain_function_is_called_with_the_inputs(self):
        run = self.run_process(self.event(self.research, "flows/research.py:plain_summary", {"topic": "t", "words": 7}))
        self.assertEqual(run.code, 0, run.stderr)
        self.assertEqual(run.answer(), {"result": {"topic": "t", "words": 7}})

    def test_null_inputs_call_the_flow_without_arguments(self):
        ev = self.event(self.server.put_bundle(bundle_of(OK_FLOW)), "flows/ok.py:ok")
        ev["inputs"] = None
        run = self.run_process(ev)
        self.assertEqual(run.answer(), {"result": "ok"})

    def test_flow_exception_exits_1_with_type_message_and_traceback(self):
        run = self.run_process(self.event(self.behaviours, f"{BEHAVIOURS_PY}:fails", {"message": "no sources found"}))
        err = self.assert_error(run, "ValueError", "no sources found")
        self.assertEqual(err["message"], "no sources found")
        self.assertIn("behaviours.py", err["traceback"])
        self.assert_temp_dir_cleaned(run)

    def test_traceback_starts_at_the_users_code_with_its_source_lines(self):
        run = self.run_process(self.event(self.failing, f"{FAILING_PY}:nested", {"word": "sources"}))
        err = self.assert_error(run, "ValueError", "no sources")
        tb = err["traceback"]
        self.assertTrue(tb.startswith("Traceback (most recent call last):\n"), tb)
        self.assertEqual(frames_of(tb), [
            (FAILING_PY, "nested", "return outer(word)"),
            ("helpers.py", "outer", "return inner(word)"),
            ("helpers.py", "inner", "raise ValueError(f'no {word}')"),
        ])
        self.assertNotIn("runner.py", tb)
        self.assertTrue(tb.endswith("ValueError: no sources\n"), tb)

    def test_details_carry_the_full_traceback_with_the_runners_frames(self):
        run = self.run_process(self.event(self.failing, f"{FAILING_PY}:nested", {"word": "sources"}))
        full = self.assert_error(run, "ValueError")["details"]["runner_traceback"]
        files = [os.path.basename(f) for f, _, _ in frames_of(full)]
        self.assertEqual(files[0], "runner.py", full)
        self.assertEqual(files[-3:], ["failing.py", "helpers.py", "helpers.py"], full)
        self.assertTrue(all(src for _, _, src in frames_of(full)), f"every frame shows its source line:\n{full}")

    def test_chained_exceptions_keep_both_parts(self):
        cases = [
            ("chained", "RuntimeError", "The above exception was the direct cause of the following exception:"),
            ("during", "KeyError", "During handling of the above exception, another exception occurred:"),
        ]
        for flow, error_type, separator in cases:
            with self.subTest(flow):
                run = self.run_process(self.event(self.failing, f"{FAILING_PY}:{flow}"))
                err = self.assert_error(run, error_type)
                tb = err["traceback"]
                first, _, second = tb.partition(separator)
                self.assertTrue(second, f"the chain separator is missing:\n{tb}")
                self.assertEqual(frames_of(first), [(FAILING_PY, flow, "inner('cause')" if flow == "chained" else "inner('context')"),
                                                    ("helpers.py", "inner", "raise ValueError(f'no {word}')")])
                self.assertIn("ValueError: no c", first)
                self.assertEqual([f[:2] for f in frames_of(second)], [(FAILING_PY, flow)])
                self.assertNotIn("runner.py", tb)
                self.assertIn(separator, err["details"]["runner_traceback"])

    def test_kitaru_frames_between_user_frames_are_dropped(self):
        run = self.run_process(self.event(self.failing, f"{FAILING_PY}:calls_a_flow", {"word": "luck"}))
        tb = self.assert_error(run, "ValueError", "no luck")["traceback"]
        self.assertEqual([f[:2] for f in frames_of(tb)], [
            (FAILING_PY, "calls_a_flow"), (FAILING_PY, "nested"), ("helpers.py", "outer"), ("helpers.py", "inner"),
        ])
        self.assertIn("flow.py", run.answer()["error"]["details"]["runner_traceback"])

    def test_a_runner_error_raised_after_the_users_code_keeps_the_users_part(self):
        run = self.run_process(self.event(self.failing, f"{FAILING_PY}:exits"))
        tb = self.assert_error(run, "FlowExited", "sys.exit(3)")["traceback"]
        self.assertEqual([f[:2] for f in frames_of(tb)], [(FAILING_PY, "exits")])
        self.assertTrue(tb.endswith("FlowExited: the flow called sys.exit(3)\n"), tb)

    def test_an_error_at_import_starts_at_the_flow_files_module_level(self):
        files = dict(FAILING_FLOWS, **{"flows/broken.py": "from helpers import outer\n\nouter('import')\n\n\ndef broken():\n    return 1\n"})
        run = self.run_process(self.event(self.server.put_bundle(bundle_of(files)), "flows/broken.py:broken"))
        tb = self.assert_error(run, "ValueError", "no import")["traceback"]
        self.assertEqual(frames_of(tb)[0], ("flows/broken.py", "<module>", "outer('import')"), tb)
        self.assertNotIn("importlib", tb)

    def test_an_error_before_any_user_code_keeps_the_full_traceback(self):
        run = self.run_process(self.event(self.failing, f"{FAILING_PY}:missing"))
        err = self.assert_error(run, "EntrypointNotFound", "missing")
        self.assertIn("runner.py", err["traceback"])
        self.assertEqual(err["traceback"], err["details"]["runner_traceback"])

        run = self.run_process(self.event(self.research, "flows/research.py:research_agent", {"subject": "x"}))
        self.assert_error(run, "TypeError", "subject")

    def test_flow_stdout_goes_to_stderr_and_the_answer_stays_one_document(self):
        run = self.run_process(self.event(self.behaviours, f"{BEHAVIOURS_PY}:chatty", {"name": "ada"}))
        self.assertEqual(run.code, 0, run.stderr)
        self.assertEqual(run.answer(), {"result": {"greeting": "hello ada", "count": 3}})
        for line in ("hello from print, ada", "hello from fd 1", "hello from a child process"):
            self.assertIn(line, run.stderr)
            self.assertNotIn(line, run.stdout)

    def test_output_printed_at_import_time_does_not_corrupt_the_answer(self):
        files = {"flows/noisy.py": "import os\nprint('import noise')\nos.write(1, b'fd noise')\n\ndef go():\n    return [1, 2]\n"}
        run = self.run_process(self.event(self.server.put_bundle(bundle_of(files)), "flows/noisy.py:go"))
        self.assertEqual(run.answer(), {"result": [1, 2]})
        self.assertIn("import noise", run.stderr)

    def test_large_result_is_put_to_result_upload_and_answered_with_result_ref(self):
        ev = self.event(self.behaviours, f"{BEHAVIOURS_PY}:large", {"kib": 300},
                        result_upload=self.result_upload("ex_large"))
        run = self.run_process(ev)
        self.assertEqual(run.code, 0, run.stderr)
        self.assertEqual(run.answer(), {"result_ref": "results/default/ex_large.json"})
        body, content_type = self.server.puts["/results/ex_large.json"]
        self.assertEqual(content_type, "application/json")
        self.assertEqual(json.loads(body), "x" * (300 * 1024))

    def test_result_at_the_limit_stays_inline(self):
        # The JSON string "xxx…" is len + 2 bytes: exactly 256 KiB.
        ev = self.event(self.server.put_bundle(bundle_of({"f.py": "def f(n):\n    return 'x' * n\n"})), "f.py:f",
                        {"n": 256 * 1024 - 2}, result_upload=self.result_upload("ex_limit"))
        run = self.run_process(ev)
        self.assertEqual(run.code, 0, run.stderr)
        self.assertEqual(len(run.answer()["result"]), 256 * 1024 - 2)
        self.assertNotIn("/results/ex_limit.json", self.server.puts)

    def test_large_result_without_result_upload_is_answered_inline(self):
        run = self.run_process(self.event(self.behaviours, f"{BEHAVIOURS_PY}:large", {"kib": 300}))
        self.assertEqual(run.code, 0, run.stderr)
        self.assertEqual(len(run.answer()["result"]), 300 * 1024)

    def test_failed_result_upload_is_an_error(self):
        upload = self.result_upload("ex_denied")
        self.server.failing.add("/results/ex_denied.json")
        run = self.run_process(self.event(self.behaviours, f"{BEHAVIOURS_PY}:large", {"kib": 300}, result_upload=upload))
        self.assert_error(run, "ResultUploadFailed", "403")

    def test_non_serialisable_result_is_ResultNotSerializable(self):
        run = self.run_process(self.event(self.behaviours, f"{BEHAVIOURS_PY}:unserialisable"))
        self.assert_error(run, "ResultNotSerializable", "object")
        self.assert_temp_dir_cleaned(run)

    def test_nan_result_is_ResultNotSerializable(self):
        bundle = self.server.put_bundle(bundle_of({"f.py": "def f():\n    return {'x': float('nan')}\n"}))
        self.assert_error(self.run_process(self.event(bundle, "f.py:f")), "ResultNotSerializable")

    def test_digest_mismatch_is_refused(self):
        bundle = dict(self.research, digest=digest_of(b"something else"))
        run = self.run_process(self.event(bundle, "flows/research.py:research_agent", {"topic": "x"}))
        self.assert_error(run, "BundleDigestMismatch", "SHA-256")
        self.assert_temp_dir_cleaned(run)

    def test_bundle_that_cannot_be_fetched_is_BundleDownloadFailed(self):
        bundle = {"digest": digest_of(b""), "url": self.server.url("/bundles/missing")}
        self.assert_error(self.run_process(self.event(bundle, "f.py:f")), "BundleDownloadFailed", "404")

    def test_bundle_that_is_not_a_tar_gz_is_refused(self):
        bundle = self.server.put_bundle(b"not a tarball")
        self.assert_error(self.run_process(self.event(bundle, "f.py:f")), "UnsafeBundle")

    def test_escaping_members_are_refused(self):
        cases = {
            "a relative path with ..": [member("../x", size=1)],
            "a nested path with ..": [member("flows/../../x", size=1)],
            "an absolute path": [member("/tmp/kitaru-escape", size=1)],
            "a symlink out of the bundle": [member("flows/out", tarfile.SYMTYPE, "../../etc")],
            "an absolute symlink": [member("flows/passwd", tarfile.SYMTYPE, "/etc/passwd")],
            "a hard link out of the bundle": [member("flows/h", tarfile.LNKTYPE, "../etc/passwd")],
            "a file under a symlink to ..": [
                member("flows/up", tarfile.SYMTYPE, ".."), member("flows/up/esc", tarfile.SYMTYPE, ".."),
            ],
            "a file written through a symlink": [member("d", tarfile.SYMTYPE, "flows"), member("d/x.py", size=1)],
            "a character device": [member("dev", tarfile.CHRTYPE)],
            "a fifo": [member("pipe", tarfile.FIFOTYPE)],
        }
        for name, extra in cases.items():
            with self.subTest(name):
                bundle = self.server.put_bundle(bundle_of(OK_FLOW, extra))
                run = self.run_process(self.event(bundle, "flows/ok.py:ok"))
                self.assert_error(run, "UnsafeBundle")
                self.assert_temp_dir_cleaned(run)
        self.assertFalse(os.path.exists("/tmp/kitaru-escape"))

    def test_symlink_inside_the_bundle_is_allowed(self):
        extra = [member("flows/alias.py", tarfile.SYMTYPE, "ok.py")]
        run = self.run_process(self.event(self.server.put_bundle(bundle_of(OK_FLOW, extra)), "flows/alias.py:ok"))
        self.assertEqual(run.code, 0, run.stderr)
        self.assertEqual(run.answer(), {"result": "ok"})

    def test_missing_entrypoint_file_is_EntrypointNotFound(self):
        run = self.run_process(self.event(self.research, "flows/nope.py:research_agent"))
        self.assert_error(run, "EntrypointNotFound", "flows/nope.py")
        self.assert_temp_dir_cleaned(run)

    def test_missing_function_is_EntrypointNotFound(self):
        run = self.run_process(self.event(self.research, "flows/research.py:nope"))
        self.assert_error(run, "EntrypointNotFound", "nope")

    def test_bad_entrypoint_is_InvalidEvent(self):
        run = self.run_process(self.event(self.research, "../flows/research.py:research_agent"))
        self.assert_error(run, "InvalidEvent", "..")

    def test_stdin_that_is_not_json_is_InvalidEvent(self):
        self.assert_error(self.run_process("{not json"), "InvalidEvent", "stdin")

    def test_flow_calling_sys_exit_is_FlowExited(self):
        bundle = self.server.put_bundle(bundle_of({"f.py": "import sys\n\ndef f():\n    sys.exit(3)\n"}))
        self.assert_error(self.run_process(self.event(bundle, "f.py:f")), "FlowExited", "sys.exit(3)")

    def test_flow_killing_its_process_leaves_no_answer(self):
        run = self.run_process(self.event(self.behaviours, f"{BEHAVIOURS_PY}:crashes"))
        self.assertEqual(run.code, -signal.SIGKILL)
        self.assertEqual(run.stdout, "")

    def test_thread_left_running_by_the_flow_does_not_hold_the_process(self):
        src = "import threading, time\n\ndef f():\n    threading.Thread(target=time.sleep, args=(60,)).start()\n    return 1\n"
        start = time.monotonic()
        run = self.run_process(self.event(self.server.put_bundle(bundle_of({"f.py": src})), "f.py:f"), timeout=30)
        self.assertEqual(run.answer(), {"result": 1})
        self.assertLess(time.monotonic() - start, 30)

    def test_sigterm_answers_Terminated_and_cleans_up(self):
        tmpdir = tempfile.mkdtemp(dir=self.tmp, prefix="tmpdir-")
        ev = self.event(self.behaviours, f"{BEHAVIOURS_PY}:sleeps", {"seconds": 30})
        event_file = os.path.join(self.tmp, "sigterm-event.json")
        with open(event_file, "w") as f:
            json.dump(ev, f)
        with open(event_file) as stdin:
            proc = subprocess.Popen(
                [sys.executable, os.path.join(self.runner_dir, "runner.py")],
                stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                env={**os.environ, "TMPDIR": tmpdir, "PYTHONDONTWRITEBYTECODE": "1"},
            )
        try:
            # Wait until the bundle is unpacked and the flow is sleeping.
            deadline = time.monotonic() + 20
            while not any(os.path.isdir(os.path.join(tmpdir, d, "src", "flows")) for d in os.listdir(tmpdir)):
                self.assertLess(time.monotonic(), deadline, "the runner never unpacked the bundle")
                time.sleep(0.05)
            time.sleep(0.2)
            proc.send_signal(signal.SIGTERM)
            stdout, stderr = proc.communicate(timeout=20)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        self.assertEqual(proc.returncode, 1, stderr)
        self.assertEqual(json.loads(stdout)["error"]["type"], "Terminated")
        self.assertEqual(os.listdir(tmpdir), [])


class ProcessShadowingTest(RunnerTestCase):
    def test_as_a_process_a_kitaru_directory_in_the_bundle_does_not_shadow_the_shipped_sdk(self):
        # As `python3 runner.py` its directory is sys.path[0] already; the
        # bundle root must still come after it.
        files = {
            "kitaru/__init__.py": "raise ImportError('the bundle shadowed the SDK')\n",
            "f.py": "import kitaru\n\n@kitaru.flow\ndef f():\n    return kitaru.__file__\n",
        }
        run = ProcessProtocolTest.run_process(self, self.event(self.server.put_bundle(bundle_of(files)), "f.py:f"))  # type: ignore[arg-type]
        self.assertEqual(run.answer(), {"result": os.path.join(self.runner_dir, "kitaru", "__init__.py")}, run.stderr)


# ---------------------------------------------------------------------------
# The Lambda handler, imported in process


class LambdaHandlerTest(RunnerTestCase):
    @classmethod
    def setUpClass(cls) -> None:
        super().setUpClass()
        spec = importlib.util.spec_from_file_location("kitaru_runner_under_test", os.path.join(cls.runner_dir, "runner.py"))
        cls.runner = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(cls.runner)

    def setUp(self) -> None:
        self.sys_path = list(sys.path)
        self.cwd = os.getcwd()

    def tearDown(self) -> None:
        self.assertEqual(sys.path, self.sys_path, "the handler must restore sys.path")
        self.assertEqual(os.getcwd(), self.cwd, "the handler must restore the working directory")
        self.assertFalse([m for m in sys.modules if m.startswith("kitaru_entrypoint_")], "entrypoint modules must be forgotten")

    def test_handler_returns_the_result_dict(self):
        ev = self.event(self.research, "flows/research.py:research_agent", {"topic": "lambda"})
        self.assertEqual(self.runner.handler(ev, None), {"result": "research notes on lambda"})

    def test_handler_ships_the_log_and_gives_the_fds_back(self):
        fds = [os.fstat(1).st_ino, os.fstat(2).st_ino]
        urls = [self.server.url(f"/logs/lambda/{i}") for i in range(2)]
        ev = self.event(self.behaviours, f"{BEHAVIOURS_PY}:chatty", {"name": "lam"},
                        run=self.run_ref("lambda-log", {"urls": urls, "chunk_bytes": 1 << 20, "max_bytes": 2 << 20}))
        self.assertEqual(self.runner.handler(ev, None)["result"]["greeting"], "hello lam")
        self.assertEqual([os.fstat(1).st_ino, os.fstat(2).st_ino], fds)
        log = self.server.puts["/logs/lambda/0"][0].decode()
        for line in ("hello from print, lam", "hello from fd 1", "hello from a child process", "[kitaru] completed in"):
            self.assertIn(line, log)

    def test_near_the_lambda_timeout_the_flow_is_stopped_and_its_log_kept(self):
        class FakeContext:  # fake: only Lambda's context object knows the deadline
            def get_remaining_time_in_millis(self) -> int:
                return int((self_.runner.LAMBDA_STOP_MARGIN_SECONDS + 1.5) * 1000)

        self_ = self
        urls = [self.server.url(f"/logs/deadline/{i}") for i in range(2)]
        ev = self.event(self.behaviours, f"{BEHAVIOURS_PY}:ticks", {"count": 100, "every": 0.1},
                        run=self.run_ref("deadline", {"urls": urls, "chunk_bytes": 1 << 20, "max_bytes": 2 << 20}))
        started = time.monotonic()
        with self.assertRaises(self.runner.RunFailed) as cm:
            self.runner.handler(ev, FakeContext())
        self.assertLess(time.monotonic() - started, 5, "the flow ran past its deadline")
        self.assertEqual(type(cm.exception).__name__, "Runner.TimedOut")
        log = self.server.puts["/logs/deadline/0"][0].decode()
        self.assertIn("tick 1", log)
        self.assertRegex(log, r"\[kitaru\] failed after \d+\.\d\d s: Terminated: the runner got signal 15\n$")

    def test_a_flow_process_that_dies_is_Runner_Crashed(self):
        bundle = self.server.put_bundle(bundle_of({"f.py": "import os\n\ndef f():\n    os._exit(3)\n"}))
        with self.assertRaises(self.runner.RunFailed) as cm:
            self.runner.handler(self.event(bundle, "f.py:f"), None)
        self.assertEqual(type(cm.exception).__name__, "Runner.Crashed")
        self.assertIn("exited with status 3", json.loads(str(cm.exception))["error"]["message"])

    def test_handler_returns_result_ref_for_a_large_result(self):
        ev = self.event(self.behaviours, f"{BEHAVIOURS_PY}:large", {"kib": 257}, result_upload=self.result_upload("ex_lambda"))
        self.assertEqual(self.runner.handler(ev, None), {"result_ref": "results/default/ex_lambda.json"})
        self.assertEqual(len(json.loads(self.server.puts["/results/ex_lambda.json"][0])), 257 * 1024)

    def handler_failure(self, ev: dict[str, Any], error_type: str, message_re: str = "") -> dict[str, Any]:
        """Call the handler expecting it to fail as error_type; the error its
        Lambda report carries: errorType is the raised class's name, and
        errorMessage (str of it) the runner's {"error": ...} answer."""
        with self.assertRaises(self.runner.RunFailed) as cm:
            self.runner.handler(ev, None)
        exc = cm.exception
        err = json.loads(str(exc))["error"]
        self.assertEqual((type(exc).__name__, err["type"]), (error_type, error_type), err)
        if message_re:
            self.assertRegex(err["message"], message_re)
        self.assertIn("Traceback (most recent call last)", err["traceback"])
        self.assertIn("runner_traceback", err["details"])
        return err

    def run_failure(self, ev: dict[str, Any], error_type: str, message_re: str = "") -> None:
        """Call run(), what the handler's child process runs, in process (so
        the module's default limits can be lowered) expecting error_type."""
        with self.assertRaises(Exception) as cm:
            self.runner.run(ev)
        self.assertEqual(type(cm.exception).__name__, error_type, cm.exception)
        self.assertRegex(str(cm.exception), message_re)

    def lambda_report(self, ev: dict[str, Any]) -> str:
        """The error report Lambda's Python runtime sends when the handler raises."""
        import traceback

        try:
            self.runner.handler(ev, None)
        except Exception as exc:  # as the runtime catches it
            return json.dumps({
                "errorMessage": str(exc), "errorType": type(exc).__name__, "requestId": "5f0c0a4e-0000-4000-8000-000000000000",
                "stackTrace": traceback.format_list(traceback.extract_tb(exc.__traceback__)),
            })
        self.fail("the handler did not raise")

    def test_handler_reports_the_flows_exception_with_its_type_and_message(self):
        ev = self.event(self.behaviours, f"{BEHAVIOURS_PY}:fails", {"message": "lambda boom"})
        err = self.handler_failure(ev, "ValueError", "^lambda boom$")
        self.assertIn("behaviours.py", err["traceback"])

    def test_handler_reports_a_traceback_that_starts_at_the_users_code(self):
        err = self.handler_failure(self.event(self.failing, f"{FAILING_PY}:nested", {"word": "sources"}), "ValueError", "no sources")
        self.assertEqual(frames_of(err["traceback"]), [
            (FAILING_PY, "nested", "return outer(word)"),
            ("helpers.py", "outer", "return inner(word)"),
            ("helpers.py", "inner", "raise ValueError(f'no {word}')"),
        ])
        full = err["details"]["runner_traceback"]
        self.assertEqual(os.path.basename(frames_of(full)[0][0]), "runner.py", full)
        self.assertTrue(all(src for _, _, src in frames_of(full)), full)

    def test_handler_keeps_a_chained_exceptions_both_parts(self):
        err = self.handler_failure(self.event(self.failing, f"{FAILING_PY}:chained"), "RuntimeError", "wrapped")
        self.assertIn("ValueError: no cause", err["traceback"])
        self.assertIn("The above exception was the direct cause", err["traceback"])
        self.assertNotIn("runner.py", err["traceback"])

    def test_handler_report_fits_a_step_functions_cause(self):
        # Step Functions keeps at most 32,768 characters of a task's cause.
        report = self.lambda_report(self.event(self.failing, f"{FAILING_PY}:huge", {"chars": 200_000}))
        self.assertLessEqual(len(report), 32_768)
        err = json.loads(json.loads(report)["errorMessage"])["error"]
        self.assertEqual(err["type"], "ValueError")
        self.assertTrue(err["message"].startswith("xxxx"), err["message"][:100])
        self.assertIn("characters cut", err["traceback"] + err["message"])

    def test_an_error_is_cut_to_any_limit_and_the_cutting_ends(self):
        error = {"type": "ValueError", "message": "m" * 50, "traceback": "t" * 40, "details": {"runner_traceback": '"' * 40}}
        for limit in (0, 60, 120, 200, 400):
            with self.subTest(limit=limit):
                fitted = self.runner.fit_error(error, limit)
                size = len(json.dumps(str(self.runner.RunFailed(fitted))))
                self.assertTrue(size <= limit or fitted["message"] == fitted["traceback"] == "", (size, fitted))
        self.assertEqual(error["details"]["runner_traceback"], '"' * 40, "fit_error must not change its argument")

    def test_handler_raises_ResultNotSerializable(self):
        self.handler_failure(self.event(self.behaviours, f"{BEHAVIOURS_PY}:unserialisable"), "ResultNotSerializable")

    def test_handler_raises_InvalidEvent_for_a_malformed_event(self):
        good = self.event(self.research, "flows/research.py:research_agent", {"topic": "x"})
        cases = {
            "not an object": [],
            "no entrypoint": {k: v for k, v in good.items() if k != "entrypoint"},
            "no bundle": {k: v for k, v in good.items() if k != "bundle"},
            "no bundle url": dict(good, bundle={"digest": good["bundle"]["digest"]}),
            "a file:// bundle url": dict(good, bundle=dict(good["bundle"], url="file:///etc/passwd")),
            "a digest without sha256:": dict(good, bundle=dict(good["bundle"], digest=good["bundle"]["digest"][7:])),
            "inputs that are a list": dict(good, inputs=[1]),
            "result_upload without ref": dict(good, result_upload={"url": "http://127.0.0.1/x"}),
            "a bundle max_bytes of 0": dict(good, bundle=dict(good["bundle"], max_bytes=0)),
            "a negative bundle max_bytes": dict(good, bundle=dict(good["bundle"], max_bytes=-1)),
            "a bundle max_bytes that is a string": dict(good, bundle=dict(good["bundle"], max_bytes="1048576")),
            "a bundle max_bytes that is a boolean": dict(good, bundle=dict(good["bundle"], max_bytes=True)),
        }
        for name, ev in cases.items():
            with self.subTest(name):
                self.handler_failure(ev, "InvalidEvent")

    def test_bad_entrypoint_strings_are_refused(self):
        # The same table pkg/registry's Go tests read: deploy refuses exactly these.
        for entrypoint in [None, 7, "a" * 1022 + ".py:f"] + ENTRYPOINT_CASES["invalid"]:
            with self.subTest(entrypoint=entrypoint):
                with self.assertRaises(self.runner.InvalidEvent):
                    self.runner.parse_entrypoint(entrypoint)

    def test_good_entrypoint_strings_are_split(self):
        # Cleaned of "." segments and repeated slashes, as pkg/registry.ParseEntrypoint cleans them.
        for entrypoint, file, function in ENTRYPOINT_CASES["valid"]:
            with self.subTest(entrypoint=entrypoint):
                self.assertEqual(self.runner.parse_entrypoint(entrypoint), (file, function))

    def test_warm_invocations_do_not_see_the_previous_bundles_modules(self):
        def project(text: str) -> dict[str, str]:
            return {
                "flows/notes.py": f"def note():\n    return {text!r}\n",
                "flows/main.py": "from kitaru import flow\nfrom flows.notes import note\n\n@flow\ndef main():\n    return note()\n",
            }

        for text in ("first bundle", "second bundle"):
            bundle = self.server.put_bundle(bundle_of(project(text)))
            self.assertEqual(self.runner.handler(self.event(bundle, "flows/main.py:main"), None), {"result": text})
        self.assertNotIn("flows.notes", sys.modules)

    def test_flow_runs_with_the_bundle_root_as_working_directory(self):
        files = {"data/in.txt": "from a file", "f.py": "def f():\n    with open('data/in.txt') as f:\n        return f.read()\n"}
        bundle = self.server.put_bundle(bundle_of(files))
        self.assertEqual(self.runner.handler(self.event(bundle, "f.py:f"), None), {"result": "from a file"})

    def test_bundle_over_the_size_limit_is_BundleDownloadFailed(self):
        bundle = self.server.put_bundle(bundle_of({"f.py": "def f():\n    return 1\n" + "#" * 4096}))
        limit = self.runner.MAX_BUNDLE_BYTES
        self.runner.MAX_BUNDLE_BYTES = 64
        try:
            self.run_failure(self.event(bundle, "f.py:f"), "BundleDownloadFailed", "limit")
        finally:
            self.runner.MAX_BUNDLE_BYTES = limit

    def test_bundle_over_the_default_limit_but_within_bundle_max_bytes_runs(self):
        # A server whose KITARU_MAX_BUNDLE_MB is over the runner's default
        # says so in the event: the bundle it accepted downloads and unpacks.
        bundle = self.server.put_bundle(bundle_of({"f.py": "def f():\n    return 1\n" + "#" * 4096}))
        limits = self.runner.MAX_BUNDLE_BYTES, self.runner.MAX_UNPACKED_BYTES
        self.runner.MAX_BUNDLE_BYTES, self.runner.MAX_UNPACKED_BYTES = 64, 256
        try:
            ev = self.event(dict(bundle, max_bytes=1 << 20), "f.py:f")
            self.assertEqual(self.runner.run(ev), {"result": 1})
        finally:
            self.runner.MAX_BUNDLE_BYTES, self.runner.MAX_UNPACKED_BYTES = limits

    def test_bundle_over_bundle_max_bytes_is_BundleDownloadFailed(self):
        # Under the default, over the limit the event gives: the event wins.
        bundle = self.server.put_bundle(bundle_of({"f.py": "def f():\n    return 1\n" + "#" * 4096}))
        ev = self.event(dict(bundle, max_bytes=64), "f.py:f")
        self.handler_failure(ev, "BundleDownloadFailed", "over the 64-byte limit")

    def test_bundle_unpacking_over_four_times_bundle_max_bytes_is_UnsafeBundle(self):
        data = bundle_of({"f.py": "def f():\n    return 1\n", "big.txt": "0" * 100_000})
        self.assertLess(len(data), 10_000, "the test bundle must compress well")
        ev = self.event(dict(self.server.put_bundle(data), max_bytes=10_000), "f.py:f")
        self.handler_failure(ev, "UnsafeBundle", "unpacks to over 40000 bytes")

    def test_bundle_unpacking_over_the_size_limit_is_UnsafeBundle(self):
        bundle = self.server.put_bundle(bundle_of({"f.py": "def f():\n    return 1\n", "big.txt": "0" * 100_000}))
        limit = self.runner.MAX_UNPACKED_BYTES
        self.runner.MAX_UNPACKED_BYTES = 50_000
        try:
            self.run_failure(self.event(bundle, "f.py:f"), "UnsafeBundle", "unpacks to over")
        finally:
            self.runner.MAX_UNPACKED_BYTES = limit

    def test_names_and_links_over_the_shared_caps_are_UnsafeBundle(self):
        r = self.runner
        deep = "a/" * r.MAX_MEMBER_PATH_SEGMENTS + "f.py"
        cases = {
            "a name over the byte cap": [member("n" * (r.MAX_MEMBER_NAME_BYTES + 1))],
            "a name of too many segments": [member(deep)],
            "a symlink target over the byte cap": [member("l", tarfile.SYMTYPE, "b" * (r.MAX_LINK_TARGET_BYTES + 1))],
            "a symlink target of 40,000 segments": [member("l", tarfile.SYMTYPE, "a/" * 40_000)],
            "a hard link target of too many segments": [member("h", tarfile.LNKTYPE, deep)],
            "more members than the cap": [member(str(i)) for i in range(r.MAX_BUNDLE_MEMBERS + 1)],
        }
        for name, members in cases.items():
            with self.subTest(name):
                with self.assertRaises(r.UnsafeBundle):
                    r.check_members(members)

    def test_names_and_links_at_the_shared_caps_are_allowed(self):
        r = self.runner
        segs = r.MAX_MEMBER_PATH_SEGMENTS
        r.check_members([
            member("d/" * (segs - 1) + "f.py"),
            member("n" * (r.MAX_MEMBER_NAME_BYTES - 3) + ".py"),
            member("d/" * (segs - 1) + "up", tarfile.SYMTYPE, "../" * (segs - 1) + "f.py"),
        ])

    def test_a_member_under_a_symlink_is_found_in_one_pass(self):
        r = self.runner
        with self.assertRaisesRegex(r.UnsafeBundle, "lies under the symlink 'a/b'"):
            r.check_members([member("a/b", tarfile.SYMTYPE, "."), member("a/c/x"), member("a/b/c/x")])
        r.check_members([member("a/b", tarfile.SYMTYPE, "."), member("a/bc/x"), member("a/c/x")])

    def test_a_kitaru_directory_in_the_bundle_does_not_shadow_the_shipped_sdk(self):
        files = {
            "kitaru/__init__.py": "raise ImportError('the bundle shadowed the SDK')\n",
            "f.py": "import kitaru\n\n@kitaru.flow\ndef f():\n    return kitaru.__file__\n",
        }
        # Not imported yet, as in a cold Lambda: the import goes through sys.path.
        for name in [m for m in sys.modules if m == "kitaru" or m.startswith("kitaru.")]:
            del sys.modules[name]
        answer = self.runner.handler(self.event(self.server.put_bundle(bundle_of(files)), "f.py:f"), None)
        self.assertEqual(answer, {"result": os.path.join(self.runner_dir, "kitaru", "__init__.py")})

    def test_tuple_results_are_answered_as_json_lists(self):
        bundle = self.server.put_bundle(bundle_of({"f.py": "def f():\n    return (1, 'two', None)\n"}))
        self.assertEqual(self.runner.handler(self.event(bundle, "f.py:f"), None), {"result": [1, "two", None]})


# ---------------------------------------------------------------------------
# The execution log: captured output shipped in chunks through the run object's log_upload


class ExecutionLogTest(RunnerTestCase):
    def log_upload(self, name: str, chunks: int = 10, chunk_bytes: int = 1 << 20) -> dict[str, Any]:
        return {"urls": [self.server.url(f"/logs/{name}/{i}") for i in range(chunks)],
                "chunk_bytes": chunk_bytes, "max_bytes": chunks * chunk_bytes}

    def log_of(self, name: str) -> bytes:
        out = b""
        for i in range(1000):
            put = self.server.puts.get(f"/logs/{name}/{i}")
            if put is None:
                break
            out += put[0]
        return out

    def run_measured(self, event: dict[str, Any], timeout: float = 120) -> tuple[int, dict[str, Any], int]:
        """Run the runner process with its stderr discarded; its exit code,
        answer and peak RSS in KiB (wait4's rusage of that one child)."""
        tmpdir = tempfile.mkdtemp(dir=self.tmp, prefix="tmpdir-")
        proc = subprocess.Popen(
            [sys.executable, os.path.join(self.runner_dir, "runner.py")],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=self.tmp,
            env={**os.environ, "TMPDIR": tmpdir, "PYTHONDONTWRITEBYTECODE": "1"},
        )
        timer = threading.Timer(timeout, proc.kill)
        timer.start()
        try:
            assert proc.stdin is not None and proc.stdout is not None
            proc.stdin.write(json.dumps(event).encode())
            proc.stdin.close()
            out = proc.stdout.read()
            proc.stdout.close()
            _, status, usage = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(status)
        finally:
            timer.cancel()
        return proc.returncode, json.loads(out), usage.ru_maxrss

    def test_output_is_shipped_with_the_runners_own_lines_and_still_reaches_stderr(self):
        ev = self.event(self.behaviours, f"{BEHAVIOURS_PY}:chatty", {"name": "ada"}, run=self.run_ref("chatty", self.log_upload("chatty")))
        run = ProcessProtocolTest.run_process(self, ev)  # type: ignore[arg-type]
        self.assertEqual(run.code, 0, run.stderr)
        log = self.log_of("chatty").decode()
        for line in ("hello from print, ada", "hello from fd 1", "hello from a child process"):
            self.assertIn(line, log)
            self.assertIn(line, run.stderr)
        self.assertTrue(log.startswith("[kitaru] running chatty v1 (ex_01JTEST)"), log)
        self.assertRegex(log, r"\[kitaru\] completed in \d+\.\d\d s\n$")
        self.assertNotIn("[kitaru]", run.stderr, "the runner's own lines go to the log only")
        self.assertEqual(self.server.puts["/logs/chatty/0"][1], "text/plain; charset=utf-8")

    def test_a_flow_that_never_prints_has_only_the_runners_lines(self):
        ev = self.event(self.behaviours, f"{BEHAVIOURS_PY}:silent", run=self.run_ref("silent", self.log_upload("silent")))
        run = ProcessProtocolTest.run_process(self, ev)  # type: ignore[arg-type]
        self.assertEqual(run.answer(), {"result": "quiet"})
        lines = self.log_of("silent").decode().splitlines()
        self.assertEqual(len(lines), 2, lines)
        self.assertTrue(lines[0].startswith("[kitaru] running silent"), lines)
        self.assertTrue(lines[1].startswith("[kitaru] completed in"), lines)

    def test_a_flow_that_breaks_mid_line_keeps_the_partial_line(self):
        ev = self.event(self.behaviours, f"{BEHAVIOURS_PY}:breaks_mid_line", {"text": "half a li"},
                        run=self.run_ref("mid", self.log_upload("mid")))
        run = ProcessProtocolTest.run_process(self, ev)  # type: ignore[arg-type]
        self.assertEqual(run.code, 1)
        log = self.log_of("mid").decode()
        self.assertIn("a whole first line\nhalf a li\n[kitaru] failed after", log, "the runner's own line starts a line of its own")
        self.assertRegex(log, r"\[kitaru\] failed after \d+\.\d\d s: RuntimeError: the flow broke mid-line\n$")

    def test_100_mib_of_output_is_cut_at_the_cap_with_a_marker_in_bounded_memory(self):
        ev = self.event(self.behaviours, f"{BEHAVIOURS_PY}:prints", {"mib": 100}, run=self.run_ref("big", self.log_upload("big")))
        started = time.monotonic()
        code, answer, max_rss_kib = self.run_measured(ev)
        elapsed = time.monotonic() - started
        self.assertEqual(code, 0, answer)
        printed = answer["result"]["bytes"]
        self.assertGreaterEqual(printed, 100 << 20)
        log = self.log_of("big")
        self.assertLessEqual(len(log), 10 << 20)
        self.assertGreater(len(log), (10 << 20) - 2048)
        self.assertTrue(log.startswith(b"[kitaru] running prints"), log[:100])
        self.assertIn(b"\n[kitaru: output truncated: this execution's log keeps 10485760 bytes; later output is dropped]\n", log)
        kept = log.index(b"\n[kitaru: output truncated") - log.index(b"\n") - 1
        self.assertIn(f"[kitaru: {printed - kept} more bytes of output were dropped]\n".encode(), log)
        self.assertRegex(log[-200:].decode(), r"\[kitaru\] completed in \d+\.\d\d s\n$")
        self.assertIn(b"000000000 the quick brown fox", log)
        # Every chunk but the last is full.
        for i in range(9):
            self.assertEqual(len(self.server.puts[f"/logs/big/{i}"][0]), 1 << 20)
        self.assertLess(max_rss_kib, 80 << 10, f"the runner's peak RSS was {max_rss_kib} KiB")
        self.assertLess(elapsed, 100, "printing 100 MiB took too long")

    def test_a_log_that_cannot_be_shipped_does_not_fail_the_run(self):
        self.server.failing.add("/logs/refused/0")
        ev = self.event(self.behaviours, f"{BEHAVIOURS_PY}:chatty", {"name": "bo"}, run=self.run_ref("refused", self.log_upload("refused")))
        run = ProcessProtocolTest.run_process(self, ev)  # type: ignore[arg-type]
        self.assertEqual(run.code, 0, run.stderr)
        self.assertEqual(run.answer()["result"]["greeting"], "hello bo")
        self.assertEqual(run.stderr.count("could not ship the execution's log"), 1, run.stderr)

    def test_shipping_stops_after_three_failed_puts_and_the_flow_runs_on(self):
        self.server.failing.add("/logs/outage/0")
        ev = self.event(self.behaviours, f"{BEHAVIOURS_PY}:ticks", {"count": 8, "every": 0.5},
                        run=self.run_ref("outage", self.log_upload("outage")))
        run = ProcessProtocolTest.run_process(self, ev)  # type: ignore[arg-type]
        self.assertEqual(run.answer(), {"result": 8})
        self.assertEqual(self.server.put_attempts["/logs/outage/0"], 3)
        self.assertIn("tick 7", run.stderr)

    def test_a_bad_log_upload_is_an_invalid_event(self):
        for bad in ({"urls": []}, {"urls": ["http://x/0"], "chunk_bytes": 10}, "nope",
                    {"urls": ["http://x/0"], "chunk_bytes": 4096, "max_bytes": 8192}):
            with self.subTest(log_upload=bad):
                ev = self.event(self.behaviours, f"{BEHAVIOURS_PY}:silent", run=self.run_ref("bad-log", bad))
                run = ProcessProtocolTest.run_process(self, ev)  # type: ignore[arg-type]
                self.assertEqual(run.code, 1)
                self.assertEqual(run.answer()["error"]["type"], "InvalidEvent")


if __name__ == "__main__":
    unittest.main()
