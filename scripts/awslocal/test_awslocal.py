"""Tests of the aws-local pieces on the real engines: the Python runner under
AWS's runtime interface emulator through python_runtime.py, and the project's
state machine executed by moto's ASL interpreter through motoserver.py, its
Lambda tasks reaching RIEs.

    AWS_LAMBDA_RIE=/path/to/aws-lambda-rie \\
        python3 -m unittest discover -s scripts/awslocal -p 'test_*.py'

Needs: aws-lambda-rie (AWS_LAMBDA_RIE, else on PATH), go (stages the runner
and renders the state machine from pkg/workflow), moto 5.2.1 and boto3.
Everything listens on 127.0.0.1 and is stopped at the end.
"""

from __future__ import annotations

import hashlib
import http.server
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.request
import uuid
from typing import Any, Optional

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
FLOWS = os.path.join(REPO, "testdata", "flows", "behaviours")
PYTHON = sys.executable
RIE_BUILD = ("go install github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie"
             "@v0.0.0-20261030222936-bef5c4ba774d")
ENTRY = "flows/behaviours.py:"

sys.path.insert(0, HERE)
import motoserver  # noqa: E402  (stdlib at import time)


def rie_path() -> str:
    path = os.environ.get("AWS_LAMBDA_RIE") or shutil.which("aws-lambda-rie")
    if not path or not os.access(path, os.X_OK):
        raise RuntimeError(
            "aws-lambda-rie not found: set AWS_LAMBDA_RIE to its path, or build it with\n"
            f"    {RIE_BUILD}\n"
            "and set AWS_LAMBDA_RIE=$(go env GOPATH)/bin/aws-lambda-rie")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen, what: str, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{what} did not listen on 127.0.0.1:{port} within {seconds} s")


def stop_process(proc: Optional[subprocess.Popen]) -> None:
    """SIGTERM the process group we started (RIE's runtime child too), then SIGKILL."""
    if proc is None or proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    except ProcessLookupError:
        pass


