"""Kitaru snapshot runner: run one flow execution from a source bundle.

Runs as the AWS Lambda handler ``runner.handler(event, context)`` and as a
process, ``python3 runner.py`` with the event JSON on stdin (``kitaru dev``).
The event is ``workflow.RunRequest``; the protocol is in docs/executions.md.

Steps: validate the event, download the bundle from its presigned URL and check
its SHA-256, unpack it into a fresh directory (refusing escaping members), put
the bundle root and this file's directory (which ships the ``kitaru`` package)
on ``sys.path``, import the entrypoint file, call ``flow(**inputs)``, encode the
result as JSON and answer ``{"result": ...}``, or ``{"result_ref": ...}`` after
PUTting a result over 256 KiB to ``result_upload.url``. With ``run`` in the
event, the runner first GETs the execution's run object once: its flow secrets
(put in the flow's environment) and ``log_upload``, through whose presigned
URLs everything written to fds 1 and 2 while it runs (and the runner's own
``[kitaru]`` lines) is shipped in chunks: the execution's log (OutputCapture).

As a Lambda, the handler runs all of that in a child process (run_isolated)
whose environment is exactly the documented minimal one: the flow never sees
the Lambda's own variables (the role's credentials among them).

Stdlib only; Python >= 3.10 (the Lambda runtime is 3.12).
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import json
import keyword
import os
import posixpath
import re
import shutil
import signal
import sys
import tempfile
import threading
import time
from typing import TYPE_CHECKING, Any, Iterator, Optional

if TYPE_CHECKING:
    import tarfile

# Imported where they are used, so `import runner` stays cheap (urllib.request
# alone pulls in http.client, email and ssl). kitaru dev's fork server
# imports these up front (pkg/workflow/pyrunner/forkserver.py reads PRELOAD),
# so its runs find them loaded.
PRELOAD = ("hashlib", "tarfile", "traceback", "urllib.error", "urllib.parse", "urllib.request")

# Limits from docs/executions.md: the server refuses bigger bundles at deploy,
# so these only guard against a wrong or hostile URL. The event's
# bundle.max_bytes (the server's KITARU_MAX_BUNDLE_MB) replaces them; these are
# the defaults for an event without it. Unpacked, a bundle may be
# UNPACKED_FACTOR times its limit, as pkg/bundle allows.
MAX_BUNDLE_BYTES = 64 << 20
UNPACKED_FACTOR = 4
MAX_UNPACKED_BYTES = UNPACKED_FACTOR * MAX_BUNDLE_BYTES
# The same caps as pkg/bundle (a Go test keeps them equal), checked before any
# per-segment work so a hostile name cannot make the checks slow.
MAX_BUNDLE_MEMBERS = 100_000
MAX_MEMBER_NAME_BYTES = 4096
MAX_LINK_TARGET_BYTES = 4096
MAX_MEMBER_PATH_SEGMENTS = 256
# A result whose JSON encoding is over this is uploaded, not returned inline
# (Step Functions' payload limit is 256 KiB).
MAX_INLINE_RESULT_BYTES = 256 << 10
HTTP_TIMEOUT_SECONDS = 60.0
# Each traceback of an error answer keeps at most this many characters (its
# end), so a deep recursion cannot fill the execution record (390 KiB).
MAX_TRACEBACK_CHARS = 64 << 10
# The Lambda error report carries the error answer as errorMessage; Step
# Functions keeps at most 32,768 characters of a task's cause (the whole
# report, JSON-encoded), so the answer is cut to fit this, leaving room for
# the report's other keys.
MAX_LAMBDA_ERROR_CHARS = 30_000

RUNNER_DIR = os.path.dirname(os.path.abspath(__file__))
# The runner's own code: these frames are dropped from the traceback a user sees.
_INTERNAL_FILE = os.path.realpath(__file__)
_INTERNAL_DIR = os.path.realpath(os.path.join(RUNNER_DIR, "kitaru")) + os.sep
_DIGEST_RE = re.compile(r"^sha256:([0-9a-f]{64})$")
_CHUNK = 1 << 20


class RunnerError(Exception):
    """A failure of the runner or its infrastructure, not of the flow's code.

    The subclass name is the error ``type`` a caller sees.
    """


class InvalidEvent(RunnerError):
    """The event is malformed: a missing key, a bad entrypoint, bad inputs."""


class BundleDownloadFailed(RunnerError):
    """The bundle could not be fetched from bundle.url, or is too big."""


class BundleDigestMismatch(RunnerError):
    """The downloaded bytes do not hash to bundle.digest."""


class UnsafeBundle(RunnerError):
    """The bundle is not a gzip'd tar or holds a member that would escape."""


class EntrypointNotFound(RunnerError):
    """The entrypoint file or function is missing from the bundle, or not callable."""


class ResultNotSerializable(RunnerError):
    """The flow returned something json cannot encode."""


class ResultUploadFailed(RunnerError):
    """A large result could not be PUT to result_upload.url."""


class FlowExited(RunnerError):
    """The flow called sys.exit() instead of returning or raising."""


class Terminated(BaseException):
    """The process got SIGTERM. A BaseException so a flow's `except Exception` lets it pass."""


class RunFailed(Exception):
    """How the Lambda handler fails: Lambda's runtime reports an exception as
    errorType (the class name) and errorMessage (its str) only, so the error
    answer {"error": {type, message, traceback, details}} travels as the
    message, JSON, and the class is named after the error's type (see
    failed_with), keeping the Step Functions error name the flow's own.
    pkg/workflow.FailureFromStates reads it back.
    """

    def __init__(self, error: dict[str, Any]) -> None:
        super().__init__(error.get("message", ""))
        self.error = error

    def __str__(self) -> str:
        return json.dumps({"error": self.error}, separators=(",", ":"))


# ---------------------------------------------------------------------------
# The event


