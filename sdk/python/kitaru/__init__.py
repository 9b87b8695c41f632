"""Kitaru: durable, deployable agent flows.

Flow files import the decorator from here::

    from kitaru import flow

    @flow
    def research_agent(topic: str) -> str:
        ...

Producers deploy and invoke flows, consumers invoke routes without the source::

    research_agent.deploy(topic="durable execution")           # the next version
    print(research_agent.invoke(topic="serverless routing").wait())
    research_agent.deployment(version=2).invoke(topic="pinned run")

    from kitaru import KitaruClient
    handle = KitaruClient().deployments.invoke(
        flow="research_agent", tag="stable", inputs={"topic": "consumer request"})

The connection is the CLI's: ``KITARU_SERVER_URL``, ``KITARU_AUTH_TOKEN`` and
``KITARU_PROJECT``, each overriding the config file ``kitaru login`` writes.

This package is stdlib-only and supports Python >= 3.10. It is shipped next to
the runner (``functions/runner/runner.py``) so snapshot executions can import
flow files, so importing it stays cheap: HTTP modules load on first use.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import os
import random
import sys
import time
import uuid
from typing import Any, Iterator, Optional

from kitaru.flow import Flow, flow, is_flow

__version__ = "0.1.0"

__all__ = [
    "Flow",
    "flow",
    "is_flow",
    "__version__",
    "KitaruClient",
    "Connection",
    "Deployment",
    "Handle",
    "Execution",
    "Tag",
    "RouteChange",
    "Deployments",
    "Executions",
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
]

# ---------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------


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
    ``States.Timeout``, ``Runner.Crashed``, ``StartFailed``), ``message`` its message and
    ``traceback`` the remote traceback. ``str()`` names the execution too."""

    def __init__(self, execution: "Execution") -> None:
        err = execution.error or {}
        self.type = str(err.get("type") or "Unknown")
        self.traceback = str(err.get("traceback") or "")
        message = str(err.get("message") or "")
        super().__init__(
            f"execution {execution.exec_id} of {execution.flow} version {execution.version} failed: "
            f"{self.type}: {message}",
            execution,
            code="execution_failed",
        )
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
_CODES_BY_STATUS = {
    400: "invalid_argument",
    401: "unauthenticated",
    403: "permission_denied",
    404: "not_found",
    405: "invalid_argument",
    409: "conflict",
    412: "precondition_failed",
    413: "payload_too_large",
    422: "unprocessable",
    429: "rate_limited",
    500: "internal",
    502: "unavailable",
    503: "unavailable",
    504: "unavailable",
}


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
        code = _CODES_BY_STATUS.get(status, "internal" if status >= 500 else "invalid_argument")
    if not isinstance(message, str) or not message:
        text = body[:200].decode("utf-8", "replace").strip()
        message = f"{what}: HTTP {status}" + (f": {text}" if text else "")
    cls = _ERRORS_BY_CODE.get(code, KitaruError)
    return cls(message, code=code, details=details if isinstance(details, dict) else None, status=status)


# ---------------------------------------------------------------------------
# The connection: the CLI's
# ---------------------------------------------------------------------------

ENV_SERVER_URL = "KITARU_SERVER_URL"
ENV_AUTH_TOKEN = "KITARU_AUTH_TOKEN"
ENV_PROJECT = "KITARU_PROJECT"
ENV_CONFIG_DIR = "KITARU_CONFIG_DIR"
_LOGIN_HINT = '"kitaru login URL --api-key KEY --project P"'


def config_path() -> str:
    """The config file ``kitaru login`` writes: ``$KITARU_CONFIG_DIR/config.json``, else
    ``kitaru/config.json`` in the user config directory (Go's ``os.UserConfigDir``:
    ``$XDG_CONFIG_HOME`` or ``~/.config`` on Linux)."""
    directory = os.environ.get(ENV_CONFIG_DIR, "")
    if directory:
        return os.path.join(directory, "config.json")
    return os.path.join(_user_config_dir(), "kitaru", "config.json")


