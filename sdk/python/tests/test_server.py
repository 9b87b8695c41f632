"""The SDK against a real `kitaru dev` built from this repo (no HTTP mocks).

One server for the module: setUpModule builds and starts it, points
KITARU_SERVER_URL / KITARU_AUTH_TOKEN / KITARU_PROJECT=default at it (and
KITARU_CONFIG_DIR at an empty temp dir), and tearDownModule stops it. Flow
projects are temp copies of testdata/flows; the seed's snippets run verbatim in
fresh interpreters.
"""

import importlib.util
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
import unittest

from kitaru import (
    ConflictError,
    Deployment,
    ExecutionCancelled,
    ExecutionFailed,
    Handle,
    InvalidArgumentError,
    KitaruClient,
    KitaruError,
    NotFoundError,
    PreconditionFailedError,
    UnauthenticatedError,
    UnprocessableError,
    WaitTimeoutError,
)
from tests.devserver import CONNECTION_ENV, FLOWS, SDK_DIR, DevServer, connect, python_env, run_python, start_server

# setUpModule starts it (pyflakes counts a bare annotation as no binding).
SERVER: DevServer = None
WORK = ""
RESTORE = None
WAIT = 120  # seconds any single execution may take here


def setUpModule():
    global SERVER, WORK, RESTORE
    SERVER = start_server()
    WORK, RESTORE = connect(SERVER.url, SERVER.api_key, "kitaru-sdk-work-")


def tearDownModule():
    RESTORE()
    SERVER.cleanup()


def project(name: str, source: str = "behaviours") -> str:
    """A fresh temp copy of testdata/flows/<source>."""
    root = os.path.join(WORK, name)
    shutil.copytree(os.path.join(FLOWS, source), root)
    return root


def load(path: str, name: str):
    """Import a flow file under a unique module name (projects all have a `flows` package)."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def write(root: str, rel: str, code: str) -> str:
    path = os.path.join(root, *rel.split("/"))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(textwrap.dedent(code))
    return path


def check(test: unittest.TestCase, p: subprocess.CompletedProcess) -> str:
    test.assertEqual(p.returncode, 0, f"stdout:\n{p.stdout}\nstderr:\n{p.stderr}\nserver log:\n{SERVER.log()}")
    return p.stdout


class SeedSnippetsTest(unittest.TestCase):
    """The deployments page's Python snippets, verbatim, in order."""

    def test_seed_story(self):
        root = project("research", "research")
        # Producer: deploy v1 (gets default) and invoke the default route.
        out = check(self, run_python(
            'from flows.research import research_agent\n'
            'research_agent.deploy(topic="durable execution")\n'
            'print(research_agent.invoke(topic="serverless routing").wait())\n',
            cwd=root,
        ))
        self.assertEqual(out, "research notes on serverless routing\n")

        # A second plain deploy is v2 and moves default; the pinned snippet runs v2.
        out = check(self, run_python(
            'from flows.research import research_agent\n'
            'research_agent.deploy(topic="durable execution")\n'
            'deployment = research_agent.deployment(version=2)\n'
            'handle = deployment.invoke(topic="pinned run")\n'
            'print(handle.version, handle.wait())\n',
            cwd=root,
        ))
        self.assertEqual(out, "2 research notes on pinned run\n")
        out = check(self, run_python(
            'from flows.research import research_agent\n'
            'research_agent.deployment(version=2).invoke(topic="pinned run")\n'
            'print([d.version for d in research_agent.deployments()], research_agent.deployment().version)\n',
            cwd=root,
        ))
        self.assertEqual(out, "[2, 1] 2\n")

        client = KitaruClient()
        v1 = client.deployments.get("research_agent", version=1)
        self.assertEqual(v1.entrypoint, "flows/research.py:research_agent")
        self.assertEqual(v1.inputs, {"topic": "durable execution"})
        self.assertEqual(v1.snapshot, "kitaru::research_agent::v1")
        self.assertEqual(v1.tags, {})
        self.assertEqual(
            v1.input_schema,
            {"type": "object", "properties": {"topic": {"type": "string"}}, "required": ["topic"], "additionalProperties": False},
        )
        self.assertTrue(v1.source["digest"].startswith("sha256:"))

        # The producer promotes v2 to stable; a consumer in an unrelated
        # directory invokes the route without importing the flow.
        client.deployments.get("research_agent", version=2).add_tag("stable", exclusive=True)
        elsewhere = tempfile.mkdtemp(dir=WORK)
        out = check(self, run_python(
            'from kitaru import KitaruClient\n'
            '\n'
            'handle = KitaruClient().deployments.invoke(\n'
            '    flow="research_agent",\n'
            '    tag="stable",\n'
            '    inputs={"topic": "consumer request"},\n'
            ')\n'
            'print(handle.exec_id)\n'
            'import sys; assert "flows" not in sys.modules and "flows.research" not in sys.modules\n',
            cwd=elsewhere,
        ))
        exec_id = out.strip()
        self.assertRegex(exec_id, r"^ex_[0-9a-z]{26}$")
        self.assertEqual(client.executions.wait(exec_id, timeout=WAIT), "research notes on consumer request")
        got = SERVER.cli("executions", "get", exec_id, env={**os.environ})
        self.assertEqual(got.returncode, 0, got.stderr)
        self.assertIn(exec_id, got.stdout)
        execution = client.executions.get(exec_id)
        self.assertEqual((execution.version, execution.selector, execution.status), (2, {"tag": "stable"}, "completed"))
        self.assertEqual(execution.inputs, {"topic": "consumer request"})


