"""The SDK's errors: ``KitaruError``, one class per server error code, the
connection's ``ConfigurationError`` and the outcomes of ``wait()``.

``STATUS_BY_CODE`` is the server's one table of error code → HTTP status
(``StatusOf`` in ``pkg/api``, the ``ErrorCode`` enum of
``api/openapi.yaml``); an answer without the error envelope (a proxy or a
gateway answered) gets the code ``code_for_status`` reads from its status, as
``api.CodeOf`` does in Go. ``tests/test_api.py`` checks the
table against ``api/openapi.yaml`` and the fallback against Go's.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Optional

if TYPE_CHECKING:  # pragma: no cover
    from kitaru.client import Execution

__all__ = [
    "KitaruError",
    "ConfigurationError",
    "InvalidArgumentError",
    "UnauthenticatedError",
    "PermissionDeniedError",
    "NotFoundError",
    "ConflictError",
    "PreconditionFailedError",
    "PayloadTooLargeError",
    "UnprocessableError",
    "IdempotencyMismatchError",
    "RateLimitedError",
    "InternalError",
    "UnavailableError",
    "ExecutionError",
    "ExecutionFailed",
    "ExecutionCancelled",
    "WaitTimeoutError",
    "STATUS_BY_CODE",
    "code_for_status",
]


class KitaruError(Exception):
    """Every error of the SDK. ``code`` is the server's error code
    (``not_found``, ``conflict``, …), ``message`` says what went wrong and what
    to do next, ``details`` is the server's machine-readable context, ``status``
    the HTTP status (None for errors raised before or without a request)."""

    code = "internal"

    def __init__(
        self,
        message: str,
        *,
        code: Optional[str] = None,
        details: Optional[dict[str, Any]] = None,
        status: Optional[int] = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.details = dict(details or {})
        self.status = status

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else self.message


class InvalidArgumentError(KitaruError):
    """400: a name, number or field is invalid."""

    code = "invalid_argument"


class UnauthenticatedError(KitaruError):
    """401: no or invalid credentials."""

    code = "unauthenticated"


class PermissionDeniedError(KitaruError):
    """403: the credential may not do this (e.g. a consumer key deploying)."""

    code = "permission_denied"


class NotFoundError(KitaruError):
    """404: the flow, version, tag or execution does not exist."""

    code = "not_found"


class ConflictError(KitaruError):
    """409: the change contradicts the routes (e.g. deleting a version holding ``default``)."""

    code = "conflict"


class PreconditionFailedError(KitaruError):
    """412: the tag changed since the revision sent; also a deploy outside a Kitaru project."""

    code = "precondition_failed"


class PayloadTooLargeError(KitaruError):
    """413: a body, the inputs or a result over the limits."""

    code = "payload_too_large"


class UnprocessableError(KitaruError):
    """422: well-formed but impossible, e.g. inputs that do not match the deployment's schema."""

    code = "unprocessable"


class IdempotencyMismatchError(UnprocessableError):
    """422: an ``idempotency_key`` was already used, within 24 hours, for a different
    request (e.g. other inputs); nothing changed. Use a new key for a new request."""

    code = "idempotency_mismatch"


class RateLimitedError(KitaruError):
    """429: too many requests (after retries)."""

    code = "rate_limited"


class InternalError(KitaruError):
    """500: the server failed (after retries)."""

    code = "internal"


class UnavailableError(KitaruError):
    """503 (or 502/504, or no answer at all): the server is unreachable or overloaded."""

    code = "unavailable"


class ConfigurationError(KitaruError):
    """The connection is incomplete or unreadable; the message names what to set."""

    code = "precondition_failed"


class ExecutionError(KitaruError):
    """An execution did not complete: the base of ExecutionFailed, ExecutionCancelled
    and WaitTimeoutError. ``execution`` is the execution as last read."""

    def __init__(self, message: str, execution: "Execution", *, code: str) -> None:
        super().__init__(message, code=code)
        self.execution = execution
        self.exec_id = execution.exec_id