class Event:
    """The validated parts of a RunRequest the runner uses."""

    def __init__(self, raw: Any) -> None:
        if not isinstance(raw, dict):
            raise InvalidEvent(f"the event must be a JSON object, got {_json_type(raw)}")
        self.entrypoint_path, self.function_name = parse_entrypoint(raw.get("entrypoint"))

        bundle = raw.get("bundle")
        if not isinstance(bundle, dict):
            raise InvalidEvent("the event needs bundle: {digest, url}")
        self.bundle_url = _require_url(bundle.get("url"), "bundle.url")
        digest = bundle.get("digest")
        match = _DIGEST_RE.match(digest) if isinstance(digest, str) else None
        if match is None:
            raise InvalidEvent(f"bundle.digest must be sha256:<64 lowercase hex>, got {digest!r}")
        self.bundle_sha256 = match.group(1)
        # None: an event from before bundle.max_bytes; the defaults apply.
        self.bundle_max_bytes: Optional[int] = None
        max_bytes = bundle.get("max_bytes")
        if max_bytes is not None:
            if type(max_bytes) is not int or max_bytes < 1:
                raise InvalidEvent(f"bundle.max_bytes must be a positive integer, got {max_bytes!r}")
            self.bundle_max_bytes = max_bytes

        inputs = raw.get("inputs")
        if inputs is None:
            inputs = {}
        if not isinstance(inputs, dict):
            raise InvalidEvent(f"inputs must be a JSON object, got {_json_type(inputs)}")
        self.inputs: dict[str, Any] = inputs

        self.result_url: Optional[str] = None
        self.result_ref: Optional[str] = None
        upload = raw.get("result_upload")
        if upload is not None:
            if not isinstance(upload, dict):
                raise InvalidEvent("result_upload must be an object {url, ref}")
            self.result_url = _require_url(upload.get("url"), "result_upload.url")
            ref = upload.get("ref")
            if not isinstance(ref, str) or not ref:
                raise InvalidEvent("result_upload.ref must be a non-empty string")
            self.result_ref = ref

        self.exec_id = raw.get("exec_id") if isinstance(raw.get("exec_id"), str) else ""
        self.flow = raw.get("flow") if isinstance(raw.get("flow"), str) else self.function_name
        self.version = raw.get("version")
        # The run object, read once at start (docs/executions.md).
        self.run_url: Optional[str] = None
        ref = raw.get("run")
        if ref is not None:
            if not isinstance(ref, dict):
                raise InvalidEvent("run must be an object {url}")
            self.run_url = _require_url(ref.get("url"), "run.url")


ENTRYPOINT_RULE = (
    "an entrypoint is path/to/file.py:function: "
    'a path relative to the project root with / separators, no ".." segment, no ":", no "\\" and no control characters, naming a .py file; '
    'then one ":" and a Python identifier of ASCII letters, digits and _ (not starting with a digit) that is not a Python keyword'
)
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_MAX_ENTRYPOINT_BYTES = 1024


def parse_entrypoint(entrypoint: Any) -> tuple[str, str]:
    """Split "relative/path.py:function_name" into the path, cleaned of "." segments
    and repeated slashes, and the name, by ENTRYPOINT_RULE. The same rule as
    pkg/registry.ParseEntrypoint, which refused anything else at deploy; both
    are tested against entrypoint_cases.json."""

    def refuse(why: str) -> InvalidEvent:
        return InvalidEvent(f"entrypoint {entrypoint!r} {why}; {ENTRYPOINT_RULE}")

    if not isinstance(entrypoint, str) or not entrypoint:
        raise refuse("is empty")
    try:
        size = len(entrypoint.encode("utf-8"))
    except UnicodeEncodeError:
        raise refuse("contains control characters or invalid UTF-8") from None
    if size > _MAX_ENTRYPOINT_BYTES:
        raise refuse("is longer than 1024 bytes")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in entrypoint):
        raise refuse("contains control characters or invalid UTF-8")
    if entrypoint.count(":") != 1:
        raise refuse('must contain exactly one ":"')
    path, _, name = entrypoint.partition(":")
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if path.startswith("/") or "\\" in path:
        raise refuse("must be relative to the project root, with / separators")
    if ".." in parts:
        raise refuse('leaves the project root ("..")')
    if not parts or path.endswith("/") or len(parts[-1]) <= len(".py") or not path.endswith(".py"):
        raise refuse("does not name a .py file")
    if not _IDENTIFIER.fullmatch(name):
        raise refuse("does not end in a Python identifier")
    if keyword.iskeyword(name):
        raise refuse("ends in a Python keyword")
    return "/".join(parts), name


def _require_url(url: Any, field: str) -> str:
    if not isinstance(url, str) or not url:
        raise InvalidEvent(f"the event needs {field}")
    import urllib.parse

    scheme = urllib.parse.urlsplit(url).scheme.lower()
    if scheme not in ("http", "https"):
        raise InvalidEvent(f"{field} must be an http(s) URL, got scheme {scheme!r}")
    return url


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    return {dict: "object", list: "array", str: "string", bool: "boolean"}.get(type(value), type(value).__name__)


# ---------------------------------------------------------------------------
# The bundle


