"""A Lambda custom-runtime bootstrap that runs a Python handler the way the
python3.x managed runtime does, so AWS's runtime interface emulator can host
the runner (functions/runner/runner.py) without the managed runtime's image.

Usage (the emulator starts this program as the runtime process):

    AWS_LAMBDA_RUNTIME_API is set by aws-lambda-rie
    _HANDLER=runner.handler LAMBDA_TASK_ROOT=/path/to/staged/runner \
        aws-lambda-rie \
            --runtime-interface-emulator-address 127.0.0.1:PORT \
            --runtime-api-address 127.0.0.1:PORT2 \
            /path/to/python3 scripts/awslocal/python_runtime.py

LAMBDA_TASK_ROOT is the function's code directory (for the runner:
`go run ./scripts/stagerunner DIR`); it goes first on sys.path and becomes the
working directory, as in Lambda.

The runtime API (https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html):
import the handler, reporting a failure to /runtime/init/error; then loop on
/runtime/invocation/next, answering each event on .../response or, when the
handler raises, .../error with the error document Lambda's Python runtime
sends: {errorMessage, errorType, requestId, stackTrace}, stackTrace being
traceback.format_list of the handler's frames.

Stdlib only.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import time
import traceback
import urllib.error
import urllib.request
from typing import Any, Callable, Optional

API_VERSION = "2018-06-01"
# Lambda's own error types for failures outside the handler's code.
ERROR_IMPORT_MODULE = "Runtime.ImportModuleError"
ERROR_HANDLER_NOT_FOUND = "Runtime.HandlerNotFound"
ERROR_MALFORMED_HANDLER = "Runtime.MalformedHandlerName"
ERROR_MARSHAL = "Runtime.MarshalError"
ERROR_UNMARSHAL = "Runtime.UnmarshalError"


class RuntimeAPI:
    """A client of the Lambda runtime API at host:port (AWS_LAMBDA_RUNTIME_API)."""

    def __init__(self, address: str) -> None:
        self.base = f"http://{address}/{API_VERSION}/runtime"

    def _post(self, path: str, body: bytes, headers: Optional[dict[str, str]] = None) -> None:
        req = urllib.request.Request(self.base + path, data=body, method="POST", headers=headers or {})
        req.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(req) as resp:
            resp.read()

    def next(self) -> tuple[bytes, dict[str, str]]:
        """Block until the next invocation; its body and headers."""
        # No timeout: the emulator holds the request until an invoke arrives.
        with urllib.request.urlopen(self.base + "/invocation/next") as resp:
            return resp.read(), {k.lower(): v for k, v in resp.headers.items()}

    def respond(self, request_id: str, body: bytes) -> None:
        self._post(f"/invocation/{request_id}/response", body)

    def fail(self, request_id: str, error: dict[str, Any]) -> None:
        self._post(f"/invocation/{request_id}/error", _error_body(error),
                   {"Lambda-Runtime-Function-Error-Type": error["errorType"]})

    def init_failed(self, error: dict[str, Any]) -> None:
        self._post("/init/error", _error_body(error),
                   {"Lambda-Runtime-Function-Error-Type": error["errorType"]})


def _error_body(error: dict[str, Any]) -> bytes:
    return json.dumps(error, separators=(",", ":"), default=str).encode("utf-8")


def error_document(exc: BaseException, request_id: str = "") -> dict[str, Any]:
    """The error document Lambda's Python runtime sends when the handler
    raises exc: the frames from the handler's inward (this file's frames are
    dropped, as the managed runtime drops its bootstrap's)."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename != __file__]
    return {
        "errorMessage": str(exc),
        "errorType": type(exc).__name__,
        "requestId": request_id,
        "stackTrace": traceback.format_list(frames),
    }


def fault_document(error_type: str, message: str, request_id: str = "") -> dict[str, Any]:
    """The error document of a runtime fault (Runtime.*): like the managed
    runtime's, it has no stack trace."""
    return {"errorMessage": message, "errorType": error_type, "requestId": request_id, "stackTrace": []}


class Context:
    """The handler's context argument: the attributes of Lambda's Python
    LambdaContext that a handler can rely on here."""

    def __init__(self, request_id: str, deadline_ms: int, invoked_function_arn: str) -> None:
        self.aws_request_id = request_id
        self.invoked_function_arn = invoked_function_arn
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "function")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME", "")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME", "")
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self) -> int:
        return max(self._deadline_ms - int(time.time() * 1000), 0)


class InitError(Exception):
    """The handler could not be loaded; carries Lambda's error type."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type


def load_handler(spec: str, task_root: str) -> Callable[[Any, Any], Any]:
    """Import "module.function" (module may be dotted) from task_root."""
    module_name, _, function_name = spec.rpartition(".")
    if not module_name or not function_name:
        raise InitError(ERROR_MALFORMED_HANDLER, f"Bad handler '{spec}': not enough values to unpack (expected 2, got 1)")
    if task_root not in sys.path:
        sys.path.insert(0, task_root)
    try:
        module = importlib.import_module(module_name.replace("/", "."))
    except Exception as exc:
        raise InitError(ERROR_IMPORT_MODULE, f"Unable to import module '{module_name}': {exc}") from exc
    handler = getattr(module, function_name, None)
    if handler is None or not callable(handler):
        raise InitError(ERROR_HANDLER_NOT_FOUND, f"Handler '{function_name}' missing on module '{module_name}'")
    return handler


def serve_one(api: RuntimeAPI, handler: Callable[[Any, Any], Any]) -> None:
    """Take one invocation from the API, run handler on it and answer."""
    body, headers = api.next()
    request_id = headers.get("lambda-runtime-aws-request-id", "")
    deadline = headers.get("lambda-runtime-deadline-ms", "")
    context = Context(
        request_id,
        int(deadline) if deadline.isdigit() else int(time.time() * 1000) + 900_000,
        headers.get("lambda-runtime-invoked-function-arn", ""),
    )
    try:
        event = json.loads(body) if body else None
    except ValueError as exc:
        api.fail(request_id, fault_document(ERROR_UNMARSHAL, f"Unable to unmarshal input: {exc}", request_id))
        return
    try:
        result = handler(event, context)
    except Exception as exc:
        api.fail(request_id, error_document(exc, request_id))
        return
    try:
        answer = json.dumps(result, separators=(",", ":")).encode("utf-8")
    except (TypeError, ValueError) as exc:
        api.fail(request_id, fault_document(ERROR_MARSHAL, f"Unable to marshal response: {exc}", request_id))
        return
    api.respond(request_id, answer)


def main() -> int:
    try:
        address = os.environ["AWS_LAMBDA_RUNTIME_API"]
        spec = os.environ["_HANDLER"]
    except KeyError as exc:
        print(f"python_runtime: {exc.args[0]} is not set; run me under aws-lambda-rie with _HANDLER set",
              file=sys.stderr)
        return 2
    task_root = os.environ.get("LAMBDA_TASK_ROOT") or os.getcwd()
    api = RuntimeAPI(address)
    try:
        os.chdir(task_root)
        handler = load_handler(spec, task_root)
    except InitError as exc:
        api.init_failed(fault_document(exc.error_type, str(exc)))
        return 1
    except OSError as exc:
        api.init_failed(fault_document("Runtime.InvalidEntrypoint", f"LAMBDA_TASK_ROOT {task_root}: {exc}"))
        return 1
    while True:
        serve_one(api, handler)


if __name__ == "__main__":
    sys.exit(main())