class ExecutionFailed(ExecutionError):
    """The execution failed: ``type`` is the exception class (e.g. ``ValueError``, or
    ``States.Timeout``, ``Runner.Crashed``, ``StartFailed``), ``message`` its message,
    ``traceback`` the remote traceback as a user reads it (it starts at the flow's
    code) and ``runner_traceback`` the runner's full one, its own frames included
    (empty when the server sent none).

    ``str()`` names the execution and the error, then shows ``traceback``
    indented below it (the runner's when there is no other), so an uncaught
    ExecutionFailed prints where the flow failed, not only that it did."""

    def __init__(self, execution: "Execution") -> None:
        err = execution.error or {}
        details = err.get("details")
        self.type = str(err.get("type") or "Unknown")
        self.traceback = str(err.get("traceback") or "")
        self.runner_traceback = str((details if isinstance(details, dict) else {}).get("runner_traceback") or "")
        message = str(err.get("message") or "")
        text = f"execution {execution.exec_id} of {execution.flow} version {execution.version} failed: {self.type}: {message}"
        shown = (self.traceback or self.runner_traceback).rstrip("\n")
        if shown:
            text += "\n" + "\n".join("  " + line for line in shown.split("\n"))
        super().__init__(text, execution, code="execution_failed")
        self.message = message


class ExecutionCancelled(ExecutionError):
    """The execution was cancelled."""

    def __init__(self, execution: "Execution") -> None:
        super().__init__(
            f"execution {execution.exec_id} of {execution.flow} version {execution.version} was cancelled",
            execution,
            code="cancelled",
        )


class WaitTimeoutError(ExecutionError, TimeoutError):
    """``wait(timeout=…)`` ran out while the execution was still running (it keeps
    running: ``cancel()`` it if it is no longer wanted). A ``TimeoutError``."""

    def __init__(self, execution: "Execution", timeout: float) -> None:
        super().__init__(
            f"execution {execution.exec_id} of {execution.flow} is still {execution.status} after "
            f"{timeout:g}s; wait again, or cancel it if it is no longer wanted",
            execution,
            code="timeout",
        )
        self.timeout = timeout


_ERRORS_BY_CODE: dict[str, type[KitaruError]] = {
    cls.code: cls
    for cls in (
        InvalidArgumentError,
        UnauthenticatedError,
        PermissionDeniedError,
        NotFoundError,
        ConflictError,
        PreconditionFailedError,
        PayloadTooLargeError,
        UnprocessableError,
        IdempotencyMismatchError,
        RateLimitedError,
        InternalError,
        UnavailableError,
    )
}

# The server's error code → HTTP status: each code has one status.
STATUS_BY_CODE: dict[str, int] = {
    "invalid_argument": 400,
    "unauthenticated": 401,
    "permission_denied": 403,
    "not_found": 404,
    "conflict": 409,
    "precondition_failed": 412,
    "payload_too_large": 413,
    "unprocessable": 422,
    "idempotency_mismatch": 422,
    "rate_limited": 429,
    "internal": 500,
    "unavailable": 503,
}

# Statuses a gateway answers for an unreachable or overloaded server.
_GATEWAY_STATUSES = (502, 503, 504)


def code_for_status(status: int) -> str:
    """The code of an answer without the error envelope, read from its status
    alone: the code with that status (``unprocessable`` for 422), ``unavailable``
    for 502–504, else ``internal`` (Go's ``api.CodeOf``)."""
    if status in _GATEWAY_STATUSES:
        return "unavailable"
    for code, s in STATUS_BY_CODE.items():
        if s == status:
            return code
    return "internal"


def _error_from_answer(status: int, body: bytes, what: str) -> KitaruError:
    """The exception of a failed answer: the envelope's code, message and details."""
    code = message = None
    details: Any = None
    try:
        err = json.loads(body)["error"]
        code, message, details = err.get("code"), err.get("message"), err.get("details")
    except Exception:
        pass
    if not isinstance(code, str) or not code:
        code = code_for_status(status)
    if not isinstance(message, str) or not message:
        text = body[:200].decode("utf-8", "replace").strip()
        message = f"{what}: HTTP {status}" + (f": {text}" if text else "")
    cls = _ERRORS_BY_CODE.get(code, KitaruError)
    return cls(message, code=code, details=details if isinstance(details, dict) else None, status=status)
