"""Start moto 5.2.1's server with Step Functions executing for real and its
Lambda Invoke forwarded to aws-lambda-rie, for `make aws-local`.

    python3 scripts/awslocal/motoserver.py --port 0 --lambda-routes routes.json

prints one line `ready http://127.0.0.1:PORT` on stdout once the server
answers, then serves until SIGTERM or SIGINT (exit 0). Exit 2: moto or boto3
missing or moto is not 5.2.1 (the message says `pip install 'moto[server]==5.2.1'`).

What it changes in moto, in this process only (site-packages is not edited):

- Config, as `POST /moto-api/config {"stepfunctions": {"execute_state_machine":
  true}, "lambda": {"use_docker": false}}` would: StartExecution runs the
  definition with moto's vendored ASL interpreter, and Lambda uses the
  Docker-free backend (moto/awslambda_simple). The interpreter calls Lambda
  through boto3 at http://localhost:$MOTO_PORT, so MOTO_PORT is set to the
  port actually bound (with --port 0 too); its client's read timeout is
  99999999 s, so a 900 s Run step is not cut short by the client.

- Patch 1, getmoto/moto#10077 (fixed upstream by getmoto/moto#10093): the
  second StartExecution of one state machine fails with 500 "cannot pickle
  '_thread.RLock' object", because StepFunctionsParserBackend.start_execution
  deep-copies the state machine, whose `executions` list holds the first
  execution's live worker thread and lock. Like the upstream fix, the copy's
  memo is pre-seeded so `executions` lists become empty lists in the clone
  (the clone is only a snapshot of the definition for the new execution). We
  seed every state machine (and version) of the backend, not only the one
  started: the clone's `backend` attribute reaches the others too.

- Patch 2, the gap moto documents on LambdaSimpleBackend ("does not use Docker
  containers, will always succeed"): its Invoke never runs code; it answers
  results queued through POST /moto-api/static/lambda-simple/response, or
  echoes the payload, and cannot raise a function error. Here Invoke POSTs the
  payload to the aws-lambda-rie registered for the function in the JSON file
  given by --lambda-routes, {"<function name>": "http://127.0.0.1:<port>"}
  (the RIE's base URL), re-read on every invoke so it may be written after
  start. The function may be given by name, name:qualifier or (partial) ARN.
  Calls to one RIE URL are serialised (one lock per URL): RIE serves one
  invoke at a time and breaks on concurrent ones. RIE's answers become what
  Lambda answers:
    * 200 with a runtime error report (a JSON object with string errorType
      and errorMessage, and no keys other than stackTrace, requestId, cause:
      what a runtime POSTs to /runtime/invocation/{id}/error; RIE returns it
      as a plain 200) -> 200, X-Amz-Function-Error: Unhandled, body unchanged;
    * 502 with such a report (RIE's answer when the runtime process dies
      mid-invoke, {"errorType":"Runtime.ExitError","errorMessage":"RequestId:
      … Error: Runtime exited with error: signal: killed"}, or when init
      failed: the runtime's /init/error document) -> the same;
    * 200 "Task timed out after N.NN seconds" (plain text: RIE's answer when
      AWS_LAMBDA_FUNCTION_TIMEOUT, default 300 s, passes) -> Unhandled with
      {"errorType": "Sandbox.Timedout", "errorMessage": "Error: Task timed out…"};
    * any other 200 -> 200 with the body;
    * no route -> ResourceNotFoundException naming the routes file;
      RIE unreachable or any other answer -> ServiceException (500), which
      Step Functions reports as Lambda.ServiceException.
  Step Functions' lambda:invoke then fails the task with Error = errorType and
  Cause = the body, as on AWS.

Lambda control plane: Invoke does not need the function to exist in moto.
moto's Lambda Invoke route goes straight to the backend's invoke(), and this
launcher resolves the function from the routes file only, so a caller needs
no CreateFunction. (Creating one anyway is harmless; moto's CreateFunction
needs a Role ARN matching arn:aws:iam::123456789012:role/NAME of a role that
exists in moto's IAM, i.e. iam CreateRole first, and Code with a valid zip
(ZipFile) or an existing S3 object.)

Known differences from Lambda: X-Amz-Invocation-Type Event is run
synchronously; a handler's result shaped exactly like an error report is
reported as a function error (RIE gives no other signal); no Log tail.

Stdlib only besides moto and boto3.
"""

from __future__ import annotations

import argparse
import copy
import importlib
import json
import os
import re
import signal
import sys
import threading
import time
import types
import urllib.error
import urllib.request
from typing import Any, Optional

