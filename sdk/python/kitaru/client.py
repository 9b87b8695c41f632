"""The Kitaru API over HTTP: ``KitaruClient``, its ``deployments`` and
``executions``, and what they return (``Deployment``, ``Handle``,
``Execution``, ``Tag``, ``RouteChange``).

Requests are retried by the one policy of ``kitaru.retry`` (the Go client's).
HTTP modules are imported on first use, so ``import kitaru`` stays cheap for
the runner.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import os
import threading
import time
from typing import Any, Iterator, Optional, Union

from kitaru.connection import ENV_SERVER_URL, Connection
from kitaru.errors import (
    ExecutionCancelled,
    ExecutionFailed,
    InternalError,
    InvalidArgumentError,
    PayloadTooLargeError,
    RateLimitedError,
    UnavailableError,
    WaitTimeoutError,
    _error_from_answer,
)
from kitaru.retry import RetryPolicy, jitter, retryable_status

__all__ = [
    "KitaruClient",
    "Deployments",
    "Executions",
    "Deployment",
    "Handle",
    "Execution",
    "Tag",
    "RouteChange",
    "new_idempotency_key",
]


HEADER_ROUTE_REVISION = "Kitaru-Route-Revision"


def _route(flow: str, tag: Optional[str]) -> tuple[str, str]:
    """The (flow, tag) a call by tag reads or changes; no tag is ``default``."""
    return (flow, tag or "default")


def new_idempotency_key() -> str:
    """A fresh ``Idempotency-Key`` for one logical write: ``kik_`` and 26
    random characters, as the Go client's ``NewIdempotencyKey``."""
    return "kik_" + base64.b32encode(os.urandom(16)).decode("ascii").rstrip("=")


def _quote(segment: Any) -> str:
    from urllib.parse import quote

    return quote(str(segment), safe="")


