"""Source bundles: deterministic, the same skips as `kitaru deploy`, safe symlinks."""

import gzip
import io
import os
import shutil
import tarfile
import tempfile
import time
import unittest

from kitaru import InvalidArgumentError, PreconditionFailedError, flow
from kitaru.flow import build_bundle, find_project_root
from tests.devserver import FLOWS


class BundleTest(unittest.TestCase):
    def setUp(self):
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        self.root = os.path.join(tmp.name, "research")
        shutil.copytree(os.path.join(FLOWS, "research"), self.root)

    def members(self, data):
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            return {m.name: m for m in tar.getmembers()}

    def put(self, rel, content=b"x", mode=0o644):
        path = os.path.join(self.root, *rel.split("/"))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(content)
        os.chmod(path, mode)
        return path

    def test_same_tree_same_bytes(self):
        first = build_bundle(self.root)
        self.assertTrue(first.digest.startswith("sha256:"))
        self.assertEqual(first.size, len(first.data))
        later = time.time() + 3600
        for d, _, files in os.walk(self.root):
            for f in files:
                os.utime(os.path.join(d, f), (later, later))
        self.assertEqual(build_bundle(self.root), first)
        self.put("flows/extra.py", b"# changed\n")
        self.assertNotEqual(build_bundle(self.root).digest, first.digest)

    def test_members_modes_and_header(self):
        self.put("tool.sh", b"#!/bin/sh\n", 0o700)
        b = build_bundle(self.root)
        m = self.members(b.data)
        self.assertEqual(
            sorted(m),
            [".kitaru", ".kitaru/.keep", "flows", "flows/notes.py", "flows/research.py", "tool.sh"],
        )
        self.assertEqual(m["tool.sh"].mode, 0o755)
        self.assertEqual(m["flows/notes.py"].mode, 0o644)
        self.assertTrue(m["flows"].isdir())
        for info in m.values():
            self.assertEqual((info.mtime, info.uid, info.gid, info.uname, info.gname), (0, 0, 0, "", ""))
        # gzip header: no name, no time.
        self.assertEqual(b.data[4:8], b"\0\0\0\0")
        self.assertEqual(b.data[3] & 0x08, 0)
        self.assertEqual(gzip.decompress(b.data)[:5], b".kita")

    def test_skips_like_the_cli(self):
        for rel in (".git/HEAD", "flows/__pycache__/x.cpython-311.pyc", "flows/stale.pyc", ".venv/bin/python",
                    "venv/lib/x.py", "node_modules/a/index.js", ".kitaru/cache/blob", "sub/.git/config"):
            self.put(rel)
        self.put(".kitaru/config.json", b"{}")
        self.put("sub/cache/.kitaru_not_root", b"")
        names = set(self.members(build_bundle(self.root).data))
        self.assertIn(".kitaru/config.json", names)
        self.assertIn("sub/cache/.kitaru_not_root", names)
        for skipped in (".git", "flows/__pycache__", "flows/stale.pyc", ".venv", "venv", "node_modules",
                        ".kitaru/cache", "sub/.git"):
            self.assertFalse({n for n in names if n == skipped or n.startswith(skipped + "/")}, skipped)

    def test_symlinks_inside_kept_outside_refused(self):
        os.symlink("notes.py", os.path.join(self.root, "flows", "alias.py"))
        os.symlink(os.path.join(self.root, "flows"), os.path.join(self.root, "abs_flows"))
        m = self.members(build_bundle(self.root).data)
        self.assertEqual(m["flows/alias.py"].linkname, "notes.py")
        self.assertEqual(m["abs_flows"].linkname, "flows")
        os.symlink("/etc/passwd", os.path.join(self.root, "passwd"))
        with self.assertRaisesRegex(InvalidArgumentError, "outside the project root"):
            build_bundle(self.root)

    def test_project_root(self):
        self.assertEqual(find_project_root(os.path.join(self.root, "flows")), os.path.abspath(self.root))
        with tempfile.TemporaryDirectory() as elsewhere:
            with self.assertRaisesRegex(PreconditionFailedError, "kitaru init"):
                find_project_root(elsewhere)

    def test_entrypoint_is_relative_to_the_root(self):
        import importlib.util

        path = self.put("flows/deep/named.py", b"from kitaru import flow\n\n@flow(name='public')\ndef fn(x: int) -> int:\n    return x\n\nalias = fn\n")
        spec = importlib.util.spec_from_file_location("kitaru_test_named", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        root, entrypoint = module.fn._entrypoint()
        self.assertEqual(root, os.path.realpath(self.root))
        self.assertEqual(entrypoint, "flows/deep/named.py:fn")

    def test_a_flow_outside_a_file_cannot_be_deployed(self):
        f = flow(eval("lambda: 1"))
        with self.assertRaisesRegex(InvalidArgumentError, "not in a .py file"):
            f._entrypoint()


if __name__ == "__main__":
    unittest.main()


class UploadHeadersTest(unittest.TestCase):
    """The presigned upload is signed for one SHA-256 and length (POST /v1/artifacts)."""

    def test_bytes_other_than_the_signed_ones_are_refused_before_sending(self):
        import base64
        import hashlib

        from kitaru.client import _check_upload_headers

        data = b"bundle bytes"
        good = {"Content-Length": str(len(data)), "X-Amz-Checksum-Sha256": base64.b64encode(hashlib.sha256(data).digest()).decode()}
        _check_upload_headers(good, data)
        for name, headers in {
            "another checksum": {**good, "X-Amz-Checksum-Sha256": base64.b64encode(bytes(32)).decode()},
            "another length": {**good, "Content-Length": "549"},
        }.items():
            with self.subTest(name), self.assertRaises(InvalidArgumentError):
                _check_upload_headers(headers, data)
