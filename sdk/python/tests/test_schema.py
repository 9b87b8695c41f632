"""Input schemas read from source (kitaru.signature), and the deploy-time input check.

testdata/schemas/signatures.json is the contract every surface derives for the
flows in testdata/flows/signatures: here the SDK (kitaru.flow.input_schema on
the imported flows) and the script `kitaru deploy` runs (the module's source on
python3's stdin); pkg/cli checks the CLI and MCP deploys against the same file.
"""

import importlib.util
import json
import os
import subprocess
import sys
import unittest
from typing import Optional

from kitaru import InvalidArgumentError, flow, signature
from kitaru.flow import _check_inputs, input_schema

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
FIXTURES = os.path.join(REPO, "testdata", "flows", "signatures", "flows", "signatures.py")
with open(os.path.join(REPO, "testdata", "schemas", "signatures.json"), encoding="utf-8") as _f:
    EXPECTED = {k: v for k, v in json.load(_f).items() if not k.startswith("_")}


def _load_fixtures():
    spec = importlib.util.spec_from_file_location("kitaru_signature_fixtures", FIXTURES)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _script(path: str, name: str) -> tuple[int, dict]:
    """Run kitaru.signature as kitaru deploy does: source on stdin, isolated, no site."""
    with open(signature.__file__, encoding="utf-8") as f:
        source = f.read()
    done = subprocess.run(
        [sys.executable, "-I", "-S", "-", path, name], input=source, capture_output=True, text=True, timeout=60
    )
    return done.returncode, json.loads(done.stdout)


@flow
def typed(name: str, count: int = 1, items: Optional[list[str]] = None, anything=None) -> dict:
    return {}


class SharedContractTest(unittest.TestCase):
    def test_sdk_derives_the_shared_schemas(self):
        module = _load_fixtures()
        for name, want in EXPECTED.items():
            with self.subTest(flow=name):
                self.assertEqual(input_schema(getattr(module, name)), want)
                self.assertEqual(getattr(module, name).input_schema(), want)

    def test_script_derives_the_shared_schemas_without_importing(self):
        for name, want in EXPECTED.items():
            with self.subTest(flow=name):
                rc, answer = _script(FIXTURES, name)
                self.assertEqual((rc, answer), (0, {"found": True, "schema": want}))

    def test_fixture_file_covers_every_flow(self):
        module = _load_fixtures()
        flows = sorted(n for n, v in vars(module).items() if getattr(v, "__kitaru_flow__", False))
        self.assertEqual(flows, sorted(EXPECTED))


class LookupTest(unittest.TestCase):
    def test_missing_function_lists_the_defined_ones(self):
        rc, answer = _script(FIXTURES, "nosuch")
        self.assertEqual(rc, 0)
        self.assertFalse(answer["found"])
        self.assertIn("greet", answer["functions"])

    def test_names_bound_otherwise_exist_without_a_schema(self):
        source = (
            "from kitaru import flow\n"
            "from elsewhere import imported\n"
            "class Klass: pass\n"
            "def impl(x: int): pass\n"
            "wrapped = flow(name='w')(impl)\n"
            "assigned = 3\n"
        )
        self.assertEqual(signature.lookup(source, "wrapped")["schema"]["required"], ["x"])
        for name in ("imported", "Klass", "assigned", "flow"):
            with self.subTest(name=name):
                answer = signature.lookup(source, name)
                self.assertTrue(answer["found"])
                self.assertIsNone(answer["schema"])
                self.assertIn(name, answer["reason"])

    def test_last_binding_wins_and_blocks_count(self):
        source = "def f(a: int): pass\nif True:\n    def f(b: str): pass\ntry:\n    def g(): pass\nexcept ImportError:\n    pass\n"
        self.assertEqual(list(signature.lookup(source, "f")["schema"]["properties"]), ["b"])
        self.assertTrue(signature.lookup(source, "g")["found"])

    def test_nested_functions_are_not_module_level(self):
        self.assertFalse(signature.lookup("def outer():\n    def inner(): pass\n", "inner")["found"])

    def test_star_import_cannot_be_ruled_out(self):
        answer = signature.lookup("from helpers import *\n", "anything")
        self.assertEqual((answer["found"], answer["schema"]), (True, None))

    def test_unparsable_and_unreadable_files_exit_2_naming_the_problem(self):
        bad = os.path.join(self.tmp(), "bad.py")
        with open(bad, "w", encoding="utf-8") as f:
            f.write("def f(:\n")
        rc, answer = _script(bad, "f")
        self.assertEqual(rc, 2)
        self.assertIn("line 1", answer["error"])
        rc, answer = _script(os.path.join(self.tmp(), "missing.py"), "f")
        self.assertEqual(rc, 2)
        self.assertIn("cannot read", answer["error"])

    def tmp(self) -> str:
        import tempfile

        d = tempfile.mkdtemp(prefix="kitaru-sig-")
        self.addCleanup(__import__("shutil").rmtree, d, True)
        return d


class SDKSchemaTest(unittest.TestCase):
    def test_nested_and_lambda_functions_are_found_by_line(self):
        def f(a: int, b: str = "x"):
            pass

        self.assertEqual(input_schema(f)["required"], ["a"])
        self.assertEqual(input_schema(lambda: None), {"type": "object", "properties": {}, "additionalProperties": False})

    def test_required_means_no_default_even_when_optional(self):
        def f(a: Optional[int], b: "int | None", d: int | None = None):
            pass

        s = input_schema(f)
        self.assertEqual(s["required"], ["a", "b"])
        self.assertEqual(s["properties"]["a"], {"type": ["integer", "null"]})

    def test_no_source_gives_no_schema(self):
        self.assertIsNone(input_schema(len))
        namespace: dict = {}
        exec("def made(x: int): pass", namespace)  # no file behind it
        self.assertIsNone(input_schema(namespace["made"]))


class CheckInputsTest(unittest.TestCase):
    def test_accepts_matching_inputs(self):
        _check_inputs("typed", {"name": "x", "count": 2, "items": None, "anything": {"a": 1}}, input_schema(typed))

    def test_no_schema_checks_nothing(self):
        _check_inputs("typed", {"whatever": 1}, None)

    def test_unknown_key_names_it_and_the_parameters(self):
        with self.assertRaises(InvalidArgumentError) as cm:
            _check_inputs("typed", {"nmae": "x"}, input_schema(typed))
        self.assertIn("'nmae'", str(cm.exception))
        self.assertIn("name, count", str(cm.exception))
        self.assertEqual(cm.exception.details, {"key": "nmae"})

    def test_wrong_type_and_non_json(self):
        with self.assertRaisesRegex(InvalidArgumentError, "'count'.*integer"):
            _check_inputs("typed", {"count": "three"}, input_schema(typed))
        with self.assertRaisesRegex(InvalidArgumentError, "not JSON"):
            _check_inputs("typed", {"anything": object()}, input_schema(typed))


if __name__ == "__main__":
    unittest.main()