def _user_config_dir() -> str:
    if sys.platform == "win32":
        base = os.environ.get("AppData", "")
        if not base:
            raise ConfigurationError(f"find the Kitaru config directory: %AppData% is not set; set {ENV_CONFIG_DIR}")
        return base
    home = os.environ.get("HOME", "")
    if sys.platform == "darwin":
        if not home:
            raise ConfigurationError(f"find the Kitaru config directory: $HOME is not set; set {ENV_CONFIG_DIR}")
        return os.path.join(home, "Library", "Application Support")
    xdg = os.environ.get("XDG_CONFIG_HOME", "")
    if xdg:
        if not os.path.isabs(xdg):
            raise ConfigurationError(
                f"find the Kitaru config directory: $XDG_CONFIG_HOME is a relative path; set {ENV_CONFIG_DIR}"
            )
        return xdg
    if not home:
        raise ConfigurationError(
            f"find the Kitaru config directory: neither $XDG_CONFIG_HOME nor $HOME is set; set {ENV_CONFIG_DIR}"
        )
    return os.path.join(home, ".config")


@dataclasses.dataclass(frozen=True)
class Connection:
    """Where the Kitaru server is, the credential (an API key ``kat_…`` or a token)
    and the project. ``sources`` says where each value came from: ``argument``,
    ``env``, ``file`` or ``not set``."""

    server_url: str
    auth_token: str = dataclasses.field(repr=False)
    project: str
    sources: dict[str, str] = dataclasses.field(default_factory=dict, compare=False)

    @classmethod
    def load(
        cls, server_url: Optional[str] = None, token: Optional[str] = None, project: Optional[str] = None
    ) -> "Connection":
        """Each value from the argument, else the environment, else the config file.
        Raises ConfigurationError when the server URL or the credential is missing,
        naming what to set, or when the config file cannot be read."""
        path = config_path()
        saved: dict[str, Any] = {}
        try:
            with open(path, encoding="utf-8") as f:
                saved = json.load(f)
            if not isinstance(saved, dict):
                raise ValueError("not a JSON object")
        except FileNotFoundError:
            saved = {}
        except (OSError, ValueError) as e:
            raise ConfigurationError(
                f"the Kitaru config {path} is not readable JSON ({e}): run \"kitaru logout\" and log in again"
            ) from None
        values: dict[str, str] = {}
        sources: dict[str, str] = {}
        for key, arg, env in (
            ("server_url", server_url, ENV_SERVER_URL),
            ("auth_token", token, ENV_AUTH_TOKEN),
            ("project", project, ENV_PROJECT),
        ):
            env_value = os.environ.get(env, "")
            file_value = saved.get(key)
            if arg:
                values[key], sources[key] = arg, "argument"
            elif env_value:
                values[key], sources[key] = env_value, "env"
            elif isinstance(file_value, str) and file_value:
                values[key], sources[key] = file_value, "file"
            else:
                values[key], sources[key] = "", "not set"
        conn = cls(sources=sources, **values)
        conn.require()
        return conn

    def require(self) -> None:
        """Raise ConfigurationError naming what to set when the URL or credential is missing."""
        if not self.server_url and not self.auth_token:
            raise ConfigurationError(f"no Kitaru server: run {_LOGIN_HINT} or set {ENV_SERVER_URL} and {ENV_AUTH_TOKEN}")
        if not self.server_url:
            raise ConfigurationError(f"no Kitaru server URL: set {ENV_SERVER_URL} or run {_LOGIN_HINT}")
        if not self.auth_token:
            raise ConfigurationError(
                f"no credentials for the Kitaru server at {self.server_url}: set {ENV_AUTH_TOKEN} "
                f"to an API key or token, or run {_LOGIN_HINT}"
            )
        from urllib.parse import urlsplit

        parts = urlsplit(self.server_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigurationError(
                f"server URL {self.server_url!r} is invalid: set {ENV_SERVER_URL} to http(s)://host[:port]"
            )


# ---------------------------------------------------------------------------
# HTTP
# ---------------------------------------------------------------------------

_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


def new_idempotency_key() -> str:
    """A fresh ``Idempotency-Key`` for one logical write (a random UUID)."""
    return str(uuid.uuid4())


def _quote(segment: Any) -> str:
    from urllib.parse import quote

    return quote(str(segment), safe="")


class _Transport:
    """JSON over HTTP to one server with the connection's credential. Idempotent
    requests are retried with jittered backoff on 429, 5xx and connection errors,
    and so are keyed writes: each carries one ``Idempotency-Key`` on all its
    attempts, so the server does the write once and answers a retry whose first
    attempt committed (and lost its answer) with the first answer."""

    def __init__(self, conn: Connection, timeout: float, attempts: int = 4) -> None:
        self.base = conn.server_url.rstrip("/")
        self.conn = conn
        self.timeout = timeout
        self.attempts = attempts

    def call(
        self,
        method: str,
        path: str,
        *,
        query: Optional[dict[str, Any]] = None,
        body: Any = None,
        headers: Optional[dict[str, str]] = None,
        idempotent: bool = False,
        keyed: bool = False,
        idempotency_key: Optional[str] = None,
    ) -> Any:
        """Send one request; return the decoded JSON answer (None when empty).
        A keyed write sends ``idempotency_key`` (a fresh one when None) on every
        attempt and is retried like an idempotent request."""
        import urllib.error
        import urllib.parse
        import urllib.request

        url = self.base + path
        if query:
            q = {k: str(v) for k, v in query.items() if v is not None}
            if q:
                url += "?" + urllib.parse.urlencode(q)
        hdrs = {
            "Authorization": f"Bearer {self.conn.auth_token}",
            "Accept": "application/json",
            "User-Agent": f"kitaru-python/{__version__}",
        }
        if self.conn.project:
            hdrs["X-Kitaru-Project"] = self.conn.project
        data = None
        if body is not None:
            data = json.dumps(body, separators=(",", ":")).encode("utf-8")
            hdrs["Content-Type"] = "application/json"
        hdrs.update(headers or {})
        if keyed:
            hdrs["Idempotency-Key"] = idempotency_key or new_idempotency_key()
        what = f"{method} {path}"
        attempts = self.attempts if (idempotent or keyed) else 1
        pause = 0.2
        for attempt in range(1, attempts + 1):
            retry_after: Optional[float] = None
            req = urllib.request.Request(url, data=data, headers=hdrs, method=method)
            try:
                with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                    raw = resp.read()
                if not raw:
                    return None
                try:
                    return json.loads(raw)
                except ValueError:
                    raise InternalError(f"the answer to {what} is not JSON", status=resp.status) from None
            except urllib.error.HTTPError as e:
                raw = e.read() or b""
                err = _error_from_answer(e.code, raw, what)
                if e.code not in _RETRY_STATUSES or attempt == attempts:
                    raise err from None
                try:
                    retry_after = float(e.headers.get("Retry-After", ""))
                except (TypeError, ValueError):
                    retry_after = None
            except (urllib.error.URLError, OSError) as e:
                reason = getattr(e, "reason", e)
                if attempt == attempts:
                    raise UnavailableError(
                        f"cannot reach the Kitaru server at {self.base} ({reason}): check that it is running "
                        f"and that {ENV_SERVER_URL} (or the URL saved by kitaru login) is right"
                    ) from None
            wait = retry_after if retry_after is not None and retry_after <= 10 else pause * (0.5 + random.random())
            time.sleep(wait)
            pause = min(pause * 2, 2.0)
        raise AssertionError("unreachable")  # pragma: no cover

    def pages(self, path: str, limit: Optional[int] = None) -> Iterator[dict[str, Any]]:
        """Every item of a paginated list, following next_token (at most limit items)."""
        token: Optional[str] = None
        seen = 0
        while True:
            size = 200 if limit is None else max(1, min(200, limit - seen))
            page = self.call("GET", path, query={"limit": size, "next_token": token}, idempotent=True) or {}
            for item in page.get("items") or []:
                yield item
                seen += 1
                if limit is not None and seen >= limit:
                    return
            token = page.get("next_token")
            if not token:
                return

    def put_presigned(self, upload: dict[str, Any], data: bytes) -> None:
        """PUT data to a presigned URL (no Kitaru credential is sent there)."""
        import urllib.error
        import urllib.request

        hdrs = {str(k): str(v) for k, v in (upload.get("headers") or {}).items()}
        _check_upload_headers(hdrs, data)
        req = urllib.request.Request(upload["url"], data=data, headers=hdrs, method=upload.get("method") or "PUT")
        try:
            with urllib.request.urlopen(req, timeout=max(self.timeout, 300)) as resp:
                resp.read()
        except urllib.error.HTTPError as e:
            raise UnavailableError(
                f"uploading the source bundle failed: HTTP {e.code}: {(e.read() or b'')[:200]!r}; deploy again",
                status=e.code,
            ) from None
        except (urllib.error.URLError, OSError) as e:
            raise UnavailableError(f"uploading the source bundle failed ({getattr(e, 'reason', e)}); deploy again") from None


def _check_upload_headers(headers: dict[str, str], data: bytes) -> None:
    """Refuse, before sending, bytes the upload's signed headers do not
    describe: S3 would refuse them (the SHA-256 and the length are signed), and
    a store that checks no checksum would keep bytes the deploy then refuses."""
    for name, value in headers.items():
        if name.lower() == "content-length" and value != str(len(data)):
            raise InvalidArgumentError(
                f"the upload URL is signed for {value} bytes, the bundle has {len(data)}; deploy again"
            )
        if name.lower() == "x-amz-checksum-sha256" and value != base64.b64encode(hashlib.sha256(data).digest()).decode():
            raise InvalidArgumentError(
                f"the upload URL is signed for other bytes (SHA-256 {value}); deploy again"
            )


# ---------------------------------------------------------------------------
# What the API returns
# ---------------------------------------------------------------------------


@dataclasses.dataclass
class Execution:
    """One execution as read from the server. ``status`` is ``running``, ``completed``,
    ``failed`` or ``cancelled``; ``result`` is set when it completed (``result_ref``
    instead for results over 256 KiB), ``error`` (``{type, message, traceback}``) when it failed."""

    exec_id: str
    flow: str
    version: int
    status: str
    snapshot: str = ""
    selector: dict[str, Any] = dataclasses.field(default_factory=dict)
    inputs: dict[str, Any] = dataclasses.field(default_factory=dict)
    result: Any = None
    result_ref: Optional[str] = None
    error: Optional[dict[str, Any]] = None
    started_at: str = ""
    ended_at: Optional[str] = None
    invoked_by: str = ""
    idempotency_key: Optional[str] = None
    project: str = ""
    raw: dict[str, Any] = dataclasses.field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def _from(cls, d: dict[str, Any]) -> "Execution":
        return cls(
            exec_id=d.get("exec_id", ""),
            flow=d.get("flow", ""),
            version=int(d.get("version") or 0),
            status=d.get("status", ""),
            snapshot=d.get("snapshot", ""),
            selector=d.get("selector") or {},
            inputs=d.get("inputs") or {},
            result=d.get("result"),
            result_ref=d.get("result_ref"),
            error=d.get("error"),
            started_at=d.get("started_at", ""),
            ended_at=d.get("ended_at"),
            invoked_by=d.get("invoked_by", ""),
            idempotency_key=d.get("idempotency_key"),
            project=d.get("project", ""),
            raw=d,
        )

    @property
    def done(self) -> bool:
        """Whether the execution ended (completed, failed or cancelled)."""
        return self.status in ("completed", "failed", "cancelled")


@dataclasses.dataclass
class Tag:
    """A route: an exclusive tag's one version, or a shared tag's versions."""

    flow: str
    tag: str
    exclusive: bool
    versions: list[int]
    revision: int

    @classmethod
    def _from(cls, d: dict[str, Any]) -> "Tag":
        return cls(d.get("flow", ""), d.get("tag", ""), bool(d.get("exclusive")), list(d.get("versions") or []), int(d.get("revision") or 0))


@dataclasses.dataclass
class RouteChange:
    """One record of a tag's history: ``action`` (deploy, move, add, remove, rollback,
    delete) from ``from_version`` to ``to_version``, ``by`` whom and ``at`` when."""

    flow: str
    tag: str
    action: str
    exclusive: bool
    from_version: Optional[int]
    to_version: Optional[int]
    revision: int
    by: str
    at: str

    @classmethod
    def _from(cls, d: dict[str, Any]) -> "RouteChange":
        return cls(
            d.get("flow", ""),
            d.get("tag", ""),
            d.get("action", ""),
            bool(d.get("exclusive")),
            d.get("from"),
            d.get("to"),
            int(d.get("revision") or 0),
            d.get("by", ""),
            d.get("at", ""),
        )


@dataclasses.dataclass
class Deployment:
    """One immutable, numbered version of a flow. ``tags`` maps each tag it holds to
    whether it is exclusive. ``invoke`` runs exactly this version."""

    flow: str
    version: int
    snapshot: str
    tags: dict[str, bool]
    entrypoint: str
    inputs: dict[str, Any]
    stack: str
    created_at: str
    created_by: str
    project: str = ""
    input_schema: Optional[dict[str, Any]] = None
    source: Optional[dict[str, Any]] = None
    description: str = ""
    raw: dict[str, Any] = dataclasses.field(default_factory=dict, repr=False, compare=False)
    _client: Optional["KitaruClient"] = dataclasses.field(default=None, repr=False, compare=False)

    @classmethod
    def _from(cls, d: dict[str, Any], client: "KitaruClient") -> "Deployment":
        return cls(
            flow=d.get("flow", ""),
            version=int(d.get("version") or 0),
            snapshot=d.get("snapshot", ""),
            tags=dict(d.get("tags") or {}),
            entrypoint=d.get("entrypoint", ""),
            inputs=d.get("inputs") or {},
            stack=d.get("stack", ""),
            created_at=d.get("created_at", ""),
            created_by=d.get("created_by", ""),
            project=d.get("project", ""),
            input_schema=d.get("input_schema"),
            source=d.get("source"),
            description=d.get("description", ""),
            raw=d,
            _client=client,
        )

    @property
    def client(self) -> "KitaruClient":
        if self._client is None:
            self._client = KitaruClient()
        return self._client

    def invoke(
        self, *, inputs: Optional[dict[str, Any]] = None, idempotency_key: Optional[str] = None, **more_inputs: Any
    ) -> "Handle":
        """Start an execution of exactly this version (whatever the tags say now).
        Inputs named ``inputs`` or ``idempotency_key`` go in ``inputs={...}``."""
        from kitaru.flow import _merge_inputs

        values = _merge_inputs(inputs, more_inputs, "invoke")
        return self.client.deployments._invoke_pinned(self.flow, self.version, values, idempotency_key)

    def add_tag(self, tag: str, *, exclusive: bool = False) -> Tag:
        """Point tag at this version (moving it here when exclusive)."""
        t = self.client.deployments.tag(self.flow, tag, version=self.version, exclusive=exclusive)
        self.tags[tag] = t.exclusive
        return t

    def remove_tag(self, tag: str) -> None:
        """Remove tag from this version (``default`` cannot be removed: ConflictError)."""
        self.client.deployments.untag(self.flow, tag, version=self.version)
        self.tags.pop(tag, None)

    def delete(self) -> None:
        """Delete this version (ConflictError while it holds an exclusive tag)."""
        self.client.deployments.delete(self.flow, self.version)

    def refresh(self) -> "Deployment":
        """This version as the server has it now."""
        return self.client.deployments.get(self.flow, version=self.version)


class Handle:
    """An execution an invocation started: ``exec_id``, ``status`` (read from the
    server), ``wait()`` for its result and ``cancel()``."""

    def __init__(self, execution: Execution, client: "KitaruClient") -> None:
        self.exec_id = execution.exec_id
        self.flow = execution.flow
        self.version = execution.version
        self.execution = execution  # as last read
        self._client = client

    def __repr__(self) -> str:
        return f"<kitaru.Handle {self.exec_id} of {self.flow} v{self.version} ({self.execution.status})>"

    @property
    def status(self) -> str:
        """The execution's current status (one GET)."""
        return self.refresh().status

    def refresh(self) -> Execution:
        """Read the execution now."""
        self.execution = self._client.executions.get(self.exec_id)
        return self.execution

    def wait(self, timeout: Optional[float] = None) -> Any:
        """Poll until the execution ends and return its result.

        Raises ExecutionFailed (``type``, ``message``, ``traceback``) when it failed,
        ExecutionCancelled when it was cancelled, WaitTimeoutError (a TimeoutError)
        when ``timeout`` seconds pass first — the execution keeps running — and
        PayloadTooLargeError when the result is over 256 KiB and stored in the
        server's bucket instead of returned."""
        self.execution = self._client.executions._wait(self.execution, timeout)
        return _outcome(self.execution)

    def cancel(self) -> Execution:
        """Cancel the execution (ConflictError when it already completed or failed)."""
        self.execution = self._client.executions.cancel(self.exec_id)
        return self.execution


def _outcome(e: Execution) -> Any:
    if e.status == "failed":
        raise ExecutionFailed(e)
    if e.status == "cancelled":
        raise ExecutionCancelled(e)
    if e.result_ref and e.result is None:
        raise PayloadTooLargeError(
            f"the result of execution {e.exec_id} is over 256 KiB and is stored in the server's bucket as "
            f"{e.result_ref}, not returned by the API; read it from the bucket or return less from the flow",
            details={"result_ref": e.result_ref},
        )
    return e.result


# ---------------------------------------------------------------------------
# The client
# ---------------------------------------------------------------------------


class Deployments:
    """The deployment API of a client's project: ``KitaruClient().deployments``."""

    def __init__(self, client: "KitaruClient") -> None:
        self._c = client
        self._t = client._transport

    def list(self, flow: str, *, limit: Optional[int] = None) -> list[Deployment]:
        """The flow's deployment versions, newest first (NotFoundError for an unknown flow)."""
        return [Deployment._from(d, self._c) for d in self._t.pages(f"/v1/flows/{_quote(flow)}/deployments", limit)]

    def get(self, flow: str, *, version: Optional[int] = None, tag: Optional[str] = None) -> Deployment:
        """The deployment a version or a tag names now; neither names ``default``."""
        if version is not None and tag is not None:
            raise InvalidArgumentError("pass a version or a tag, not both")
        if version is not None:
            d = self._t.call("GET", f"/v1/flows/{_quote(flow)}/deployments/{_quote(version)}", idempotent=True)
            return Deployment._from(d, self._c)
        res = self._t.call("GET", f"/v1/flows/{_quote(flow)}/resolve", query={"tag": tag}, idempotent=True)
        return Deployment._from(res["deployment"], self._c)

    def invoke(
        self,
        flow: str,
        *,
        version: Optional[int] = None,
        tag: Optional[str] = None,
        inputs: Optional[dict[str, Any]] = None,
        idempotency_key: Optional[str] = None,
    ) -> Handle:
        """Start an execution of the deployment ``version`` or ``tag`` names (neither:
        ``default``) with inputs overriding its deployment-time inputs. Inputs that do
        not match the deployment's input schema raise UnprocessableError naming the key."""
        body: dict[str, Any] = {}
        if tag is not None:
            body["tag"] = tag
        if version is not None:
            body["version"] = version
        if inputs:
            body["inputs"] = dict(inputs)
        e = self._t.call(
            "POST", f"/v1/flows/{_quote(flow)}/invocations", body=body, keyed=True, idempotency_key=idempotency_key
        )
        return Handle(Execution._from(e), self._c)

    def _invoke_pinned(
        self, flow: str, version: int, inputs: dict[str, Any], idempotency_key: Optional[str]
    ) -> Handle:
        body = {"inputs": dict(inputs)} if inputs else {}
        e = self._t.call(
            "POST",
            f"/v1/flows/{_quote(flow)}/versions/{_quote(version)}/invocations",
            body=body,
            keyed=True,
            idempotency_key=idempotency_key,
        )
        return Handle(Execution._from(e), self._c)

    def tag(
        self, flow: str, tag: str, *, version: int, exclusive: bool = False, if_revision: Optional[int] = None
    ) -> Tag:
        """Point tag at version: an exclusive tag moves there, a shared one is added.
        With ``if_revision`` the change happens only if the tag is unchanged
        (PreconditionFailedError otherwise)."""
        headers = {"If-Match": str(if_revision)} if if_revision is not None else None
        body = {"version": version, "exclusive": bool(exclusive)}
        t = self._t.call("PUT", f"/v1/flows/{_quote(flow)}/tags/{_quote(tag)}", body=body, headers=headers, keyed=True)
        return Tag._from(t)

    def untag(self, flow: str, tag: str, *, version: int, if_revision: Optional[int] = None) -> None:
        """Remove tag from version (``default`` cannot be removed: ConflictError)."""
        headers = {"If-Match": str(if_revision)} if if_revision is not None else None
        self._t.call(
            "DELETE", f"/v1/flows/{_quote(flow)}/tags/{_quote(tag)}", query={"version": version}, headers=headers, keyed=True
        )

    def delete(self, flow: str, version: int) -> None:
        """Delete a version (ConflictError naming its exclusive tags while it holds any)."""
        self._t.call("DELETE", f"/v1/flows/{_quote(flow)}/deployments/{_quote(version)}", keyed=True)

    def history(self, flow: str, tag: str, *, limit: Optional[int] = None) -> list[RouteChange]:
        """Every change of the route, newest first."""
        return [RouteChange._from(c) for c in self._t.pages(f"/v1/flows/{_quote(flow)}/tags/{_quote(tag)}/history", limit)]

    def rollback(self, flow: str, tag: str) -> Tag:
        """Move an exclusive tag back to the version it had before its last change."""
        return Tag._from(self._t.call("POST", f"/v1/flows/{_quote(flow)}/tags/{_quote(tag)}/rollback", body={}, keyed=True))

    def deploy(
        self,
        flow: str,
        *,
        entrypoint: str,
        source: dict[str, Any],
        inputs: Optional[dict[str, Any]] = None,
        input_schema: Optional[dict[str, Any]] = None,
        tag: Optional[str] = None,
        exclusive: bool = False,
        stack: Optional[str] = None,
        description: Optional[str] = None,
    ) -> Deployment:
        """Create the flow's next version (the raw API call; ``Flow.deploy`` builds the
        source and schema for you). ``source`` is ``{"archive": base64}`` or
        ``{"digest": "sha256:…"}`` (see ``upload_source``), optionally with ``commit``, ``dirty``."""
        body: dict[str, Any] = {"entrypoint": entrypoint, "source": source}
        if inputs:
            body["inputs"] = inputs
        if input_schema is not None:
            body["input_schema"] = input_schema
        if tag is not None:
            body["tag"] = tag
        if exclusive:
            body["exclusive"] = True
        if stack is not None:
            body["stack"] = stack
        if description is not None:
            body["description"] = description
        return Deployment._from(self._t.call("POST", f"/v1/flows/{_quote(flow)}/deployments", body=body, keyed=True), self._c)

    # Bundles up to this size (decoded) are sent inline in the deploy body.
    MAX_INLINE_ARCHIVE_BYTES = 4 << 20

    def upload_source(self, data: bytes) -> dict[str, Any]:
        """The deploy ``source`` for a gzip'd tar: inline when at most 4 MiB, else
        uploaded through ``POST /v1/artifacts`` and its presigned URL (skipped when
        the server already has these bytes)."""
        if len(data) <= self.MAX_INLINE_ARCHIVE_BYTES:
            return {"archive": base64.b64encode(data).decode("ascii")}
        sha = hashlib.sha256(data).hexdigest()
        a = self._t.call("POST", "/v1/artifacts", body={"sha256": sha, "size": len(data)}, idempotent=True)
        if not a.get("exists"):
            upload = a.get("upload")
            if not upload:
                raise InternalError(f"the server neither has bundle sha256:{sha} nor gave an upload URL for it")
            self._t.put_presigned(upload, data)
        return {"digest": a.get("digest") or f"sha256:{sha}"}


# Polling of wait: the first pause, its growth and its cap; each pause is jittered.
_POLL_START, _POLL_FACTOR, _POLL_MAX = 0.1, 1.5, 2.0


class Executions:
    """The execution API of a client's project: ``KitaruClient().executions``."""

    def __init__(self, client: "KitaruClient") -> None:
        self._c = client
        self._t = client._transport

    def get(self, exec_id: str) -> Execution:
        """One execution (NotFoundError for an unknown id)."""
        return Execution._from(self._t.call("GET", f"/v1/executions/{_quote(exec_id)}", idempotent=True))

    def cancel(self, exec_id: str) -> Execution:
        """Cancel a running execution; a cancelled one is returned as it is
        (ConflictError when it already completed or failed)."""
        return Execution._from(self._t.call("POST", f"/v1/executions/{_quote(exec_id)}/cancel", keyed=True))

    def list(self, flow: str, *, limit: Optional[int] = None) -> list[Execution]:
        """The flow's executions, newest first."""
        return [Execution._from(e) for e in self._t.pages(f"/v1/flows/{_quote(flow)}/executions", limit)]

    def wait(self, exec_id: str, timeout: Optional[float] = None) -> Any:
        """Wait for an execution and return its result, as ``Handle.wait``."""
        return Handle(Execution(exec_id=exec_id, flow="", version=0, status="running"), self._c).wait(timeout)

    def handle(self, exec_id: str) -> Handle:
        """A Handle of an existing execution."""
        return Handle(self.get(exec_id), self._c)

    def _wait(self, last: Execution, timeout: Optional[float]) -> Execution:
        deadline = None if timeout is None else time.monotonic() + max(0.0, timeout)
        pause = _POLL_START
        while True:
            try:
                got = self.get(last.exec_id)
                if got.done:
                    return got
                last = got
            except (UnavailableError, RateLimitedError):
                pass  # a briefly unavailable server is polled again
            sleep = pause * (0.75 + random.random() / 2)
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise WaitTimeoutError(last, timeout or 0.0)
                sleep = min(sleep, left)
            time.sleep(sleep)
            pause = min(pause * _POLL_FACTOR, _POLL_MAX)


class KitaruClient:
    """A client of the Kitaru server as one project.

    Each argument overrides the active connection's value: ``KITARU_SERVER_URL``,
    ``KITARU_AUTH_TOKEN`` and ``KITARU_PROJECT`` from the environment, else the config
    file ``kitaru login`` writes. A missing URL or credential raises
    ConfigurationError naming what to set. ``timeout`` bounds each HTTP request.
    """

    def __init__(
        self,
        server_url: Optional[str] = None,
        token: Optional[str] = None,
        project: Optional[str] = None,
        *,
        timeout: float = 60.0,
    ) -> None:
        self.connection = Connection.load(server_url, token, project)
        self._transport = _Transport(self.connection, timeout)
        self.deployments = Deployments(self)
        self.executions = Executions(self)

    def __repr__(self) -> str:
        c = self.connection
        return f"<kitaru.KitaruClient {c.server_url} project={c.project or '(the key’s)'}>"

    @property
    def server_url(self) -> str:
        return self.connection.server_url

    @property
    def project(self) -> str:
        return self.connection.project

    def status(self) -> dict[str, Any]:
        """Who the server says you are: ``{server_version, project, principal, role, credential}``."""
        return self._transport.call("GET", "/v1/status", idempotent=True)

    def flows(self, *, limit: Optional[int] = None) -> list[dict[str, Any]]:
        """The project's flows by name, each with its deployment count, latest version and tags."""
        return list(self._transport.pages("/v1/flows", limit))