class OutcomesTest(unittest.TestCase):
    """Failure, timeout and cancel through Handle.wait."""

    @classmethod
    def setUpClass(cls):
        root = project("outcomes")
        cls.mod = load(os.path.join(root, "flows", "behaviours.py"), "kitaru_test_behaviours")

    def test_failure_is_a_typed_error_with_the_remote_traceback(self):
        fails = self.mod.fails
        fails.deploy()
        handle = fails.invoke(message="boom on purpose")
        self.assertIsInstance(handle, Handle)
        with self.assertRaises(ExecutionFailed) as cm:
            handle.wait(timeout=WAIT)
        e = cm.exception
        self.assertIsInstance(e, KitaruError)
        self.assertEqual((e.type, e.message), ("ValueError", "boom on purpose"))
        self.assertIn("in fails", e.traceback)
        self.assertIn("ValueError: boom on purpose", e.traceback)
        self.assertIn(handle.exec_id, str(e))
        self.assertIn("ValueError: boom on purpose", str(e))
        self.assertIn("\n  Traceback (most recent call last):", str(e), "str() shows the traceback, indented")
        self.assertIn("in fails", str(e))
        self.assertIn("in fails", e.runner_traceback)
        self.assertIn("runner.py", e.runner_traceback, "the full traceback keeps the runner's frames")
        self.assertNotIn("runner.py", e.traceback)
        self.assertEqual(e.execution.status, "failed")
        self.assertEqual(handle.status, "failed")
        with self.assertRaises(ConflictError):
            handle.cancel()  # it already ended

    def test_timeout_then_cancel(self):
        sleeps = self.mod.sleeps
        sleeps.deploy(seconds=30)
        handle = sleeps.invoke()
        start = time.monotonic()
        with self.assertRaises(WaitTimeoutError) as cm:
            handle.wait(timeout=0.5)
        elapsed = time.monotonic() - start
        self.assertIsInstance(cm.exception, TimeoutError)
        self.assertIsInstance(cm.exception, KitaruError)
        self.assertGreaterEqual(elapsed, 0.5)
        self.assertLess(elapsed, 5)
        self.assertIn(handle.exec_id, str(cm.exception))
        self.assertEqual(handle.status, "running")
        self.assertEqual(handle.cancel().status, "cancelled")
        with self.assertRaises(ExecutionCancelled):
            handle.wait(timeout=WAIT)
        self.assertEqual(handle.cancel().status, "cancelled")  # again: as it is

    def test_quick_run_of_a_float_input(self):
        self.mod.sleeps.deploy(seconds=30)
        self.assertEqual(self.mod.sleeps.invoke(seconds=0.01).wait(timeout=WAIT), {"slept": 0.01})