def download_bundle(url: str, sha256_hex: str, dest_file: str, max_bytes: Optional[int] = None) -> None:
    """Stream url into dest_file, at most max_bytes (default MAX_BUNDLE_BYTES), and check its SHA-256."""
    import hashlib
    import urllib.error
    import urllib.request

    limit = MAX_BUNDLE_BYTES if max_bytes is None else max_bytes
    digest = hashlib.sha256()
    size = 0
    try:
        with urllib.request.urlopen(url, timeout=HTTP_TIMEOUT_SECONDS) as resp, open(dest_file, "wb") as out:
            length = resp.headers.get("Content-Length")
            if length is not None and length.isdigit() and int(length) > limit:
                raise BundleDownloadFailed(f"the bundle is {length} bytes, over the {limit}-byte limit")
            while True:
                chunk = resp.read(_CHUNK)
                if not chunk:
                    break
                size += len(chunk)
                if size > limit:
                    raise BundleDownloadFailed(f"the bundle is over the {limit}-byte limit")
                digest.update(chunk)
                out.write(chunk)
    except urllib.error.HTTPError as exc:
        raise BundleDownloadFailed(f"GET bundle: HTTP {exc.code} {exc.reason}") from exc
    except (urllib.error.URLError, OSError) as exc:
        raise BundleDownloadFailed(f"GET bundle: {exc}") from exc
    got = digest.hexdigest()
    if got != sha256_hex:
        raise BundleDigestMismatch(f"the bundle's SHA-256 is {got}, the event expects {sha256_hex}")


def _check_caps(name: str, what: str, max_bytes: int) -> None:
    """Refuse a name or link target over the shared caps, before any per-segment work."""
    if len(name.encode("utf-8", "surrogateescape")) > max_bytes:
        raise UnsafeBundle(f"bundle {what} {name[:200]!r}… is over {max_bytes} bytes")
    if name.count("/") + 1 > MAX_MEMBER_PATH_SEGMENTS:
        raise UnsafeBundle(f"bundle {what} {name[:200]!r}… has over {MAX_MEMBER_PATH_SEGMENTS} path segments")


def _member_parts(name: str, what: str, max_bytes: int = MAX_MEMBER_NAME_BYTES) -> list[str]:
    """The path segments of a member name; refuses names over the caps, absolute names and '..'."""
    _check_caps(name, what, max_bytes)
    if not name or name.startswith("/") or "\x00" in name or re.match(r"^[A-Za-z]:", name):
        raise UnsafeBundle(f"bundle {what} {name!r} is absolute or empty")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise UnsafeBundle(f"bundle {what} {name!r} contains '..'")
    return parts


def check_member(member: tarfile.TarInfo) -> list[str]:
    """Refuse a member that is not a regular file, a directory or a link that
    stays inside; return its normalised path segments."""
    parts = _member_parts(member.name, "member")
    if member.isreg() or member.isdir():
        return parts
    if member.issym():
        target = member.linkname
        _check_caps(target, f"symlink {member.name!r} target", MAX_LINK_TARGET_BYTES)
        if not target or target.startswith("/"):
            raise UnsafeBundle(f"bundle symlink {member.name!r} points to absolute path {target!r}")
        resolved = posixpath.normpath(posixpath.join("/".join(parts[:-1]), target))
        if resolved == ".." or resolved.startswith("../") or resolved.startswith("/"):
            raise UnsafeBundle(f"bundle symlink {member.name!r} -> {target!r} points outside the bundle")
        return parts
    if member.islnk():
        _member_parts(member.linkname, f"hard link {member.name!r} target", MAX_LINK_TARGET_BYTES)
        return parts
    raise UnsafeBundle(f"bundle member {member.name!r} is not a regular file, directory or link (devices and fifos are refused)")


def check_members(members: list[tarfile.TarInfo], max_unpacked_bytes: Optional[int] = None) -> None:
    """check_member on each, plus: no member or hard link target lies under a
    symlink of the bundle (a symlink to ".." would otherwise carry a later
    member's lexically safe path outside), and together they are at most
    max_unpacked_bytes (default MAX_UNPACKED_BYTES)."""
    unpacked_limit = MAX_UNPACKED_BYTES if max_unpacked_bytes is None else max_unpacked_bytes
    if len(members) > MAX_BUNDLE_MEMBERS:
        raise UnsafeBundle(f"the bundle has {len(members)} members, over the {MAX_BUNDLE_MEMBERS} limit")
    checked = [(m, check_member(m)) for m in members]
    # A trie of the symlinks' segments: each path is checked in one pass.
    symlinks: dict[str, Any] = {}
    for m, parts in checked:
        if m.issym() and parts:
            node = symlinks
            for seg in parts:
                node = node.setdefault(seg, {})
            node[""] = True  # "" is never a segment: it marks a symlink's end
    total = 0
    for m, parts in checked:
        paths = [parts]
        if m.islnk():
            paths.append(_member_parts(m.linkname, "hard link target", MAX_LINK_TARGET_BYTES))
        for p in paths:
            node = symlinks
            for i, seg in enumerate(p[:-1]):
                node = node.get(seg)
                if node is None:
                    break
                if "" in node:
                    raise UnsafeBundle(f"bundle member {m.name!r} lies under the symlink {'/'.join(p[: i + 1])!r}")
        total += max(m.size, 0)
        if total > unpacked_limit:
            raise UnsafeBundle(f"the bundle unpacks to over {unpacked_limit} bytes")


def unpack_bundle(archive: str, dest: str, max_unpacked_bytes: Optional[int] = None) -> None:
    """Unpack the gzip'd tar archive into the empty directory dest, refusing
    unsafe members and more than max_unpacked_bytes (default MAX_UNPACKED_BYTES)."""
    import tarfile

    try:
        with tarfile.open(archive, mode="r:gz") as tar:
            members = tar.getmembers()
            check_members(members, max_unpacked_bytes)
            if hasattr(tarfile, "data_filter"):
                # Python 3.11.4+/3.12: tarfile's own checks on top of ours.
                tar.extractall(dest, members=members, filter="data")
            else:  # pragma: no cover - Python < 3.11.4; our checks above still apply
                tar.extractall(dest, members=members)
    except RunnerError:
        raise
    except (tarfile.TarError, EOFError, OSError, ValueError) as exc:
        # tarfile.FilterError (a TarError) lands here when data_filter refuses.
        raise UnsafeBundle(f"unpack bundle: {exc}") from exc


# ---------------------------------------------------------------------------
# Capturing output: the execution's log (docs/executions.md, "Execution logs")