class RIE:
    """One aws-lambda-rie running python_runtime.py with handler from task_root."""

    def __init__(self, handler: str, task_root: str, log_path: str, env: Optional[dict[str, str]] = None) -> None:
        self.port = free_port()
        api_port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(log_path, "wb")
        self.proc = subprocess.Popen(
            [rie_path(), "--runtime-interface-emulator-address", f"127.0.0.1:{self.port}",
             "--runtime-api-address", f"127.0.0.1:{api_port}",
             PYTHON, os.path.join(HERE, "python_runtime.py")],
            env={**os.environ, "_HANDLER": handler, "LAMBDA_TASK_ROOT": task_root,
                 "AWS_LAMBDA_FUNCTION_TIMEOUT": "900", **(env or {})},
            stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        wait_for_port(self.port, self.proc, "aws-lambda-rie")

    def invoke(self, event: Any) -> tuple[int, Any]:
        req = urllib.request.Request(self.url + "/2015-03-31/functions/function/invocations",
                                     data=json.dumps(event).encode(), method="POST")
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    def stop(self) -> None:
        stop_process(self.proc)
        self.log.close()


class Fixture:
    """What both test classes need: a temp dir, the staged runner, a bundle
    server. Built once per class, torn down in reverse."""

    def __init__(self) -> None:
        rie_path()  # fail first, with the build command, if it is missing
        self.dir = tempfile.mkdtemp(prefix="awslocal-test-")
        self.task_root = os.path.join(self.dir, "runner")
        subprocess.run(["go", "run", "./scripts/stagerunner", self.task_root], cwd=REPO, check=True)
        self.bundle = self._bundle()
        self.digest = "sha256:" + hashlib.sha256(self.bundle).hexdigest()
        self.server = self._serve_bundle()
        self.bundle_url = f"http://127.0.0.1:{self.server.server_address[1]}/bundle.tar.gz"
        self.stoppers: list[Any] = []

    @staticmethod
    def _bundle() -> bytes:
        # The directory's contents, as a deploy tars them (testdata/flows/README.md).
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w:gz") as tar:
            for name in sorted(os.listdir(FLOWS)):
                tar.add(os.path.join(FLOWS, name), arcname=name)
        return buf.getvalue()

    def _serve_bundle(self) -> http.server.ThreadingHTTPServer:
        body = self.bundle

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/gzip")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server

    def run_request(self, function: str, inputs: Optional[dict[str, Any]] = None) -> dict[str, Any]:
        """A workflow.RunRequest (pkg/workflow/request.go) for a behaviours flow."""
        exec_id = "ex-" + uuid.uuid4().hex[:12]
        return {
            "project": "proj-test", "exec_id": exec_id, "flow": "behaviours", "version": 1,
            "snapshot": "snap-1", "entrypoint": ENTRY + function, "inputs": inputs or {},
            "bundle": {"digest": self.digest, "url": self.bundle_url},
        }

    def close(self) -> None:
        for stop in reversed(self.stoppers):
            stop()
        self.server.shutdown()
        self.server.server_close()
        shutil.rmtree(self.dir, ignore_errors=True)


class TheRunnerUnderRIE(unittest.TestCase):
    """functions/runner/runner.py served by aws-lambda-rie through python_runtime.py."""

    @classmethod
    def setUpClass(cls) -> None:
        cls.fx = Fixture()
        try:
            cls.rie = RIE("runner.handler", cls.fx.task_root, os.path.join(cls.fx.dir, "rie.log"))
            cls.fx.stoppers.append(cls.rie.stop)
        except BaseException:
            cls.fx.close()
            raise

    @classmethod
    def tearDownClass(cls) -> None:
        cls.fx.close()

    def test_a_flow_that_returns_answers_its_result(self) -> None:
        status, body = self.rie.invoke(self.fx.run_request("chatty", {"name": "rie"}))
        self.assertEqual((status, body), (200, {"result": {"greeting": "hello rie", "count": 3}}))

    def test_a_flow_that_raises_answers_an_error_report_with_its_frames(self) -> None:
        status, body = self.rie.invoke(self.fx.run_request("fails", {"message": "no luck"}))
        self.assertEqual(status, 200, body)  # RIE gives no X-Amz-Function-Error: motoserver adds it
        self.assertEqual(body["errorType"], "ValueError")
        self.assertTrue(body["requestId"])
        # The runner raises RunFailed, named after the flow's exception, whose
        # message is its error answer (pkg/workflow.FailureFromStates reads it).
        err = json.loads(body["errorMessage"])["error"]
        self.assertEqual((err["type"], err["message"]), ("ValueError", "no luck"))
        self.assertIn('File "flows/behaviours.py", line', err["traceback"])
        self.assertIn("in fails\n    raise ValueError(message)\n", err["traceback"])
        self.assertNotIn("runner.py", err["traceback"])
        self.assertIn("in call_flow", err["details"]["runner_traceback"])
        frames = body["stackTrace"]
        self.assertTrue(all(f.startswith('  File "') for f in frames), frames)
        self.assertIn("in handler", frames[0])  # the bootstrap's own frames are left out

    def test_a_crashed_runtime_is_reported_and_the_next_invoke_runs_on_a_fresh_runtime(self) -> None:
        # A flow that dies only ends its own process: the runner answers.
        status, body = self.rie.invoke(self.fx.run_request("crashes"))
        self.assertEqual(status, 200)
        self.assertEqual(body["errorType"], "Runner.Crashed")
        # One that kills the runtime (the runner's process) is Lambda's crash.
        status, body = self.rie.invoke(self.fx.run_request("kills_the_lambda_runtime"))
        self.assertEqual(status, 502)
        self.assertEqual(body["errorType"], "Runtime.ExitError")
        self.assertIn("signal: killed", body["errorMessage"])
        self.assertTrue(motoserver.is_error_report(json.dumps(body).encode()))

        status, body = self.rie.invoke(self.fx.run_request("chatty"))
        self.assertEqual((status, body), (200, {"result": {"greeting": "hello kitaru", "count": 3}}))

    def test_a_handler_that_cannot_load_is_an_init_error(self) -> None:
        rie = RIE("runner.no_such_handler", self.fx.task_root, os.path.join(self.fx.dir, "rie-init.log"))
        try:
            status, body = rie.invoke({})
        finally:
            rie.stop()
        self.assertEqual(status, 502)
        self.assertEqual(body["errorType"], "Runtime.HandlerNotFound")
        self.assertEqual(body["errorMessage"], "Handler 'no_such_handler' missing on module 'runner'")


def render_asl(runner_arn: str, finish_arn: str) -> str:
    """The project's definition from pkg/workflow, with these ARNs (scripts/renderasl)."""
    out = subprocess.run(["go", "run", "./scripts/renderasl", runner_arn, finish_arn],
                         cwd=REPO, check=True, capture_output=True, text=True)
    return out.stdout


class MotoServer:
    """scripts/awslocal/motoserver.py as a process."""

    def __init__(self, routes_file: str, log_path: str) -> None:
        self.log = open(log_path, "wb")
        started = time.monotonic()
        self.proc = subprocess.Popen(
            [PYTHON, os.path.join(HERE, "motoserver.py"), "--port", "0", "--lambda-routes", routes_file],
            stdout=subprocess.PIPE, stderr=self.log, start_new_session=True)
        line = self._read_line(60)
        if not line.startswith("ready "):
            stop_process(self.proc)
            raise RuntimeError(f"motoserver.py did not get ready: {line!r}; see {log_path}")
        self.url = line.split()[1]
        self.start_seconds = time.monotonic() - started

    def _read_line(self, seconds: float) -> str:
        got: list[str] = []
        reader = threading.Thread(target=lambda: got.append(self.proc.stdout.readline().decode()), daemon=True)
        reader.start()
        reader.join(seconds)
        return got[0].strip() if got else ""

    def stop(self) -> None:
        stop_process(self.proc)
        self.proc.stdout.close()
        self.log.close()


def client(service: str, url: str) -> Any:
    import boto3

    return boto3.client(service, endpoint_url=url, region_name="us-east-1",
                        aws_access_key_id="test", aws_secret_access_key="test")


class TheStateMachineOnMoto(unittest.TestCase):
    """pkg/workflow's definition in moto's interpreter; Run reaches the real
    runner under RIE, the record steps a recording handler under RIE."""

    ACCOUNT = "123456789012"

    @classmethod
    def setUpClass(cls) -> None:
        cls.fx = fx = Fixture()
        try:
            cls.records = os.path.join(fx.dir, "finish-records.jsonl")
            runner = RIE("runner.handler", fx.task_root, os.path.join(fx.dir, "rie-runner.log"))
            fx.stoppers.append(runner.stop)
            finish = RIE("finish_recorder.handler", os.path.join(HERE, "testdata"),
                         os.path.join(fx.dir, "rie-finish.log"), {"FINISH_RECORD_FILE": cls.records})
            fx.stoppers.append(finish.stop)
            routes = os.path.join(fx.dir, "routes.json")
            with open(routes, "w") as f:
                json.dump({"kitaru-runner": runner.url, "kitaru-finish": finish.url}, f)
            cls.moto = MotoServer(routes, os.path.join(fx.dir, "motoserver.log"))
            fx.stoppers.append(cls.moto.stop)
            if os.environ.get("AWSLOCAL_TIMINGS"):
                print(f"\nmotoserver ready after {cls.moto.start_seconds:.2f} s", file=sys.stderr)
            arn = f"arn:aws:lambda:us-east-1:{cls.ACCOUNT}:function:"
            definition = render_asl(arn + "kitaru-runner", arn + "kitaru-finish")
            cls.sfn = client("stepfunctions", cls.moto.url)
            cls.machine = cls.sfn.create_state_machine(
                name="kitaru-executions", definition=definition,
                roleArn=f"arn:aws:iam::{cls.ACCOUNT}:role/kitaru-executions")["stateMachineArn"]
        except BaseException:
            fx.close()
            raise

    @classmethod
    def tearDownClass(cls) -> None:
        cls.fx.close()

    def start(self, function: str, inputs: Optional[dict[str, Any]] = None) -> tuple[dict[str, Any], str]:
        req = self.fx.run_request(function, inputs)
        arn = self.sfn.start_execution(stateMachineArn=self.machine, name=req["exec_id"],
                                       input=json.dumps(req))["executionArn"]
        return req, arn

    def finished(self, arn: str, seconds: float = 60) -> dict[str, Any]:
        deadline = time.monotonic() + seconds
        while True:
            desc = self.sfn.describe_execution(executionArn=arn)
            if desc["status"] != "RUNNING":
                return desc
            if time.monotonic() > deadline:
                self.fail(f"execution {arn} still RUNNING after {seconds} s")
            time.sleep(0.1)

    def recorded(self, exec_id: str) -> list[dict[str, Any]]:
        if not os.path.exists(self.records):
            return []
        with open(self.records) as f:
            events = [json.loads(line)["event"] for line in f if line.strip()]
        return [e for e in events if e.get("exec_id") == exec_id]

    def test_two_executions_of_one_state_machine_both_succeed(self) -> None:
        # Started back to back, so the second StartExecution happens while the
        # first runs (getmoto/moto#10077) and both Run tasks share one RIE.
        started = [self.start("sleeps", {"seconds": 0.5}), self.start("chatty", {"name": "twice"})]
        for (req, arn), want in zip(started, [{"result": {"slept": 0.5}},
                                              {"result": {"greeting": "hello twice", "count": 3}}]):
            desc = self.finished(arn)
            self.assertEqual(desc["status"], "SUCCEEDED", desc)
            output = json.loads(desc["output"])
            self.assertEqual(output["output"], {"Payload": want})
            self.assertEqual(self.recorded(req["exec_id"]),
                             [{"project": "proj-test", "exec_id": req["exec_id"], "output": want}])

    def test_a_flow_that_raises_fails_the_execution_and_records_the_error_report(self) -> None:
        req, arn = self.start("fails", {"message": "bad input"})
        desc = self.finished(arn)
        self.assertEqual((desc["status"], desc.get("error")), ("FAILED", "ValueError"), desc)
        report = json.loads(desc["cause"])
        self.assertEqual(report["errorType"], "ValueError")
        err = json.loads(report["errorMessage"])["error"]
        self.assertEqual((err["type"], err["message"]), ("ValueError", "bad input"))
        self.assertIn("in fails", err["traceback"])
        self.assertIn("runner_traceback", err["details"])

        [record] = self.recorded(req["exec_id"])
        self.assertEqual(set(record), {"project", "exec_id", "error"})
        self.assertEqual((record["project"], record["exec_id"]), ("proj-test", req["exec_id"]))
        self.assertEqual(record["error"]["Error"], "ValueError")
        self.assertEqual(json.loads(record["error"]["Cause"]), report)

    def test_a_crashed_runtime_fails_the_execution_with_runtime_exit_error(self) -> None:
        req, arn = self.start("kills_the_lambda_runtime")
        desc = self.finished(arn)
        self.assertEqual((desc["status"], desc.get("error")), ("FAILED", "Runtime.ExitError"), desc)
        self.assertIn("signal: killed", json.loads(desc["cause"])["errorMessage"])
        [record] = self.recorded(req["exec_id"])
        self.assertEqual(record["error"]["Error"], "Runtime.ExitError")

        # The runner's RIE started a fresh runtime: the next execution runs.
        _, arn = self.start("chatty")
        self.assertEqual(self.finished(arn)["status"], "SUCCEEDED")

    def test_invoking_a_function_without_a_route_names_the_routes_file(self) -> None:
        from botocore.exceptions import ClientError

        with self.assertRaises(ClientError) as caught:
            client("lambda", self.moto.url).invoke(FunctionName="not-routed", Payload=b"{}")
        err = caught.exception.response["Error"]
        self.assertEqual(err["Code"], "ResourceNotFoundException")
        self.assertIn("routes.json", err["Message"])

    def test_invoke_through_moto_answers_as_lambda_does(self) -> None:
        lam = client("lambda", self.moto.url)
        name = f"arn:aws:lambda:us-east-1:{self.ACCOUNT}:function:kitaru-runner"
        timings = []
        for function, want_error in [("chatty", None), ("fails", "Unhandled"), ("crashes", "Unhandled"),
                                     ("kills_the_lambda_runtime", "Unhandled"), ("chatty", None)]:
            t = time.monotonic()
            resp = lam.invoke(FunctionName=name, Payload=json.dumps(self.fx.run_request(function)))
            timings.append((function, time.monotonic() - t))
            self.assertEqual((resp["StatusCode"], resp.get("FunctionError")), (200, want_error), function)
            body = json.loads(resp["Payload"].read())
            if want_error:
                self.assertIn(body["errorType"], ("ValueError", "Runner.Crashed", "Runtime.ExitError"))
        if os.environ.get("AWSLOCAL_TIMINGS"):
            print("\ninvoke through moto -> RIE: " + ", ".join(f"{f} {s * 1000:.0f} ms" for f, s in timings),
                  file=sys.stderr)


class TheLauncher(unittest.TestCase):
    """motoserver.py's own contract: the moto check, ready line, signals."""

    def test_it_stops_cleanly_on_sigterm_and_sigint(self) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            for sig in (signal.SIGTERM, signal.SIGINT):
                with self.subTest(sig.name):
                    server = MotoServer(os.path.join(tmp, "routes.json"), os.path.join(tmp, "moto.log"))
                    self.assertRegex(server.url, r"^http://127\.0\.0\.1:\d+$")
                    os.kill(server.proc.pid, sig)
                    self.assertEqual(server.proc.wait(timeout=15), 0)
                    server.stop()

    def test_it_refuses_a_missing_or_other_moto_with_the_install_command(self) -> None:
        for name, init in [("another version", '__version__ = "5.0.0"\n'),
                           ("missing", 'raise ImportError("No module named \'moto\'")\n')]:
            with self.subTest(name), tempfile.TemporaryDirectory() as fake:
                os.mkdir(os.path.join(fake, "moto"))
                with open(os.path.join(fake, "moto", "__init__.py"), "w") as f:
                    f.write(init)
                done = subprocess.run([PYTHON, os.path.join(HERE, "motoserver.py")], capture_output=True, text=True,
                                      env={**os.environ, "PYTHONPATH": fake}, timeout=60)
                self.assertEqual(done.returncode, 2, done.stderr)
                self.assertIn("pip install 'moto[server]==5.2.1'", done.stderr)
                self.assertEqual(done.stdout, "")


class TheTranslation(unittest.TestCase):
    """motoserver.translate and friends, on RIE's answers as observed."""

    def translate(self, status: int, body: bytes) -> tuple[bytes, dict[str, str]]:
        headers: dict[str, str] = {}
        return motoserver.translate("f", "http://x", status, body, headers), headers

    def test_rie_answers_become_lambda_answers(self) -> None:
        crash = b'{"errorType":"Runtime.ExitError","errorMessage":"RequestId: 1 Error: Runtime exited with error: signal: killed"}'
        raised = b'{"errorMessage":"x","errorType":"ValueError","requestId":"1","stackTrace":[]}'
        for name, status, body, want_body, want_header in [
            ("a result passes unchanged", 200, b'{"result":1}', b'{"result":1}', None),
            ("a handler's error report is Unhandled", 200, raised, raised, "Unhandled"),
            ("a crash (502) is Unhandled, body unchanged", 502, crash, crash, "Unhandled"),
            ("a result with more keys than a report is a result", 200,
             b'{"errorType":"a","errorMessage":"b","result":1}', b'{"errorType":"a","errorMessage":"b","result":1}', None),
        ]:
            with self.subTest(name):
                got, headers = self.translate(status, body)
                self.assertEqual((got, headers.get("x-amz-function-error")), (want_body, want_header))

    def test_an_rie_timeout_becomes_sandbox_timedout(self) -> None:
        got, headers = self.translate(200, b"Task timed out after 2.00 seconds")
        self.assertEqual(headers.get("x-amz-function-error"), "Unhandled")
        self.assertEqual(json.loads(got)["errorType"], "Sandbox.Timedout")

    def test_function_names_are_taken_from_arns(self) -> None:
        for given in ["fn", "fn:live", "arn:aws:lambda:us-east-1:123456789012:function:fn",
                      "arn:aws:lambda:us-east-1:123456789012:function:fn:3", "123456789012:function:fn"]:
            with self.subTest(given):
                self.assertEqual(motoserver.function_name_of(given), "fn")


if __name__ == "__main__":
    unittest.main()