class _Transport:
    """JSON over HTTP to one server with the connection's credential, retried
    by ``policy`` (``kitaru.retry``): idempotent requests, and keyed writes,
    each of which carries one ``Idempotency-Key`` on all its attempts so that
    the server does the write once and answers a retry whose first attempt
    committed (and lost its answer) with the first answer."""

    def __init__(self, conn: Connection, timeout: float, policy: Optional[RetryPolicy] = None) -> None:
        self.base = conn.server_url.rstrip("/")
        self.conn = conn
        self.timeout = timeout
        self.policy = policy or RetryPolicy()
        # Read-your-writes for routes (docs/route-cache.md): the highest
        # Kitaru-Route-Revision a change of (flow, tag) was answered with,
        # sent back on this client's resolves and invokes of that tag.
        self._route_revisions: dict[tuple[str, str], int] = {}
        self._route_lock = threading.Lock()

    def _note_route_revision(self, route: tuple[str, str], value: Optional[str]) -> None:
        try:
            rev = int(value or "")
        except ValueError:
            return  # an older server, or a change that reported none
        with self._route_lock:
            if rev > self._route_revisions.get(route, -1):
                self._route_revisions[route] = rev

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
        reads_route: Optional[tuple[str, str]] = None,
        changes_route: Optional[tuple[str, str]] = None,
    ) -> Any:
        """Send one request; return the decoded JSON answer (None when empty).
        A keyed write sends ``idempotency_key`` (a fresh one when None) on every
        attempt and is retried like an idempotent request. ``changes_route``
        (flow, tag) keeps the route revision the answer carries;
        ``reads_route`` sends back the highest one kept for that tag."""
        import urllib.error
        import urllib.parse
        import urllib.request

        from kitaru import __version__

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
        if reads_route is not None:
            with self._route_lock:
                # A flow delete's revision, kept under the tag "", holds for every tag.
                revs = [r for r in (self._route_revisions.get(reads_route), self._route_revisions.get((reads_route[0], ""))) if r is not None]
                rev = max(revs) if revs else None
            if rev is not None:
                hdrs[HEADER_ROUTE_REVISION] = str(rev)
        if keyed:
            hdrs["Idempotency-Key"] = idempotency_key or new_idempotency_key()
        what = f"{method} {path}"
        attempts = max(self.policy.max_attempts, 1) if (idempotent or keyed) else 1
        for attempt in range(1, attempts + 1):
            retry_after: Optional[str] = None
            req = urllib.request.Request(url, data=data, headers=hdrs, method=method)
            try:
                with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                    raw = resp.read()
                    if changes_route is not None:
                        self._note_route_revision(changes_route, resp.headers.get(HEADER_ROUTE_REVISION))
                if not raw:
                    return None
                try:
                    return json.loads(raw)
                except ValueError:
                    raise InternalError(f"the answer to {what} is not JSON", status=resp.status) from None
            except urllib.error.HTTPError as e:
                err: Exception = _error_from_answer(e.code, e.read() or b"", what)
                status: Optional[int] = e.code
                retry_after = e.headers.get("Retry-After")
            except (urllib.error.URLError, OSError) as e:
                err = UnavailableError(
                    f"cannot reach the Kitaru server at {self.base} ({getattr(e, 'reason', e)}): check that it is "
                    f"running and that {ENV_SERVER_URL} (or the URL saved by kitaru login) is right"
                )
                status = None  # not reached
            if attempt >= attempts or not retryable_status(status):
                raise err from None
            pause = self.policy.pause(attempt, retry_after)
            if pause is None:
                raise err from None  # waiting cannot help: the server's answer says more
            self.policy.sleep(pause)
        raise AssertionError("unreachable")  # pragma: no cover

    def pages(
        self, path: str, limit: Optional[int] = None, query: Optional[dict[str, Any]] = None
    ) -> Iterator[dict[str, Any]]:
        """Every item of a paginated list, following next_token (at most limit items);
        query adds filters to every page's request."""
        token: Optional[str] = None
        seen = 0
        while True:
            size = 200 if limit is None else max(1, min(200, limit - seen))
            q = dict(query or {}, limit=size, next_token=token)
            page = self.call("GET", path, query=q, idempotent=True) or {}
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
    instead for results over 256 KiB), ``error`` (``{type, message, traceback, details}``) when it failed."""

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
    # The revision of the tag's route the invoke picked its version from (by tag only).
    route_revision: Optional[int] = None
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
            route_revision=d.get("route_revision"),
            raw=d,
        )

    @property
    def done(self) -> bool:
        """Whether the execution ended (completed, failed or cancelled)."""
        return self.status in ("completed", "failed", "cancelled")


@dataclasses.dataclass
class LogPage:
    """One page of an execution's log (``GET /v1/executions/{id}/logs``): ``data``
    from the cursor on (at most 256 KiB of text), ``next_cursor`` to read on,
    ``ended`` once the execution has ended and nothing follows."""

    exec_id: str
    status: str
    data: str
    cursor: str
    next_cursor: str
    ended: bool

    @classmethod
    def _from(cls, d: dict[str, Any]) -> "LogPage":
        return cls(exec_id=d.get("exec_id", ""), status=d.get("status", ""), data=d.get("data", ""),
                   cursor=d.get("cursor", ""), next_cursor=d.get("next_cursor", ""), ended=bool(d.get("ended")))


@dataclasses.dataclass
class Tag:
    """A route: an exclusive tag's one version, or a shared tag's versions. A split
    exclusive tag has ``split`` (version → weight, summing to 100) and its versions."""

    flow: str
    tag: str
    exclusive: bool
    versions: list[int]
    revision: int
    split: Optional[dict[int, int]] = None

    @classmethod
    def _from(cls, d: dict[str, Any]) -> "Tag":
        return cls(
            d.get("flow", ""),
            d.get("tag", ""),
            bool(d.get("exclusive")),
            list(d.get("versions") or []),
            int(d.get("revision") or 0),
            _split(d.get("split")),
        )


def _split(raw: Optional[dict[str, Any]]) -> Optional[dict[int, int]]:
    """A split as the API sends it ({"3": 90}) with integer versions, or None."""
    if not raw:
        return None
    return {int(v): int(w) for v, w in raw.items()}


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
    # The split the change left or made (version → weight); the version is then None.
    from_split: Optional[dict[int, int]] = None
    to_split: Optional[dict[int, int]] = None

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
            _split(d.get("from_split")),
            _split(d.get("to_split")),
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
    secrets: list[str] = dataclasses.field(default_factory=list)
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
            secrets=list(d.get("secrets") or []),
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
        """Wait until the execution ends and return its result: each read is held by
        the server until the execution ends (up to 20 s), so the answer comes as
        the run ends; a server without that is polled.

        Raises ExecutionFailed (``type``, ``message``, ``traceback``, ``runner_traceback``) when it failed,
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

    def logs(self) -> str:
        """The execution's log as far as it is stored now: what the flow printed
        and the runner's ``[kitaru]`` lines (at most 10 MiB, then a marker)."""
        return "".join(self._client.executions.follow_logs(self.exec_id, follow=False))

    def follow_logs(self, timeout: Optional[float] = None) -> Iterator[str]:
        """Yield the execution's log, piece by piece as it arrives, until the
        execution has ended (WaitTimeoutError when ``timeout`` seconds pass first)."""
        return self._client.executions.follow_logs(self.exec_id, timeout=timeout)


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

    def get(
        self, flow: str, *, version: Optional[int] = None, tag: Optional[str] = None, sticky_key: Optional[str] = None
    ) -> Deployment:
        """The deployment a version or a tag names now; neither names ``default``. A split
        tag picks one of its versions by weight; with ``sticky_key`` (a user id, say) the
        same key always gets the same version while the split is unchanged."""
        if version is not None and tag is not None:
            raise InvalidArgumentError("pass a version or a tag, not both")
        if version is not None:
            d = self._t.call("GET", f"/v1/flows/{_quote(flow)}/deployments/{_quote(version)}", idempotent=True)
            return Deployment._from(d, self._c)
        res = self._t.call(
            "GET",
            f"/v1/flows/{_quote(flow)}/resolve",
            query={"tag": tag, "sticky_key": sticky_key},
            idempotent=True,
            reads_route=_route(flow, tag),
        )
        return Deployment._from(res["deployment"], self._c)

    def invoke(
        self,
        flow: str,
        *,
        version: Optional[int] = None,
        tag: Optional[str] = None,
        inputs: Optional[dict[str, Any]] = None,
        idempotency_key: Optional[str] = None,
        sticky_key: Optional[str] = None,
    ) -> Handle:
        """Start an execution of the deployment ``version`` or ``tag`` names (neither:
        ``default``) with inputs overriding its deployment-time inputs. Inputs that do
        not match the deployment's input schema raise UnprocessableError naming the key.
        A split tag picks a version by weight, the same one for the same ``sticky_key``."""
        body: dict[str, Any] = {}
        if tag is not None:
            body["tag"] = tag
        if sticky_key is not None:
            body["sticky_key"] = sticky_key
        if version is not None:
            body["version"] = version
        if inputs:
            body["inputs"] = dict(inputs)
        e = self._t.call(
            "POST",
            f"/v1/flows/{_quote(flow)}/invocations",
            body=body,
            keyed=True,
            idempotency_key=idempotency_key,
            reads_route=_route(flow, tag) if version is None else None,
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
        return self._put_tag(flow, tag, {"version": version, "exclusive": bool(exclusive)}, if_revision)

    def split(self, flow: str, tag: str, weights: dict[int, int], *, if_revision: Optional[int] = None) -> Tag:
        """Split the exclusive tag over 2 to 8 versions by weight (version → weight, 1 to 99,
        summing to 100), e.g. ``split("research_agent", "live", {3: 90, 4: 10})``, as one
        route change. A later ``tag(..., version=N, exclusive=True)`` collapses it and
        ``rollback`` restores it. InvalidArgumentError for invalid weights."""
        return self._put_tag(flow, tag, {"split": {str(int(v)): int(w) for v, w in weights.items()}}, if_revision)

    def _put_tag(self, flow: str, tag: str, body: dict[str, Any], if_revision: Optional[int]) -> Tag:
        headers = {"If-Match": str(if_revision)} if if_revision is not None else None
        t = self._t.call(
            "PUT",
            f"/v1/flows/{_quote(flow)}/tags/{_quote(tag)}",
            body=body,
            headers=headers,
            keyed=True,
            changes_route=_route(flow, tag),
        )
        return Tag._from(t)

    def untag(self, flow: str, tag: str, *, version: int, if_revision: Optional[int] = None) -> None:
        """Remove tag from version (``default`` cannot be removed: ConflictError)."""
        headers = {"If-Match": str(if_revision)} if if_revision is not None else None
        self._t.call(
            "DELETE",
            f"/v1/flows/{_quote(flow)}/tags/{_quote(tag)}",
            query={"version": version},
            headers=headers,
            keyed=True,
            changes_route=_route(flow, tag),
        )

    def delete(self, flow: str, version: int) -> None:
        """Delete a version (ConflictError naming its exclusive tags while it holds any)."""
        self._t.call("DELETE", f"/v1/flows/{_quote(flow)}/deployments/{_quote(version)}", keyed=True)

    def delete_flow(self, flow: str, *, force: bool = False) -> dict[str, Any]:
        """Delete a whole flow: its versions, tags and their history; its executions stay readable.
        While an exclusive tag other than ``default`` routes to one of its versions this raises
        ConflictError naming the tags, unless ``force``. Returns what was removed:
        ``{project, flow, versions, tags, forced, next_version}``; a flow deployed again under the
        name continues at ``next_version`` (numbers are never reused)."""
        query = {"force": "true"} if force else None
        return self._t.call("DELETE", f"/v1/flows/{_quote(flow)}", query=query, keyed=True, changes_route=(flow, ""))

    def flow_status(
        self, flow: str, *, tag: Optional[str] = None, version: Optional[int] = None, since: Optional[str] = None
    ) -> dict[str, Any]:
        """How each version on the flow's route is doing (``kitaru flow status``): per version,
        executions ``started``, ``completed``, ``failed``, ``cancelled`` and ``running`` in the
        window, ``p50_seconds`` and ``p95_seconds`` of those that ended, and ``last_failure``
        (``exec_id``, ``type``, ``at``). Routed versions come first (``tags``), then versions that
        ran but are off the route now (``tags`` empty). ``tag`` counts only the executions invoked
        through it; ``version`` shows one version; ``since`` is an RFC 3339 time or a duration
        such as ``"1h"`` (default 24 hours, at most 30 days; InvalidArgumentError with
        ``details["reason"]`` ``since_invalid`` or ``since_out_of_range`` otherwise). When
        ``sampled`` is true the server read only the newest executions, from ``oldest_seen``."""
        query = {"tag": tag, "version": version, "since": since}
        return self._t.call("GET", f"/v1/flows/{_quote(flow)}/stats", query=query, idempotent=True)

    def diff(self, flow: str, a: Union[int, str], b: Union[int, str], *, path: Optional[str] = None) -> dict[str, Any]:
        """What changed from deployment ``a`` to deployment ``b`` of a flow. Each is a version
        (``3``), a tag (``"stable"``, resolved now) or ``"tag:NAME"`` for a tag named like a
        number. Returns the server's structured diff: ``from`` and ``to`` (the versions each
        side resolved to), ``identical``, ``fields``, ``input_schema``, ``inputs``, ``secrets``
        and ``source`` (per file ``diff`` text; ``truncated``/``truncation`` say what was cut,
        and ``path`` narrows the source diff to one file or directory so a cut file is seen
        whole). The same version twice is an empty diff; an unknown version or tag raises
        NotFoundError."""
        query = {"from": str(a), "to": str(b)}
        if path:
            query["path"] = path
        return self._t.call("GET", f"/v1/flows/{_quote(flow)}/diff", query=query, idempotent=True)

    def prune(self, flow: str, *, keep: int, older_than: Optional[str] = None, dry_run: bool = False) -> dict[str, Any]:
        """Delete the flow's versions no tag routes to, except the newest ``keep``, those created
        less than ``older_than`` ago (``"30d"``, ``"12h"``) and those with a running execution; then
        the source bundles only they used. Version numbers are never reused. ``dry_run`` answers the
        plan and deletes nothing. Returns ``{project, flow, dry_run, keep, older_than?, deleted,
        kept, bundles}``: ``kept`` gives each other version's ``reason`` (routed, newest, too_young,
        running) and ``bundles`` says which bundles went (``deleted``) or why one stayed."""
        body: dict[str, Any] = {"keep": keep}
        if older_than is not None:
            body["older_than"] = older_than
        if dry_run:
            body["dry_run"] = True
        return self._t.call("POST", f"/v1/flows/{_quote(flow)}/prune", body=body, keyed=True)

    def history(self, flow: str, tag: str, *, limit: Optional[int] = None) -> list[RouteChange]:
        """Every change of the route, newest first."""
        return [RouteChange._from(c) for c in self._t.pages(f"/v1/flows/{_quote(flow)}/tags/{_quote(tag)}/history", limit)]

    def rollback(self, flow: str, tag: str) -> Tag:
        """Move an exclusive tag back to the version it had before its last change."""
        t = self._t.call(
            "POST", f"/v1/flows/{_quote(flow)}/tags/{_quote(tag)}/rollback", body={}, keyed=True, changes_route=_route(flow, tag)
        )
        return Tag._from(t)

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
        build: bool = False,
        secrets: Optional[list[str]] = None,
    ) -> Deployment:
        """Create the flow's next version (the raw API call; ``Flow.deploy`` builds the
        source and schema for you). ``source`` is ``{"archive": base64}`` or
        ``{"digest": "sha256:…"}`` (see ``upload_source``), optionally with ``commit``, ``dirty``.
        ``build=True`` saves it without a routing tag (``Flow.build``; ``tag`` must be None)."""
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
        if build:
            body["build"] = True
        if secrets:
            body["secrets"] = list(secrets)
        d = self._t.call(
            "POST",
            f"/v1/flows/{_quote(flow)}/deployments",
            body=body,
            keyed=True,
            changes_route=None if build else _route(flow, tag),
        )
        return Deployment._from(d, self._c)

    # Bundles up to this size (decoded) are sent inline in the deploy body.
    MAX_INLINE_ARCHIVE_BYTES = 4 << 20

    def upload_source(self, data: bytes) -> dict[str, Any]:
        """The deploy ``source`` for a gzip'd tar: inline when at most 4 MiB, else
        uploaded through ``POST /v1/artifacts`` and its presigned URL (skipped when
        the server already has these bytes)."""
        if len(data) <= self.MAX_INLINE_ARCHIVE_BYTES:
            return {"archive": base64.b64encode(data).decode("ascii")}
        sha = hashlib.sha256(data).hexdigest()
        # Sent once, as by the Go client: the announcement carries no Idempotency-Key.
        a = self._t.call("POST", "/v1/artifacts", body={"sha256": sha, "size": len(data)})
        if not a.get("exists"):
            upload = a.get("upload")
            if not upload:
                raise InternalError(f"the server neither has bundle sha256:{sha} nor gave an upload URL for it")
            self._t.put_presigned(upload, data)
        return {"digest": a.get("digest") or f"sha256:{sha}"}


