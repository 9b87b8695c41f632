"""A minimal PEP 517 / PEP 660 build backend for the kitaru package, stdlib only.

pyproject.toml names it with ``backend-path = ["_build"]`` and ``requires = []``,
so ``pip install ./sdk/python`` needs nothing from a package index (this
machine has none, and no ``wheel`` package for setuptools' bdist_wheel).

It builds a pure-Python wheel of ``kitaru/*.py`` (the version is read from
``kitaru/__init__.py``, the one place it is written), an sdist, and an editable
wheel (a ``.pth`` file pointing at this directory) for ``pip install -e``.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import re
import tarfile
import zipfile

NAME = "kitaru"
SUMMARY = "Kitaru: deploy, version and invoke durable flows (Python SDK)"
REQUIRES_PYTHON = ">=3.10"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = os.path.join(ROOT, NAME)
# A fixed timestamp for zip members, so the same sources give the same wheel.
ZIP_TIME = (1980, 1, 1, 0, 0, 0)

__all__ = [
    "get_requires_for_build_wheel",
    "get_requires_for_build_sdist",
    "get_requires_for_build_editable",
    "prepare_metadata_for_build_wheel",
    "prepare_metadata_for_build_editable",
    "build_wheel",
    "build_sdist",
    "build_editable",
]


def version() -> str:
    with open(os.path.join(PACKAGE, "__init__.py"), encoding="utf-8") as f:
        m = re.search(r'^__version__\s*=\s*"([^"]+)"', f.read(), re.M)
    if not m:
        raise RuntimeError("kitaru/__init__.py sets no __version__")
    return m.group(1)


def _metadata() -> str:
    readme = ""
    path = os.path.join(ROOT, "README.md")
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            readme = f.read()
    head = (
        "Metadata-Version: 2.1\n"
        f"Name: {NAME}\n"
        f"Version: {version()}\n"
        f"Summary: {SUMMARY}\n"
        f"Requires-Python: {REQUIRES_PYTHON}\n"
        "Description-Content-Type: text/markdown\n"
    )
    return head + "\n" + readme


def _wheel_name() -> str:
    return f"{NAME}-{version()}-py3-none-any.whl"


def _dist_info() -> str:
    return f"{NAME}-{version()}.dist-info"


def _sources() -> list[tuple[str, bytes]]:
    """(archive name, bytes) of the package's modules, sorted."""
    out = []
    for entry in sorted(os.listdir(PACKAGE)):
        if entry.endswith(".py"):
            with open(os.path.join(PACKAGE, entry), "rb") as f:
                out.append((f"{NAME}/{entry}", f.read()))
    return out


def _dist_info_files(editable: bool) -> list[tuple[str, bytes]]:
    wheel = (
        "Wheel-Version: 1.0\n"
        "Generator: kitaru_build\n"
        "Root-Is-Purelib: true\n"
        "Tag: py3-none-any\n"
    )
    files = [
        ("METADATA", _metadata().encode("utf-8")),
        ("WHEEL", wheel.encode("utf-8")),
    ]
    if not editable:
        files.append(("top_level.txt", f"{NAME}\n".encode("utf-8")))
    return [(f"{_dist_info()}/{n}", data) for n, data in files]


def _write_wheel(directory: str, members: list[tuple[str, bytes]]) -> str:
    name = _wheel_name()
    record_name = f"{_dist_info()}/RECORD"
    lines = []
    for arcname, data in members:
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode("ascii")
        lines.append(f"{arcname},sha256={digest},{len(data)}")
    lines.append(f"{record_name},,")
    members = members + [(record_name, ("\n".join(lines) + "\n").encode("utf-8"))]
    os.makedirs(directory, exist_ok=True)
    with zipfile.ZipFile(os.path.join(directory, name), "w", zipfile.ZIP_DEFLATED) as zf:
        for arcname, data in members:
            info = zipfile.ZipInfo(arcname, ZIP_TIME)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
    return name


def _prepare_metadata(directory: str, editable: bool) -> str:
    for arcname, data in _dist_info_files(editable):
        path = os.path.join(directory, *arcname.split("/"))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
    return _dist_info()


def get_requires_for_build_wheel(config_settings=None):
    return []


def get_requires_for_build_sdist(config_settings=None):
    return []


def get_requires_for_build_editable(config_settings=None):
    return []


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    return _prepare_metadata(metadata_directory, editable=False)


def prepare_metadata_for_build_editable(metadata_directory, config_settings=None):
    return _prepare_metadata(metadata_directory, editable=True)


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    return _write_wheel(wheel_directory, _sources() + _dist_info_files(editable=False))


def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    pth = (f"_{NAME}_editable.pth", (ROOT + "\n").encode("utf-8"))
    return _write_wheel(wheel_directory, [pth] + _dist_info_files(editable=True))


def build_sdist(sdist_directory, config_settings=None):
    base = f"{NAME}-{version()}"
    files = ["pyproject.toml", "README.md", "_build/kitaru_build.py"] + [n for n, _ in _sources()]
    os.makedirs(sdist_directory, exist_ok=True)
    name = f"{base}.tar.gz"
    pkg_info = _metadata().encode("utf-8")
    with tarfile.open(os.path.join(sdist_directory, name), "w:gz", format=tarfile.PAX_FORMAT) as tar:
        def add(arcname: str, data: bytes) -> None:
            info = tarfile.TarInfo(f"{base}/{arcname}")
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            tar.addfile(info, io.BytesIO(data))

        add("PKG-INFO", pkg_info)
        for rel in files:
            path = os.path.join(ROOT, *rel.split("/"))
            if os.path.exists(path):
                with open(path, "rb") as f:
                    add(rel, f.read())
    return name