class LogUpload:
    """The run object's log_upload: one presigned PUT URL per chunk of the log.

    Chunk i holds bytes [i*chunk_bytes, (i+1)*chunk_bytes) of the log; the
    runner PUTs a chunk again as it grows, so readers see output while the
    flow runs. The log keeps at most max_bytes, its end a truncation marker.
    """

    def __init__(self, raw: Any) -> None:
        if not isinstance(raw, dict):
            raise InvalidEvent("log_upload must be an object {urls, chunk_bytes, max_bytes}")
        urls = raw.get("urls")
        if not isinstance(urls, list) or not urls:
            raise InvalidEvent("log_upload.urls must be a non-empty list of URLs")
        self.urls = [_require_url(u, f"log_upload.urls[{i}]") for i, u in enumerate(urls)]
        chunk = raw.get("chunk_bytes")
        if type(chunk) is not int or chunk < LOG_MARKER_RESERVE:
            raise InvalidEvent(f"log_upload.chunk_bytes must be an integer of at least {LOG_MARKER_RESERVE}, got {chunk!r}")
        self.chunk_bytes = chunk
        max_bytes = raw.get("max_bytes", chunk * len(self.urls))
        if type(max_bytes) is not int or not LOG_MARKER_RESERVE <= max_bytes <= chunk * len(self.urls):
            raise InvalidEvent(f"log_upload.max_bytes must be an integer from {LOG_MARKER_RESERVE} to chunk_bytes times the number of urls, got {max_bytes!r}")
        self.max_bytes = max_bytes


# Room kept at the end of the log for the truncation marker and the
# runner's last line; flow output stops max_bytes - this into the log.
LOG_MARKER_RESERVE = 1024
# A growing chunk is PUT again at most this often.
LOG_FLUSH_SECONDS = 1.0
# Writers wait while a chunk is PUT, so a PUT is cut short sooner than other
# requests, and after this many failed PUTs the log is given up on: a
# storage outage must not stall the flow.
LOG_PUT_TIMEOUT_SECONDS = 10.0
LOG_MAX_FAILURES = 3
_PIPE_READ = 64 << 10


class OutputCapture:
    """Captures everything written to fds 1 and 2 while it is installed (Python,
    C code, child processes), passes it on to where those fds pointed, and
    ships it in chunks through log_upload's URLs.

    Memory stays at about one chunk: one thread reads the pipe and PUTs the
    current chunk when it is full or LOG_FLUSH_SECONDS old; while it PUTs, the
    pipe fills and writers wait. Output past the cap is passed on but not
    kept; the log says so once, at the cut, and how much was dropped, at the
    end. A log that cannot be shipped never fails the run: the runner says why
    on the original stderr, once, and stops trying after LOG_MAX_FAILURES.
    """

    def __init__(self, upload: LogUpload) -> None:
        self.upload = upload
        self.limit = upload.max_bytes - LOG_MARKER_RESERVE
        self.chunk = bytearray()
        self.seq = 0
        self.kept = 0  # flow bytes kept in the log
        self.dropped = 0
        self.mid_line = False  # the log ends inside a line (no trailing newline)
        self.dirty = False
        self.failures = 0
        self.last_put = 0.0
        self.lock = threading.Lock()

    def __enter__(self) -> "OutputCapture":
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        self.read_fd, write_fd = os.pipe()
        os.set_blocking(self.read_fd, False)
        self.saved = (os.dup(1), os.dup(2))
        os.dup2(write_fd, 1)
        os.dup2(write_fd, 2)
        os.close(write_fd)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._pump, name="kitaru-log", daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os.dup2(self.saved[0], 1)
        os.dup2(self.saved[1], 2)
        # A child the flow left running may hold the pipe open: the pump then
        # drains what is there and stops instead of waiting for EOF.
        self.stop.set()
        self.thread.join(10)
        os.close(self.read_fd)
        with self.lock:
            self._put()
        os.close(self.saved[0])
        os.close(self.saved[1])

    def note(self, line: str, last: bool = False) -> None:
        """Add one of the runner's own lines to the log (not to stderr); the
        last one follows what was dropped, counted, once the flow is done."""
        import select

        if last:
            # Outside the lock: a flush into a full pipe waits for the pump.
            for stream in (sys.stdout, sys.stderr):
                with contextlib.suppress(Exception):
                    stream.flush()
        with self.lock:
            if last:
                for _ in range(64):
                    if not (self._drain() and select.select([self.read_fd], [], [], 0)[0]):
                        break
                if self.dropped:
                    self._keep(f"[kitaru: {self.dropped} more bytes of output were dropped]\n".encode(), runner=True)
            # The runner's lines start lines of their own, also after a
            # flow's partial last line.
            start = "\n" if self.mid_line else ""
            self._keep(f"{start}[kitaru] {line}\n".encode("utf-8", "replace"), runner=True)

    def _drain(self) -> bool:
        """Take what is in the pipe now, without waiting (the lock is held:
        only one reader, in order); False at end of file. At most 1 MiB per
        call, so a writer that never stops cannot hold the lock."""
        for _ in range(16):
            try:
                data = os.read(self.read_fd, _PIPE_READ)
            except BlockingIOError:
                return True
            if not data:
                return False
            self._pass_on(data)
            self._keep(data)
        return True

    def _pump(self) -> None:
        import select

        while True:
            ready, _, _ = select.select([self.read_fd], [], [], LOG_FLUSH_SECONDS / 2)
            with self.lock:
                if (ready and not self._drain()) or self.stop.is_set():
                    return
                if self.dirty and time.monotonic() - self.last_put >= LOG_FLUSH_SECONDS:
                    self._put()

    def _pass_on(self, data: bytes) -> None:
        with contextlib.suppress(OSError):
            view = memoryview(data)
            while view:
                view = view[os.write(self.saved[1], view):]

    def _keep(self, data: bytes, runner: bool = False) -> None:
        if not runner:
            take = max(0, min(self.limit - self.kept, len(data)))
            first_cut = take < len(data) and not self.dropped
            self.dropped += len(data) - take
            self.kept += take
            data = data[:take]
            if first_cut:
                data += f"\n[kitaru: output truncated: this execution's log keeps {self.upload.max_bytes} bytes; later output is dropped]\n".encode()
        if data:
            self.mid_line = not data.endswith(b"\n")
        while data:
            if self.seq >= len(self.upload.urls):
                return
            take = self.upload.chunk_bytes - len(self.chunk)
            self.chunk += data[:take]
            data = data[take:]
            self.dirty = True
            if len(self.chunk) == self.upload.chunk_bytes:
                self._put()
                self.seq += 1
                self.chunk = bytearray()

    def _put(self) -> None:
        if not self.dirty or self.seq >= len(self.upload.urls) or self.failures >= LOG_MAX_FAILURES:
            return
        import urllib.error
        import urllib.request

        self.dirty = False
        self.last_put = time.monotonic()
        req = urllib.request.Request(self.upload.urls[self.seq], data=bytes(self.chunk), method="PUT",
                                     headers={"Content-Type": "text/plain; charset=utf-8"})
        try:
            with urllib.request.urlopen(req, timeout=LOG_PUT_TIMEOUT_SECONDS) as resp:
                resp.read()
        except (urllib.error.URLError, OSError, ValueError) as exc:
            self.failures += 1
            if self.failures == 1:
                with contextlib.suppress(OSError):
                    os.write(self.saved[1], f"[kitaru] could not ship the execution's log (chunk {self.seq}): {exc}\n".encode())