class InputsTest(unittest.TestCase):
    """Keyword clashes and the input schema the SDK derives at deploy."""

    @classmethod
    def setUpClass(cls):
        root = project("inputs")
        path = write(root, "flows/inputs.py", """
            from typing import Optional

            from kitaru import flow


            @flow
            def routed(tag: str, version: int, inputs: Optional[dict] = None, idempotency_key: str = "") -> dict:
                return {"tag": tag, "version": version, "inputs": inputs, "idempotency_key": idempotency_key}


            @flow
            def typed(name: str, count: int = 1, ratio: float = 0.5, flag: bool = False,
                      items: Optional[list] = None, anything=None) -> dict:
                return {"name": name, "count": count, "ratio": ratio, "flag": flag, "items": items, "anything": anything}
        """)
        cls.mod = load(path, "kitaru_test_inputs")

    def test_inputs_named_like_keywords_go_in_inputs(self):
        routed = self.mod.routed
        d = routed.deploy(tag="clash-route", exclusive=True, inputs={"tag": "t0", "version": 0})
        self.assertIsInstance(d, Deployment)
        self.assertEqual(d.inputs, {"tag": "t0", "version": 0})
        self.assertIn("clash-route", d.tags)
        got = routed.invoke(tag="clash-route", inputs={"tag": "x", "version": 7, "inputs": {"a": 1}}).wait(timeout=WAIT)
        self.assertEqual(got, {"tag": "x", "version": 7, "inputs": {"a": 1}, "idempotency_key": ""})
        got = d.invoke(inputs={"idempotency_key": "k"}).wait(timeout=WAIT)
        self.assertEqual(got, {"tag": "t0", "version": 0, "inputs": None, "idempotency_key": "k"})
        got = routed.invoke(version=d.version, inputs={"version": 3}).wait(timeout=WAIT)
        self.assertEqual(got["version"], 3)
        handle = KitaruClient().deployments.invoke(flow="routed", tag="clash-route", inputs={"tag": "y", "version": 8})
        self.assertEqual(handle.wait(timeout=WAIT)["tag"], "y")
        with self.assertRaisesRegex(TypeError, "both"):
            routed.invoke(inputs={"x": 1}, x=2)

    def test_schema_from_the_signature_checks_invocations(self):
        typed = self.mod.typed
        d = typed.deploy(name="representative")
        self.assertEqual(d.input_schema, typed.input_schema())
        self.assertEqual(d.input_schema["required"], ["name"])
        # Parameters that were not in the deploy-time inputs are accepted: the
        # schema comes from the signature, not from the representative values.
        got = typed.invoke(count=2, ratio=3, flag=True, items=["a"], anything={"k": [1]}).wait(timeout=WAIT)
        self.assertEqual(got, {"name": "representative", "count": 2, "ratio": 3, "flag": True, "items": ["a"], "anything": {"k": [1]}})
        with self.assertRaises(UnprocessableError) as cm:
            typed.invoke(colour="blue")
        self.assertIn('unknown input "colour"', str(cm.exception))
        self.assertEqual(cm.exception.details.get("keys"), ["colour"])
        self.assertEqual((cm.exception.code, cm.exception.status), ("unprocessable", 422))
        with self.assertRaisesRegex(UnprocessableError, '"count"'):
            typed.invoke(count="three")
        with self.assertRaisesRegex(UnprocessableError, '"flag"'):
            typed.invoke(flag="yes")

    def test_sdk_deploys_save_the_shared_schemas(self):
        # The SDK surface of the cross-surface contract: pkg/cli checks the
        # CLI and MCP deploys of the same flows against the same file.
        root = project("signatures", source="signatures")
        module = load(os.path.join(root, "flows", "signatures.py"), "kitaru_test_signatures")
        with open(os.path.join(FLOWS, "..", "schemas", "signatures.json"), encoding="utf-8") as f:
            expected = {k: v for k, v in json.load(f).items() if not k.startswith("_")}
        for name, want in expected.items():
            with self.subTest(flow=name):
                self.assertEqual(getattr(module, name).deploy().input_schema, want)

    def test_deploy_refuses_inputs_the_function_does_not_take(self):
        typed, deps = self.mod.typed, KitaruClient().deployments

        def count():
            try:
                return len(deps.list("typed"))
            except NotFoundError:
                return 0

        before = count()
        with self.assertRaisesRegex(InvalidArgumentError, "'nmae'"):
            typed.deploy(nmae="x")
        with self.assertRaisesRegex(InvalidArgumentError, "'count'.*integer"):
            typed.deploy(name="x", count="many")
        self.assertEqual(count(), before)  # nothing was sent