REQUIRED_MOTO = "5.2.1"
INSTALL_HINT = f"pip install 'moto[server]=={REQUIRED_MOTO}'"
# An invoke may run up to Lambda's 900 s limit; the RIE enforces the
# function's own timeout (AWS_LAMBDA_FUNCTION_TIMEOUT), this is only a backstop.
RIE_READ_TIMEOUT_SECONDS = 960
ERROR_REPORT_KEYS = {"errorType", "errorMessage", "stackTrace", "requestId", "cause"}
# RIE's answer when the function's timeout (AWS_LAMBDA_FUNCTION_TIMEOUT,
# default 300 s) passes: a plain-text 200.
RIE_TIMEOUT_RE = re.compile(rb"^Task timed out after [0-9.]+ seconds$")


def require_moto() -> None:
    """Exit 2 with the install command unless moto 5.2.1 and boto3 import."""
    try:
        # boto3 is only needed importable (moto's server uses it); importing
        # it by name keeps an unused binding out of this scope.
        importlib.import_module("boto3")
        import moto
    except ImportError as exc:
        print(f"motoserver: {exc}; install it with: {INSTALL_HINT}", file=sys.stderr)
        sys.exit(2)
    if moto.__version__ != REQUIRED_MOTO:
        print(f"motoserver: moto {moto.__version__} is installed, this launcher patches moto "
              f"{REQUIRED_MOTO}; install it with: {INSTALL_HINT}", file=sys.stderr)
        sys.exit(2)


# ---------------------------------------------------------------------------
# Patch 1: getmoto/moto#10077


def _snapshot_deepcopy(x: Any, memo: Optional[dict[int, Any]] = None) -> Any:
    """copy.deepcopy that, for a state machine, leaves out the executions of
    every state machine of its backend (getmoto/moto#10077, as #10093)."""
    from moto.stepfunctions.models import StateMachineInstance

    if isinstance(x, StateMachineInstance):
        memo = {} if memo is None else memo
        machines = list(getattr(getattr(x, "backend", None), "state_machines", []) or []) + [x]
        for sm in machines:
            for instance in [sm, *getattr(sm, "versions", {}).values()]:
                memo.setdefault(id(instance.executions), [])
    return copy.deepcopy(x, memo)


def patch_second_start_execution() -> None:
    import moto.stepfunctions.parser.models as parser_models

    # The module uses copy.deepcopy only to snapshot the state machine.
    shim = types.SimpleNamespace(**{k: getattr(copy, k) for k in ("copy", "Error")})
    shim.deepcopy = _snapshot_deepcopy
    parser_models.copy = shim


# ---------------------------------------------------------------------------
# Patch 2: Lambda Invoke through aws-lambda-rie


def function_name_of(name_or_arn: str) -> str:
    """The function name in a name, name:qualifier, partial or full ARN."""
    parts = name_or_arn.split(":")
    if "function" in parts:
        i = parts.index("function")
        if i + 1 < len(parts):
            return parts[i + 1]
    return parts[0]


def is_error_report(body: bytes) -> bool:
    """Whether body is a runtime error report (what a runtime POSTs to
    /runtime/invocation/{id}/error or /runtime/init/error, or RIE's own
    Runtime.ExitError)."""
    try:
        doc = json.loads(body)
    except ValueError:
        return False
    return (isinstance(doc, dict) and isinstance(doc.get("errorType"), str)
            and isinstance(doc.get("errorMessage"), str) and set(doc) <= ERROR_REPORT_KEYS)


class RIERouter:
    """Sends invokes to the RIE registered for each function, one at a time per RIE."""

    def __init__(self, routes_file: Optional[str]) -> None:
        self.routes_file = routes_file
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()

    def _lock(self, url: str) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault(url, threading.Lock())

    def route(self, function_name: str) -> str:
        if not self.routes_file:
            raise _not_found(f"Function not found: {function_name}: motoserver was started without "
                             "--lambda-routes, so no function can run")
        try:
            with open(self.routes_file, encoding="utf-8") as f:
                routes = json.load(f)
        except FileNotFoundError:
            routes = {}
        except (OSError, ValueError) as exc:
            raise _service_error(f"read the Lambda routes file {self.routes_file}: {exc}") from exc
        url = routes.get(function_name) if isinstance(routes, dict) else None
        if not isinstance(url, str) or not url:
            raise _not_found(f"Function not found: {function_name}: no aws-lambda-rie URL for it in the Lambda "
                             f"routes file {self.routes_file}; add \"{function_name}\": \"http://127.0.0.1:PORT\"")
        return url.rstrip("/")

    def invoke(self, name_or_arn: str, payload: bytes, response_headers: dict[str, str]) -> bytes:
        name = function_name_of(name_or_arn)
        url = self.route(name) + "/2015-03-31/functions/function/invocations"
        req = urllib.request.Request(url, data=payload or b"{}", method="POST",
                                     headers={"Content-Type": "application/json"})
        with self._lock(url):
            try:
                with urllib.request.urlopen(req, timeout=RIE_READ_TIMEOUT_SECONDS) as resp:
                    status, body = resp.status, resp.read()
            except urllib.error.HTTPError as exc:
                status, body = exc.code, exc.read()
            except (urllib.error.URLError, OSError) as exc:
                raise _service_error(f"invoke {name} at {url}: {exc}") from exc
        return translate(name, url, status, body, response_headers)