@contextlib.contextmanager
def _captured(upload: Optional[LogUpload]) -> Iterator[Optional[OutputCapture]]:
    if upload is None:
        yield None
        return
    with OutputCapture(upload) as capture:
        yield capture


# ---------------------------------------------------------------------------
# Running the flow


def load_flow(root: str, path: str, function_name: str) -> Any:
    """Import root/path as a uniquely named module and return its function_name."""
    file = os.path.join(root, *path.split("/"))
    real_root = os.path.realpath(root)
    real_file = os.path.realpath(file)
    if not os.path.isfile(file) or os.path.commonpath([real_root, real_file]) != real_root:
        raise EntrypointNotFound(f"entrypoint file {path!r} is not in the bundle")
    module_name = f"kitaru_entrypoint_{os.urandom(16).hex()}"
    spec = importlib.util.spec_from_file_location(module_name, file)
    if spec is None or spec.loader is None:
        raise EntrypointNotFound(f"cannot import entrypoint file {path!r}")
    module = importlib.util.module_from_spec(spec)
    # Registered before it runs, as a normal import does (dataclasses, pickle need it).
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    try:
        target = getattr(module, function_name)
    except AttributeError:
        raise EntrypointNotFound(f"{path!r} defines no {function_name!r}") from None
    if not callable(target):
        raise EntrypointNotFound(f"{path}:{function_name} is a {type(target).__name__}, not a function")
    return target


def _is_flow(obj: Any) -> bool:
    # Duck-typed (kitaru.flow.is_flow) so any copy of the kitaru package counts.
    return getattr(obj, "__kitaru_flow__", False) is True and callable(getattr(obj, "func", None))


def call_flow(target: Any, inputs: dict[str, Any]) -> Any:
    fn = target.func if _is_flow(target) else target
    try:
        return fn(**inputs)
    except SystemExit as exc:
        raise FlowExited(f"the flow called sys.exit({exc.code!r})") from exc


def encode_result(result: Any) -> str:
    try:
        return json.dumps(result, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError, RecursionError) as exc:
        raise ResultNotSerializable(f"the flow's result ({type(result).__name__}) is not JSON-serializable: {exc}") from exc


def upload_result(url: str, body: bytes) -> None:
    import urllib.error
    import urllib.request

    req = urllib.request.Request(url, data=body, method="PUT", headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=HTTP_TIMEOUT_SECONDS) as resp:
            resp.read()
    except urllib.error.HTTPError as exc:
        raise ResultUploadFailed(f"PUT result: HTTP {exc.code} {exc.reason}") from exc
    except (urllib.error.URLError, OSError) as exc:
        raise ResultUploadFailed(f"PUT result: {exc}") from exc


@contextlib.contextmanager
def _on_sys_path(*dirs: str) -> Iterator[None]:
    """Put dirs at the front of sys.path, in order, for the block; take them
    off afterwards. A dir already on sys.path moves up too: as a process,
    runner.py's directory is sys.path[0] already, and it must stay ahead of
    the bundle root so the shipped kitaru package wins."""
    present = set(sys.path)
    sys.path[:0] = dirs
    importlib.invalidate_caches()
    try:
        yield
    finally:
        for d in dirs:
            with contextlib.suppress(ValueError):
                sys.path.remove(d)  # the first occurrence: the one put in front
            if d not in present:
                sys.path_importer_cache.pop(d, None)


def _forget_modules_under(root: str) -> None:
    """Drop every module (and importer cache entry) that came from root, so a
    warm Lambda never sees a previous bundle's modules."""
    real_root = os.path.realpath(root)

    def inside(p: Any) -> bool:
        if not isinstance(p, str) or not os.path.isabs(p):
            return False
        real = os.path.realpath(p)
        return real == real_root or real.startswith(real_root + os.sep)

    for name, module in list(sys.modules.items()):
        if module is None:
            continue
        spec = getattr(module, "__spec__", None)
        origin = getattr(spec, "origin", None) or getattr(module, "__file__", None)
        paths = list(getattr(module, "__path__", None) or [])
        if name.startswith("kitaru_entrypoint_") or inside(origin) or any(inside(p) for p in paths):
            del sys.modules[name]
    for key in list(sys.path_importer_cache):
        if inside(key):
            del sys.path_importer_cache[key]