class ClientTest(unittest.TestCase):
    """KitaruClient().deployments and .executions on a flow of their own."""

    @classmethod
    def setUpClass(cls):
        root = project("client")
        path = write(root, "flows/echo.py", """
            from kitaru import flow


            @flow
            def echo(value: str = "x") -> str:
                return value


            @flow
            def shout(value: str = "x") -> str:
                return value.upper()


            @flow
            def doomed(value: str = "x") -> str:
                return value


            @flow
            def watched(value: str = "x") -> str:
                if value == "boom":
                    raise ValueError("boom")
                return value


            @flow
            def pruned(value: str = "x") -> str:
                return value
        """)
        cls.mod = load(path, "kitaru_test_echo")
        cls.client = KitaruClient()

    def test_routes_history_rollback_delete(self):
        echo, deps = self.mod.echo, self.client.deployments
        self.assertEqual(echo.deploy().tags, {"default": True})
        self.assertEqual(echo.deploy(tag="canary", exclusive=True).version, 2)
        v3 = echo.deploy(tag="benchmark", value="v3")
        self.assertEqual((v3.version, v3.tags), (3, {"benchmark": False}))
        self.assertEqual([d.version for d in deps.list("echo")], [3, 2, 1])
        self.assertEqual(len(deps.list("echo", limit=2)), 2)
        self.assertEqual(deps.get("echo").version, 1)
        self.assertEqual(deps.get("echo", tag="canary").version, 2)

        t = deps.tag("echo", "stable", version=2, exclusive=True)
        self.assertEqual((t.exclusive, t.versions), (True, [2]))
        t = deps.tag("echo", "stable", version=3, exclusive=True, if_revision=t.revision)
        self.assertEqual(t.versions, [3])
        with self.assertRaises(PreconditionFailedError):
            deps.tag("echo", "stable", version=1, exclusive=True, if_revision=t.revision - 1)
        history = deps.history("echo", "stable")
        self.assertEqual([(h.action, h.from_version, h.to_version) for h in history], [("move", 2, 3), ("move", None, 2)])
        self.assertEqual(deps.rollback("echo", "stable").versions, [2])
        self.assertEqual(deps.history("echo", "stable", limit=1)[0].action, "rollback")

        with self.assertRaises(ConflictError) as cm:
            deps.untag("echo", "default", version=1)
        self.assertEqual(cm.exception.status, 409)
        with self.assertRaises(ConflictError) as cm:
            deps.get("echo", version=1).delete()
        self.assertIn("default", str(cm.exception))

        d3 = deps.get("echo", version=3)
        d3.add_tag("team-a")
        self.assertEqual(deps.get("echo", version=3).tags, {"benchmark": False, "team-a": False})
        d3.remove_tag("team-a")
        self.assertNotIn("team-a", d3.refresh().tags)
        d3.delete()
        with self.assertRaises(NotFoundError) as cm:
            deps.get("echo", version=3)
        self.assertIn("echo", str(cm.exception))
        self.assertEqual(cm.exception.code, "not_found")

    def test_split_routes_by_weight_and_sticky_key(self):
        shout, deps = self.mod.shout, self.client.deployments
        shout.deploy()
        shout.deploy()
        t = deps.split("shout", "live", {1: 90, 2: 10})
        self.assertEqual((t.exclusive, t.versions, t.split), (True, [1, 2], {1: 90, 2: 10}))
        with self.assertRaises(InvalidArgumentError) as cm:
            deps.split("shout", "live", {1: 90, 2: 20})
        self.assertEqual(cm.exception.details.get("reason"), "invalid_split")

        picked = {shout.deployment(tag="live", sticky_key="user-%d" % i).version for i in range(40)}
        self.assertEqual(picked, {1, 2})
        for i in range(5):
            first = shout.deployment(tag="live", sticky_key="user-7").version
            self.assertEqual(deps.get("shout", tag="live", sticky_key="user-7").version, first)
        h = shout.invoke(tag="live", sticky_key="user-7", value="hi")
        self.assertEqual((h.version, h.execution.route_revision), (first, t.revision))
        self.assertEqual(h.wait(timeout=WAIT), "HI")

        deps.tag("shout", "live", version=2, exclusive=True)
        last = deps.history("shout", "live", limit=1)[0]
        self.assertEqual((last.from_split, last.to_version), ({1: 90, 2: 10}, 2))
        self.assertEqual(deps.rollback("shout", "live").split, {1: 90, 2: 10})

    def test_delete_flow(self):
        doomed, deps = self.mod.doomed, self.client.deployments
        doomed.deploy()
        doomed.deploy(tag="stable", exclusive=True)
        h = deps.invoke("doomed", tag="stable", inputs={"value": "kept"})
        self.assertEqual(h.wait(timeout=WAIT), "kept")
        with self.assertRaises(ConflictError) as cm:
            deps.delete_flow("doomed")
        self.assertEqual(cm.exception.details.get("reason"), "flow_has_routes")
        self.assertIn("stable", str(cm.exception))
        gone = deps.delete_flow("doomed", force=True)
        self.assertEqual((gone["versions"], gone["tags"], gone["forced"], gone["next_version"]),
                         ([1, 2], {"default": [1], "stable": [2]}, True, 3))
        with self.assertRaises(NotFoundError):
            deps.get("doomed")
        self.assertEqual(self.client.executions.get(h.exec_id).result, "kept")
        kept = self.client.executions.list("doomed", tag="stable", status="completed", since="1h")
        self.assertEqual([e.exec_id for e in kept], [h.exec_id])
        self.assertEqual(self.client.executions.list("doomed", version=1), [])
        with self.assertRaises(InvalidArgumentError):
            self.client.executions.list("doomed", status="done")
        self.assertEqual(doomed.deploy().version, 3)

    def test_flow_status(self):
        watched, deps = self.mod.watched, self.client.deployments
        watched.deploy()
        watched.deploy(tag="canary", exclusive=True)
        self.assertEqual(deps.invoke("watched", tag="canary").wait(timeout=WAIT), "x")
        failed = deps.invoke("watched", tag="canary", inputs={"value": "boom"})
        with self.assertRaises(ExecutionFailed):
            failed.wait(timeout=WAIT)
        st = deps.flow_status("watched", since="1h")
        rows = [(r["version"], r["tags"], r["started"], r["completed"], r["failed"]) for r in st["versions"]]
        self.assertEqual(rows, [(2, ["canary"], 2, 1, 1), (1, ["default"], 0, 0, 0)])
        canary = st["versions"][0]
        self.assertEqual((canary["last_failure"]["exec_id"], canary["last_failure"]["type"]), (failed.exec_id, "ValueError"))
        self.assertGreaterEqual(canary["p95_seconds"], canary["p50_seconds"])
        self.assertNotIn("p50_seconds", st["versions"][1])
        self.assertFalse(st["sampled"])
        self.assertEqual([r["version"] for r in deps.flow_status("watched", tag="default")["versions"]], [1])
        with self.assertRaises(InvalidArgumentError) as cm:
            deps.flow_status("watched", since="yesterday")
        self.assertEqual(cm.exception.details.get("reason"), "since_invalid")
        with self.assertRaises(InvalidArgumentError) as cm:
            deps.flow_status("watched", since="721h")
        self.assertEqual(cm.exception.details.get("reason"), "since_out_of_range")
        with self.assertRaises(NotFoundError):
            deps.flow_status("nobody")

    def test_prune(self):
        pruned, deps = self.mod.pruned, self.client.deployments
        for _ in range(3):
            pruned.deploy()
        deps.tag("pruned", "pinned", version=1)
        plan = deps.prune("pruned", keep=1, dry_run=True)
        self.assertEqual(([d["version"] for d in plan["deleted"]], plan["dry_run"]), ([2], True))
        self.assertEqual([(k["version"], k["reason"]) for k in plan["kept"]], [(1, "routed"), (3, "routed")])
        self.assertEqual(deps.prune("pruned", keep=1, older_than="30d")["deleted"], [])
        done = deps.prune("pruned", keep=1)
        self.assertEqual([d["version"] for d in done["deleted"]], [2])
        # Every version bundled the same project, and versions 1 and 3 still use it.
        self.assertEqual([(b["deleted"], b["reason"]) for b in done["bundles"]], [(False, "shared")])
        with self.assertRaises(NotFoundError):
            deps.get("pruned", version=2)
        with self.assertRaises(InvalidArgumentError):
            deps.prune("pruned", keep=0)
        self.assertEqual(pruned.deploy().version, 4)

    def test_executions_and_idempotency(self):
        self.mod.shout.deploy()
        h1 = self.client.deployments.invoke("shout", inputs={"value": "hi"}, idempotency_key="same-key")
        h2 = self.client.deployments.invoke("shout", inputs={"value": "hi"}, idempotency_key="same-key")
        self.assertEqual(h1.exec_id, h2.exec_id)
        self.assertEqual(self.client.executions.wait(h1.exec_id, timeout=WAIT), "HI")
        got = self.client.executions.get(h1.exec_id)
        self.assertEqual((got.status, got.result, got.idempotency_key), ("completed", "HI", "same-key"))
        self.assertEqual(self.client.executions.handle(h1.exec_id).wait(), "HI")
        self.assertIn(h1.exec_id, [e.exec_id for e in self.client.executions.list("shout")])
        with self.assertRaises(ConflictError):
            self.client.executions.cancel(h1.exec_id)
        with self.assertRaises(NotFoundError):
            self.client.executions.get("ex_" + "0" * 26)

    def test_unknown_flow_and_bad_credentials(self):
        with self.assertRaises(NotFoundError) as cm:
            self.client.deployments.get("no_such_flow", tag="stable")
        self.assertIn("no_such_flow", cm.exception.message)
        with self.assertRaises(NotFoundError):
            self.client.deployments.invoke("no_such_flow")
        with self.assertRaises(InvalidArgumentError):
            self.client.deployments.get("echo", version=1, tag="x")
        with self.assertRaises(UnauthenticatedError) as cm:
            KitaruClient(token="kat_not_a_real_key").status()
        self.assertEqual(cm.exception.status, 401)
        status = self.client.status()
        self.assertEqual((status["project"], status["role"]), ("default", "producer"))