# Waiting, as the Go client's Wait: each read asks the server to hold the answer
# up to _MAX_HOLD seconds while the execution runs (GET /v1/executions/{id}?wait=),
# so it comes as the run ends; a server that answers sooner (one that predates
# ?wait=) is read again only after a pause from _POLL_START growing _POLL_FACTOR×
# to _POLL_MAX, jittered over [half, whole], so the loop never spins.
_MAX_HOLD = 20.0
_POLL_START, _POLL_FACTOR, _POLL_MAX = 0.1, 1.5, 2.0
# Following a log: the runner ships output about once a second.
_LOG_POLL_START, _LOG_POLL_MAX = 0.25, 2.0


@dataclasses.dataclass(frozen=True)
class Secret:
    """A flow secret of the project: its name and when it was last set, never its value."""

    name: str
    updated_at: str

    @classmethod
    def _from(cls, d: dict[str, Any]) -> "Secret":
        return cls(name=d.get("name", ""), updated_at=d.get("updated_at", ""))


class Secrets:
    """The project's flow secrets: ``KitaruClient().secrets``. Values are write-only:
    a deployment that names a secret (``deploy(secrets=[...])``) gets it as the
    environment variable of that name when it runs (docs/secrets.md)."""

    def __init__(self, client: "KitaruClient") -> None:
        self._t = client._transport

    def set(self, name: str, value: str) -> Secret:
        """Create or replace a secret (producers only)."""
        return Secret._from(self._t.call("PUT", f"/v1/secrets/{_quote(name)}", body={"value": value}, idempotent=True))

    def list(self) -> list[Secret]:
        """The project's secrets by name, without values."""
        answer = self._t.call("GET", "/v1/secrets", idempotent=True) or {}
        return [Secret._from(d) for d in answer.get("items") or []]

    def delete(self, name: str) -> None:
        """Delete a secret; versions that name it cannot be invoked until it is set again."""
        self._t.call("DELETE", f"/v1/secrets/{_quote(name)}")


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

    def list(
        self,
        flow: str,
        *,
        limit: Optional[int] = None,
        version: Optional[int] = None,
        tag: Optional[str] = None,
        status: Optional[str] = None,
        since: Optional[str] = None,
    ) -> list[Execution]:
        """The flow's executions, newest first; a deleted flow's are still listed. The filters
        combine: ``version`` ran that version however invoked, ``tag`` was invoked through that
        tag, ``status`` is that state, ``since`` started at or after an RFC 3339 time or within a
        duration such as ``"1h"``."""
        query = {"version": version, "tag": tag, "status": status, "since": since}
        return [Execution._from(e) for e in self._t.pages(f"/v1/flows/{_quote(flow)}/executions", limit, query)]

    def wait(self, exec_id: str, timeout: Optional[float] = None) -> Any:
        """Wait for an execution and return its result, as ``Handle.wait``."""
        return Handle(Execution(exec_id=exec_id, flow="", version=0, status="running"), self._c).wait(timeout)

    def handle(self, exec_id: str) -> Handle:
        """A Handle of an existing execution."""
        return Handle(self.get(exec_id), self._c)

    def logs(self, exec_id: str, cursor: Optional[str] = None) -> LogPage:
        """One page of an execution's log from ``cursor`` (None: the start)."""
        query = {"cursor": cursor} if cursor else None
        return LogPage._from(self._t.call("GET", f"/v1/executions/{_quote(exec_id)}/logs", query=query, idempotent=True))

    def follow_logs(self, exec_id: str, *, cursor: Optional[str] = None, follow: bool = True,
                    timeout: Optional[float] = None) -> Iterator[str]:
        """Yield an execution's log from ``cursor`` page by page; with ``follow``
        until the execution has ended (new output is looked for every 0.25 s
        growing to 2 s), else until what is stored now is read."""
        deadline = None if timeout is None else time.monotonic() + max(0.0, timeout)
        pause = _LOG_POLL_START
        while True:
            page = self.logs(exec_id, cursor)
            if page.data:
                yield page.data
                pause = _LOG_POLL_START
            if page.ended or (not follow and not page.data):
                return
            if not page.data:
                if deadline is not None and time.monotonic() + pause > deadline:
                    raise WaitTimeoutError(self.get(exec_id), timeout or 0.0)
                time.sleep(jitter(pause))
                pause = min(pause * 2, _LOG_POLL_MAX)
            cursor = page.next_cursor

    def _wait(self, last: Execution, timeout: Optional[float]) -> Execution:
        deadline = None if timeout is None else time.monotonic() + max(0.0, timeout)
        pause = _POLL_START
        while True:
            hold = min(_MAX_HOLD, self._t.timeout / 2)
            if deadline is not None:
                hold = min(hold, deadline - time.monotonic())
            asked = time.monotonic()
            try:
                got = self._held(last.exec_id, hold)
                if got.done:
                    return got
                last = got
            except (UnavailableError, RateLimitedError):
                pass  # a briefly unavailable server is asked again
            sleep = jitter(pause) - (time.monotonic() - asked)  # a held answer has waited already
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise WaitTimeoutError(last, timeout or 0.0)
                sleep = min(sleep, left)
            if sleep > 0:
                time.sleep(sleep)
            pause = min(pause * _POLL_FACTOR, _POLL_MAX)

    def _held(self, exec_id: str, hold: float) -> Execution:
        """Read the execution, asking the server to hold the answer up to hold seconds while it runs."""
        ms = int(hold * 1000)
        query = {"wait": f"{ms}ms"} if ms > 0 else None
        return Execution._from(self._t.call("GET", f"/v1/executions/{_quote(exec_id)}", query=query, idempotent=True))


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
        self.secrets = Secrets(self)

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