@contextlib.contextmanager
def _cwd(path: str) -> Iterator[None]:
    previous = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(previous)


class RunObjectUnavailable(Exception):
    """The run object could not be read; the message never holds a value."""


_SECRET_NAME = re.compile(r"[A-Z_][A-Z0-9_]{0,127}")
MAX_RUN_OBJECT_BYTES = 2 << 20


class RunObject:
    """The execution's run object (workflow.RunObject): its flow secrets, names
    to values, and where to ship its log. Read once, at start: its presigned
    GET expires minutes later and the execution's end deletes it."""

    def __init__(self, secrets: Optional[dict[str, str]] = None, log_upload: Optional[LogUpload] = None) -> None:
        self.secrets = secrets or {}
        self.log_upload = log_upload


def fetch_run_object(url: str) -> RunObject:
    """GET the run object, bounded, and check it."""
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=HTTP_TIMEOUT_SECONDS) as resp:
            body = resp.read(MAX_RUN_OBJECT_BYTES + 1)
    except urllib.error.HTTPError as exc:
        raise RunObjectUnavailable(f"GET the run object: HTTP {exc.code} {exc.reason} (it expires minutes after the invoke and is deleted when the execution ends); invoke again") from None
    except (urllib.error.URLError, OSError) as exc:
        raise RunObjectUnavailable(f"GET the run object: {type(exc).__name__}; invoke again") from None
    try:
        raw = json.loads(body) if len(body) <= MAX_RUN_OBJECT_BYTES else None
    except ValueError:
        raw = None
    if not isinstance(raw, dict):
        raise RunObjectUnavailable("the run object is not a JSON object")
    secrets = raw.get("secrets") or {}
    if not isinstance(secrets, dict) or not all(
        isinstance(k, str) and _SECRET_NAME.fullmatch(k) and isinstance(v, str) and "\0" not in v for k, v in secrets.items()
    ):
        raise RunObjectUnavailable("the run object's secrets are not an object of names to strings")
    log_upload = raw.get("log_upload")
    return RunObject(secrets, LogUpload(log_upload) if log_upload is not None else None)


@contextlib.contextmanager
def _environ(values: dict[str, str]) -> Iterator[None]:
    """The secrets in os.environ while the flow runs, as they were after, so
    a process that goes on after run() keeps no run's secrets."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def run(raw_event: Any) -> dict[str, Any]:
    """Run one execution and return its answer; raises on any failure."""
    event = Event(raw_event)
    handed = fetch_run_object(event.run_url) if event.run_url else RunObject()
    with _captured(handed.log_upload) as capture:
        started = time.monotonic()
        if capture is not None:
            capture.note(f"running {event.flow} v{event.version} ({event.exec_id}): {event.entrypoint_path}:{event.function_name}")
        try:
            answer = _run(event, handed.secrets)
        except BaseException as exc:
            if capture is not None:
                capture.note(f"failed after {time.monotonic() - started:.2f} s: {type(exc).__name__}: {_cut(str(exc), 300, False)}", last=True)
            raise
        if capture is not None:
            capture.note(f"completed in {time.monotonic() - started:.2f} s", last=True)
        return answer


def _run(event: Event, secrets: dict[str, str]) -> dict[str, Any]:
    work = tempfile.mkdtemp(prefix="kitaru-run-")
    root = os.path.join(work, "src")
    try:
        archive = os.path.join(work, "bundle.tar.gz")
        os.mkdir(root)
        max_bytes = event.bundle_max_bytes
        download_bundle(event.bundle_url, event.bundle_sha256, archive, max_bytes)
        unpack_bundle(archive, root, None if max_bytes is None else UNPACKED_FACTOR * max_bytes)
        os.remove(archive)
        try:
            # The runner's directory first: the shipped kitaru package wins over
            # anything of that name in the bundle.
            with _on_sys_path(RUNNER_DIR, root), _cwd(root), _environ(secrets):
                target = load_flow(root, event.entrypoint_path, event.function_name)
                result = call_flow(target, event.inputs)
        finally:
            _forget_modules_under(root)
        encoded = encode_result(result)
        body = encoded.encode("utf-8")
        if len(body) > MAX_INLINE_RESULT_BYTES and event.result_url is not None:
            upload_result(event.result_url, body)
            return {"result_ref": event.result_ref}
        # Decoded again so the answer is exactly what the JSON says (tuples
        # become lists, ...), whoever serialises it next.
        return {"result": json.loads(encoded)}
    except BaseException as exc:
        # Described now, while the bundle's files exist: linecache reads the
        # frames' source lines from them.
        _remember_failure(exc, root)
        raise
    finally:
        shutil.rmtree(work, ignore_errors=True)


def handler(event: Any, context: Any = None) -> dict[str, Any]:
    """The Lambda entry point: the execution runs in a child process
    (run_isolated). A failure raises RunFailed, which the runtime reports
    with the error answer as its message."""
    deadline = None
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if callable(remaining):
        deadline = time.monotonic() + remaining() / 1000 - LAMBDA_STOP_MARGIN_SECONDS
    answer = run_isolated(event, deadline)
    if "error" in answer:
        raise failed_with(answer["error"])
    return answer


# The environment of the flow's process besides its secrets: the names of
# pkg/workflow/pyrunner.Environment, which kitaru dev gives its runs (a Go
# test keeps the two equal). PATH and the locale, time zone and CA variables
# are the Lambda's own (no secrets); HOME and TMPDIR a fresh directory per run.
FLOW_ENVIRONMENT = (
    "PATH", "HOME", "TMPDIR",
    "LANG", "LC_ALL", "LC_CTYPE", "TZ", "SSL_CERT_FILE", "SSL_CERT_DIR",
    "PYTHONUNBUFFERED", "PYTHONDONTWRITEBYTECODE", "PYTHONNOUSERSITE",
)
_PASSED_THROUGH = ("LANG", "LC_ALL", "LC_CTYPE", "TZ", "SSL_CERT_FILE", "SSL_CERT_DIR")
# The child is stopped (SIGTERM: it ships the rest of its log and answers)
# this long before the Lambda's own timeout, and killed a second after.
LAMBDA_STOP_MARGIN_SECONDS = 3.0
_STOP_GRACE_SECONDS = 1.0


def flow_environment(home: str) -> dict[str, str]:
    """The whole environment of the flow's process, with home as HOME and
    TMPDIR. Besides FLOW_ENVIRONMENT, only LD_LIBRARY_PATH naming the one
    directory this interpreter loaded libpython from through it (Lambda's
    python is linked that way), so the same interpreter starts again."""
    env = {
        "PATH": os.environ.get("PATH") or "/usr/local/bin:/usr/bin:/bin", "HOME": home, "TMPDIR": home,
        "PYTHONUNBUFFERED": "1", "PYTHONDONTWRITEBYTECODE": "1", "PYTHONNOUSERSITE": "1",
    }
    for name in _PASSED_THROUGH:
        if name in os.environ:
            env[name] = os.environ[name]
    libdir = _libpython_dir_from_ld_library_path()
    if libdir:
        env["LD_LIBRARY_PATH"] = libdir
    return env


def _libpython_dir_from_ld_library_path() -> Optional[str]:
    """The directory of the libpython this process mapped, when it is one of
    LD_LIBRARY_PATH's (so the loader found it only through that variable)."""
    dirs = [d for d in os.environ.get("LD_LIBRARY_PATH", "").split(":") if d]
    if not dirs:
        return None
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as maps:
            for line in maps:
                path = line.rstrip("\n").split(" ", 5)[-1].strip()
                if os.path.basename(path).startswith("libpython"):
                    found = os.path.dirname(path)
                    return found if any(os.path.realpath(d) == os.path.realpath(found) for d in dirs) else None
    except OSError:
        pass
    return None