class DiffTest(unittest.TestCase):
    """KitaruClient().deployments.diff between two deployed versions."""

    def test_diff_of_two_versions(self):
        root = project("diff")
        path = write(root, "flows/greet.py", """
            from kitaru import flow


            @flow
            def greet(name: str = "world") -> str:
                return f"hello {name}"
        """)
        load(path, "kitaru_test_diff_v1").greet.deploy()
        write(root, "flows/greet.py", """
            from kitaru import flow


            @flow
            def greet(name: str = "world", punctuation: str = "!") -> str:
                return f"hello {name}{punctuation}"
        """)
        load(path, "kitaru_test_diff_v2").greet.deploy(tag="stable", exclusive=True)
        deps = KitaruClient().deployments

        d = deps.diff("greet", 1, "stable")
        self.assertEqual((d["from"]["version"], d["to"]["version"], d["to"]["tag"], d["identical"]), (1, 2, "stable", False))
        params = {p["name"]: p for p in d["input_schema"]["parameters"]}
        self.assertEqual(params["punctuation"]["change"], "added")
        self.assertEqual(params["punctuation"]["to"]["default_value"], "!")
        files = {f["path"]: f for f in d["source"]["files"]}
        self.assertIn('+def greet(name: str = "world", punctuation: str = "!") -> str:\n', files["flows/greet.py"]["diff"])

        narrowed = deps.diff("greet", 1, 2, path="flows/greet.py")
        self.assertEqual([f["path"] for f in narrowed["source"]["files"]], ["flows/greet.py"])
        self.assertTrue(deps.diff("greet", "stable", 2)["identical"])
        with self.assertRaises(NotFoundError) as cm:
            deps.diff("greet", 1, "nightly")
        self.assertEqual(cm.exception.details.get("reason"), "tag_not_found")
        with self.assertRaises(InvalidArgumentError):
            deps.diff("greet", 1, "01")


