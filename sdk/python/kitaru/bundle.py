"""Source bundles: the project root as ``kitaru deploy`` archives it.

``find_project_root`` finds the directory holding ``.kitaru/`` (made by
``kitaru init``), ``build_bundle`` archives it as a deterministic gzip'd tar
with the same members as ``pkg/bundle`` (the Go CLI's), and ``git_state``
reads the commit and dirty flag a deploy records. ``Flow.deploy`` imports this
module when it deploys, so running a flow never loads it.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import stat
import subprocess
import tarfile
import typing
from typing import Optional

from kitaru.errors import InvalidArgumentError, PreconditionFailedError

__all__ = ["Bundle", "build_bundle", "find_project_root", "git_state", "PROJECT_DIR", "SKIPPED_DIRS", "SKIPPED_ROOT_PATHS"]

# The directory `kitaru init` creates at the project root.
PROJECT_DIR = ".kitaru"

# Directories never bundled, wherever they are, and paths skipped only at the
# root: the same as `kitaru deploy` (pkg/bundle).
SKIPPED_DIRS = frozenset({".git", "__pycache__", ".venv", "venv", "node_modules"})
SKIPPED_ROOT_PATHS = frozenset({".kitaru/cache"})


class Bundle(typing.NamedTuple):
    """A built source bundle: the gzip'd tar, its ``sha256:<hex>`` digest and size."""

    data: bytes
    digest: str
    size: int


def find_project_root(directory: str) -> str:
    """The nearest directory from ``directory`` upward that holds ``.kitaru/``."""
    d = os.path.abspath(directory)
    while True:
        if os.path.isdir(os.path.join(d, PROJECT_DIR)):
            return d
        parent = os.path.dirname(d)
        if parent == d:
            raise PreconditionFailedError(
                f"no Kitaru project: neither {directory} nor a parent directory holds {PROJECT_DIR}/; "
                "run `kitaru init` in the repository root first"
            )
        d = parent


def build_bundle(root: str) -> Bundle:
    """Archive the project root as a deterministic gzip'd tar.

    Members in path order with zero mtimes and owners, modes 0644 or 0755, and
    a gzip header without name or time, so the same tree always gives the same
    bytes (and digest). Skips ``.git/``, ``__pycache__/``, ``*.pyc``,
    ``.venv/``, ``venv/``, ``node_modules/`` and ``.kitaru/cache/``. Symlinks
    are kept when they point inside the root; one pointing outside, or a
    device, FIFO or socket, is an ``InvalidArgumentError``.
    """
    root = os.path.realpath(root)
    members: list[tuple[str, str, str, Optional[str]]] = []  # (name, path, kind, link target)

    def link_target(path: str, name: str) -> str:
        target = os.readlink(path)
        outside = InvalidArgumentError(
            f"symlink {name} points to {target}, outside the project root {root}; "
            "copy the target into the project or remove the link",
            details={"member": name},
        )
        if os.path.isabs(target):
            resolved = os.path.realpath(target)
            if os.path.commonpath([root, resolved]) != root:
                raise outside
            return os.path.relpath(resolved, os.path.dirname(path)).replace(os.sep, "/")
        lexical = os.path.normpath(os.path.join(os.path.dirname(path), target))
        if os.path.commonpath([root, lexical]) != root:
            raise outside
        return target.replace(os.sep, "/")

    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        keep = []
        for entry in sorted(dirnames + filenames):
            path = os.path.join(dirpath, entry)
            name = os.path.relpath(path, root).replace(os.sep, "/")
            st = os.lstat(path)
            if stat.S_ISLNK(st.st_mode):
                members.append((name, path, "link", link_target(path, name)))
            elif stat.S_ISDIR(st.st_mode):
                if entry in SKIPPED_DIRS or name in SKIPPED_ROOT_PATHS:
                    continue
                keep.append(entry)
                members.append((name + "/", path, "dir", None))
            elif stat.S_ISREG(st.st_mode):
                if not entry.endswith(".pyc"):
                    members.append((name, path, "exec" if st.st_mode & 0o100 else "file", None))
            else:
                raise InvalidArgumentError(
                    f"{path} is a special file (FIFO, socket or device); a source bundle holds only files, "
                    f"directories and symlinks inside the project: move it out of {root}",
                    details={"member": name},
                )
        dirnames[:] = [d for d in dirnames if d in keep]
    members.sort(key=lambda m: m[0])

    raw = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", compresslevel=9, fileobj=raw, mtime=0) as zipped:
        with tarfile.open(fileobj=zipped, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for name, path, kind, target in members:
                info = tarfile.TarInfo(name)
                info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
                if kind == "dir":
                    info.type, info.mode = tarfile.DIRTYPE, 0o755
                    tar.addfile(info)
                elif kind == "link":
                    info.type, info.mode, info.linkname = tarfile.SYMTYPE, 0o777, target or ""
                    tar.addfile(info)
                else:
                    with open(path, "rb") as f:
                        data = f.read()
                    info.mode = 0o755 if kind == "exec" else 0o644
                    info.size = len(data)
                    tar.addfile(info, io.BytesIO(data))
    data = raw.getvalue()
    return Bundle(data, "sha256:" + hashlib.sha256(data).hexdigest(), len(data))


def git_state(root: str) -> tuple[str, bool]:
    """The HEAD commit of the repository holding root and whether root has
    uncommitted changes; ``("", False)`` without git or a repository."""
    try:
        head = subprocess.run(
            ["git", "-C", root, "rev-parse", "HEAD"], capture_output=True, text=True, timeout=30, check=True
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "", False
    try:
        status = subprocess.run(
            ["git", "-C", root, "status", "--porcelain", "--", "."], capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.SubprocessError):
        return head, False
    return head, status.returncode == 0 and bool(status.stdout.strip())