def _protect_own_environment() -> None:
    """Make this process non-dumpable (prctl PR_SET_DUMPABLE 0): its
    /proc/<pid>/environ and mem are then root's, so a flow process of the
    same user cannot read the Lambda's credentials from its parent. Best
    effort: off Linux there is no /proc to read them from."""
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE = 4


def run_isolated(event: Any, deadline: Optional[float] = None) -> dict[str, Any]:
    """Run the execution as `python runner.py` in a child process, its event
    on stdin, and return its answer ({"result"...} or {"error": ...}).

    The child's environment is flow_environment, nothing of this process's
    (on Lambda: the role's credentials, AWS_LAMBDA_*, _HANDLER); it fetches
    the run object itself, so its secrets exist only in its own memory. It
    leads its own session, whose processes are killed when it ends, so a
    warm Lambda carries none into the next run. At deadline (monotonic) it
    gets SIGTERM, keeps what it wrote and answers; the answer is then a
    Runner.TimedOut, which the finish function records as States.Timeout
    (a function may not raise a "States." name).
    """
    import subprocess

    _protect_own_environment()
    home = tempfile.mkdtemp(prefix="kitaru-flow-")
    timed_out = False
    out: list[bytes] = []
    try:
        proc = subprocess.Popen(
            [sys.executable, _INTERNAL_FILE], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            env=flow_environment(home), cwd=home, start_new_session=True, close_fds=True,
        )
        try:
            # Read on a thread and wait for the process, not for the end of
            # stdout: a process the flow forked may hold it open.
            assert proc.stdin is not None and proc.stdout is not None
            reader = threading.Thread(target=lambda: out.append(proc.stdout.read()), daemon=True)
            reader.start()
            with contextlib.suppress(BrokenPipeError):
                proc.stdin.write(json.dumps(event).encode())
            with contextlib.suppress(BrokenPipeError):
                proc.stdin.close()
            timeout = None if deadline is None else max(deadline - time.monotonic(), 0.1)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                timed_out = True
                _signal_session(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(_STOP_GRACE_SECONDS)
                except subprocess.TimeoutExpired:
                    _signal_session(proc.pid, signal.SIGKILL)
                    proc.wait()
        finally:
            _signal_session(proc.pid, signal.SIGKILL)
        reader.join()
        proc.stdout.close()
    finally:
        shutil.rmtree(home, ignore_errors=True)
    if timed_out:
        return {"error": {"type": "Runner.TimedOut", "message": "the flow ran until the Lambda function's timeout and was stopped; make it finish sooner or split it into smaller flows", "traceback": "", "details": {}}}
    lines = b"".join(out).decode("utf-8", "replace").strip().splitlines()
    try:
        answer = json.loads(lines[-1]) if lines else None
    except ValueError:
        answer = None
    if proc.returncode in (0, 1) and isinstance(answer, dict) and ("error" in answer) == (proc.returncode == 1):
        return answer
    how = f"was killed by signal {-proc.returncode}" if proc.returncode < 0 else f"exited with status {proc.returncode}"
    return {"error": {"type": "Runner.Crashed", "message": f"the flow's process {how} without answering (out of memory, os._exit or a signal); its output is in the execution's log", "traceback": "", "details": {}}}


def _signal_session(pid: int, sig: int) -> None:
    """Signal every process of the session pid leads (its process group)."""
    with contextlib.suppress(OSError):
        os.killpg(pid, sig)


def failed_with(error: dict[str, Any]) -> RunFailed:
    """The RunFailed the handler raises for an error answer: a class named
    after its type, carrying it cut to fit a Step Functions cause."""
    error = fit_error(error, MAX_LAMBDA_ERROR_CHARS)
    cls = type(error["type"], (RunFailed,), {"__module__": __name__, "__qualname__": error["type"]})
    return cls(error)


def fit_error(error: dict[str, Any], limit: int) -> dict[str, Any]:
    """error with its runner traceback, then its traceback, then its message
    cut until str(RunFailed(error)), JSON-encoded once more (as Lambda's
    report holds it), is at most limit characters."""
    error = dict(error, details=dict(error.get("details") or {}))

    def size() -> int:
        return len(json.dumps(str(RunFailed(error))))

    fields = [(error["details"], "runner_traceback", True), (error, "traceback", True), (error, "message", False)]
    for holder, key, keep_end in fields:
        over = size() - limit
        while over > 0 and holder.get(key):
            text = holder[key]
            # A quarter more than the overflow, as escaping grows some
            # characters; always shorter, so this ends.
            cut = _cut(text, (len(text) - over) * 3 // 4, keep_end)
            holder[key] = cut if len(cut) < len(text) else ""
            over = size() - limit
    return error


def _cut(text: str, keep: int, keep_end: bool = True) -> str:
    """text, or its last (keep_end) or first keep characters with a note of the cut."""
    if len(text) <= keep:
        return text
    if keep <= 0:
        return ""
    if keep_end:
        return f"[{len(text) - keep} characters cut]\n" + text[-keep:]
    return text[:keep] + f" [{len(text) - keep} characters cut]"


# ---------------------------------------------------------------------------
# The process protocol


@contextlib.contextmanager
def _stdout_to_stderr() -> Iterator[None]:
    """Send everything written to stdout (Python, C code, child processes) to
    stderr, so stdout carries only the answer."""
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        with contextlib.suppress(Exception):
            sys.stderr.flush()
        os.dup2(saved, 1)
        os.close(saved)


# The last failure run described, with the exception it describes: see
# _remember_failure.
_failure: Optional[tuple[BaseException, dict[str, Any]]] = None


def _remember_failure(exc: BaseException, root: str) -> None:
    global _failure
    _failure = (exc, describe_failure(exc, root))


def error_document(exc: BaseException) -> dict[str, Any]:
    """The error answer {"error": {type, message, traceback, details}} for exc.

    traceback starts at the user's code (describe_failure); details.runner_traceback
    is the full one. An exception run described keeps that description, made
    while the bundle's files existed.
    """
    global _failure
    remembered, _failure = _failure, None
    if remembered is not None and remembered[0] is exc:
        return {"error": remembered[1]}
    return {"error": describe_failure(exc)}


def describe_failure(exc: BaseException, root: Optional[str] = None) -> dict[str, Any]:
    """exc's type, message, the traceback a user reads and the full one.

    The user's traceback keeps each chained exception (__cause__ and
    __context__) and drops, in each, the frames before the first frame of the
    user's code and every frame of the runner or the kitaru package it ships;
    files under root are named relative to it. With no frame of the user's
    code anywhere (the runner failed before running it), it is the full one.
    """
    import traceback

    full = "".join(traceback.TracebackException(type(exc), exc, exc.__traceback__).format())
    user = traceback.TracebackException(type(exc), exc, exc.__traceback__)
    shown = "".join(user.format()) if _keep_user_frames(user, root) else full
    return {
        "type": type(exc).__name__,
        "message": str(exc),
        "traceback": _cut(shown, MAX_TRACEBACK_CHARS),
        "details": {"runner_traceback": _cut(full, MAX_TRACEBACK_CHARS)},
    }


def _keep_user_frames(te: Any, root: Optional[str]) -> bool:
    """Filter the stack of te and of every exception chained to it in place,
    as describe_failure says; whether any user frame is left."""
    import traceback

    real_root = os.path.realpath(root) + os.sep if root else None
    found = False
    seen: set[int] = set()
    pending = [te]
    while pending:
        t = pending.pop()
        if t is None or id(t) in seen:
            continue
        seen.add(id(t))
        kept = []
        for frame in t.stack:
            real = os.path.realpath(frame.filename) if os.path.isabs(frame.filename) else frame.filename
            internal = real == _INTERNAL_FILE or real.startswith(_INTERNAL_DIR)
            # Before the first user frame: also <frozen importlib…> and the like.
            if internal or (not kept and not os.path.isabs(frame.filename)):
                continue
            if real_root is not None and real.startswith(real_root):
                frame.filename = real[len(real_root):].replace(os.sep, "/")
            kept.append(frame)
        found = found or bool(kept)
        t.stack = traceback.StackSummary.from_list(kept)
        pending += [t.__cause__, t.__context__, *(getattr(t, "exceptions", None) or [])]
    return found


def _raise_terminated(signum: int, frame: Any) -> None:
    raise Terminated(f"the runner got signal {signum}")


def main(stdin: Any = None, stdout: Any = None) -> int:
    """Read the event from stdin, print one JSON answer on stdout; 0 on success, 1 on failure."""
    stdin = stdin if stdin is not None else sys.stdin
    # A graceful stop (SIGTERM) still cleans the temp dir and answers.
    signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        with _stdout_to_stderr():
            try:
                raw = json.load(stdin)
            except ValueError as exc:
                raise InvalidEvent(f"stdin is not a JSON document: {exc}") from exc
            answer = run(raw)
        code = 0
    except (Exception, SystemExit, Terminated) as exc:
        answer = error_document(exc)
        code = 1
    out = stdout if stdout is not None else sys.stdout
    # ASCII, so the answer survives any locale's stdout encoding.
    out.write(json.dumps(answer, separators=(",", ":")))
    out.write("\n")
    out.flush()
    return code


if __name__ == "__main__":
    exit_code = main()
    with contextlib.suppress(Exception):
        sys.stderr.flush()
    # os._exit: a thread the flow left running must not keep the process (and
    # the execution) alive after the answer is written.
    os._exit(exit_code)