class LargeBundleTest(unittest.TestCase):
    """Projects over 4 MiB go through POST /v1/artifacts and the presigned PUT."""

    def test_large_project_uploads_through_artifacts(self):
        root = project("large")
        with open(os.path.join(root, "blob.bin"), "wb") as f:
            f.write(random.Random(7).randbytes(5 << 20))  # incompressible
        path = write(root, "flows/big.py", """
            import os

            from kitaru import flow


            @flow
            def big() -> int:
                return os.path.getsize(os.path.join(os.path.dirname(__file__), "..", "blob.bin"))
        """)
        big = load(path, "kitaru_test_big").big
        d = big.deploy()
        self.assertGreater(d.source["size"], 4 << 20)
        self.assertEqual(big.invoke().wait(timeout=WAIT), 5 << 20)
        again = big.deploy()  # the same bytes: the server already has them
        self.assertEqual(again.source["digest"], d.source["digest"])


class SameConnectionAsTheCLITest(unittest.TestCase):
    """What `kitaru login` saves is what KitaruClient() reads."""

    def test_login_then_sdk_without_env(self):
        for name, extra in (("explicit", {}), ("xdg", {"XDG_CONFIG_HOME": None})):
            with self.subTest(name):
                home = tempfile.mkdtemp(dir=WORK)
                env = {k: v for k, v in os.environ.items() if k not in CONNECTION_ENV}
                if name == "explicit":
                    env["KITARU_CONFIG_DIR"] = home
                else:
                    env["XDG_CONFIG_HOME"] = os.path.join(home, "xdg")
                    env["HOME"] = home
                p = SERVER.cli("login", SERVER.url, "--api-key", SERVER.api_key, "--project", "default", env=env)
                self.assertEqual(p.returncode, 0, p.stderr)
                code = (
                    "import kitaru\n"
                    "c = kitaru.KitaruClient()\n"
                    "print(c.status()['project'], c.connection.sources['auth_token'], kitaru.config_path())\n"
                )
                overrides = {k: None for k in CONNECTION_ENV}
                overrides.update({k: v for k, v in env.items() if k in ("KITARU_CONFIG_DIR", "XDG_CONFIG_HOME", "HOME")})
                out = check(self, run_python(code, cwd=home, env=python_env(**overrides)))
                project_, source, path = out.split()
                self.assertEqual((project_, source), ("default", "file"))
                self.assertTrue(path.startswith(home), path)