def translate(name: str, url: str, status: int, body: bytes, response_headers: dict[str, str]) -> bytes:
    """Lambda's answer for RIE's (status, body); sets X-Amz-Function-Error."""
    if is_error_report(body) and status in (200, 502):
        response_headers["x-amz-function-error"] = "Unhandled"
        return body
    if status == 200 and RIE_TIMEOUT_RE.match(body.strip()):
        response_headers["x-amz-function-error"] = "Unhandled"
        return json.dumps({"errorType": "Sandbox.Timedout",
                           "errorMessage": f"Error: {body.strip().decode()}"}).encode()
    if status == 200:
        return body
    raise _service_error(f"invoke {name} at {url}: aws-lambda-rie answered HTTP {status}: "
                         f"{body[:500].decode('utf-8', 'replace')}")


def _not_found(message: str) -> Exception:
    from moto.awslambda.exceptions import LambdaClientError

    err = LambdaClientError("ResourceNotFoundException", message)
    err.code = 404
    return err


def _service_error(message: str) -> Exception:
    from moto.awslambda.exceptions import LambdaClientError

    err = LambdaClientError("ServiceException", message)
    err.code = 500
    return err


def patch_lambda_invoke(router: RIERouter) -> None:
    from moto.awslambda_simple.models import LambdaSimpleBackend

    def invoke(self: Any, function_name: str, qualifier: Optional[str], body: Any, headers: Any,
               response_headers: Any) -> bytes:
        payload = body.encode("utf-8") if isinstance(body, str) else (body or b"")
        return router.invoke(function_name, payload, response_headers)

    LambdaSimpleBackend.invoke = invoke


# ---------------------------------------------------------------------------
# The server


def configure() -> None:
    """What POST /moto-api/config with our config does."""
    from moto.moto_api._internal.models import moto_api_backend

    moto_api_backend.set_config({
        "stepfunctions": {"execute_state_machine": True},
        "lambda": {"use_docker": False},
    })


def wait_until_answering(base_url: str, deadline_seconds: float = 30) -> None:
    deadline = time.monotonic() + deadline_seconds
    while True:
        try:
            with urllib.request.urlopen(base_url + "/moto-api/config", timeout=2) as resp:
                config = json.load(resp)
            # GET answers only batch and lambda; execute_state_machine was set beside use_docker.
            if config.get("lambda", {}).get("use_docker") is not False:
                raise SystemExit("motoserver: moto did not take the config")
            return
        except (urllib.error.URLError, OSError):
            if time.monotonic() > deadline:
                raise SystemExit(f"motoserver: {base_url} did not answer within {deadline_seconds} s")
            time.sleep(0.05)


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port to bind; 0 picks a free one (default)")
    parser.add_argument("--lambda-routes", metavar="FILE",
                        help='JSON file {"<function name>": "http://127.0.0.1:<rie port>"}, read on every Invoke')
    args = parser.parse_args(argv)

    require_moto()
    from werkzeug.serving import make_server

    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    configure()
    patch_second_start_execution()
    patch_lambda_invoke(RIERouter(os.path.abspath(args.lambda_routes) if args.lambda_routes else None))

    server = make_server(args.host, args.port, DomainDispatcherApplication(create_backend_app), threaded=True)
    port = server.server_address[1]
    # Read by moto's ASL interpreter for every Lambda call it makes.
    os.environ["MOTO_PORT"] = str(port)

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, frame: stop.set())
    serving = threading.Thread(target=server.serve_forever, name="moto-server", daemon=True)
    serving.start()

    host = args.host if args.host not in ("0.0.0.0", "::") else "127.0.0.1"
    base_url = f"http://{host}:{port}"
    wait_until_answering(base_url)
    print(f"ready {base_url}", flush=True)

    while not stop.wait(1):
        if not serving.is_alive():
            print("motoserver: the server thread stopped", file=sys.stderr)
            return 1
    server.shutdown()
    server.server_close()
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # Executions still running are daemon threads: end without waiting for them.
    os._exit(code)