class PipInstallTest(unittest.TestCase):
    """`pip install ./sdk/python` works offline into a fresh venv, and the
    acceptance snippets run with it (no PYTHONPATH), the consumer from an
    unrelated directory. A server of its own, so research_agent starts at v1."""

    def setUp(self):
        self.server = DevServer(bin=SERVER.bin)
        self.addCleanup(self.server.cleanup)
        self.server.start()

    def test_install_offline_and_run_the_acceptance(self):
        venv = os.path.join(WORK, "venv")
        subprocess.run([sys.executable, "-m", "venv", venv], check=True, timeout=300)
        py = os.path.join(venv, "bin", "python")
        env = self.server.env({k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
        env.update(PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1", PYTHONDONTWRITEBYTECODE="1")
        p = subprocess.run([py, "-m", "pip", "install", SDK_DIR], capture_output=True, text=True, env=env, timeout=300)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        for d in ("build", "dist", "kitaru.egg-info"):
            self.assertFalse(os.path.exists(os.path.join(SDK_DIR, d)), f"pip left {d} in the source tree")

        root = project("installed", "research")
        out = check(self, run_python(
            'from flows.research import research_agent; research_agent.deploy(topic="durable execution");'
            'print(research_agent.invoke(topic="serverless routing").wait())\n'
            'import kitaru; print(kitaru.__file__)\n',
            cwd=root, env=env, python=py,
        ))
        result, where = out.splitlines()
        self.assertEqual(result, "research notes on serverless routing")
        self.assertTrue(where.startswith(venv), where)

        client = KitaruClient(server_url=self.server.url, token=self.server.api_key)
        client.deployments.tag("research_agent", "stable", version=1, exclusive=True)
        elsewhere = tempfile.mkdtemp(dir=WORK)
        out = check(self, run_python(
            'from kitaru import KitaruClient\n'
            'handle = KitaruClient().deployments.invoke(flow="research_agent", tag="stable", inputs={"topic": "consumer request"})\n'
            'print(handle.exec_id)\n',
            cwd=elsewhere, env=env, python=py,
        ))
        exec_id = out.strip()
        got = self.server.cli("executions", "get", exec_id, env=env)
        self.assertEqual(got.returncode, 0, got.stderr)
        self.assertIn(exec_id, got.stdout)
        self.assertEqual(client.executions.wait(exec_id, timeout=WAIT), "research notes on consumer request")


if __name__ == "__main__":
    unittest.main()
