"""A run's secrets reach the flow's environment through the run object, for
that run only, and never in a message (docs/secrets.md); as a Lambda, the
flow's process has exactly the documented minimal environment and cannot read
the Lambda's own (its credentials among them) from /proc."""

import importlib.util
import json
import os
import subprocess
import sys
import unittest

from test_runner import RunnerTestCase, bundle_of

ENV_FLOW = {
    "flows/env.py": "import os\n\ndef env(name='OPENAI_API_KEY'):\n    return {'value_len': len(os.environ.get(name, '')), 'has': name in os.environ}\n",
    "flows/dump.py": """import os


def read_environ(path):
    try:
        with open(path, 'rb') as f:
            return sorted(e.split(b'=', 1)[0].decode() for e in f.read().split(b'\\0') if e)
    except OSError as exc:
        return type(exc).__name__


def dump():
    return {
        'environ': dict(os.environ),
        'proc_self': read_environ('/proc/self/environ'),
        'proc_parent': read_environ(f'/proc/{os.getppid()}/environ'),
        'parent_mem': read_environ(f'/proc/{os.getppid()}/mem'),
    }
""",
}
VALUE = "sk-runner-leakcheck-c0ffee"
# What Lambda puts in the runtime's environment, fake values.
LAMBDA_ENV = {
    "AWS_ACCESS_KEY_ID": "ASIAFAKELEAKCHECK0001", "AWS_SECRET_ACCESS_KEY": "fake-secret-leakcheck-9f8e7d",
    "AWS_SESSION_TOKEN": "fake-token-leakcheck-1a2b3c", "AWS_LAMBDA_FUNCTION_NAME": "Kitaru-RunnerFunction",
    "AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9001", "_HANDLER": "runner.handler", "LAMBDA_TASK_ROOT": "/var/task",
    "LANG": "en_US.UTF-8", "TZ": ":UTC",
}
# The Lambda runtime's part: import the handler's module and call it once.
LAMBDA_PROCESS = """
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("runner", sys.argv[1])
runner = importlib.util.module_from_spec(spec)
spec.loader.exec_module(runner)
print(json.dumps(runner.handler(json.loads(sys.stdin.read()), None)))
"""


class RunnerSecretsTest(RunnerTestCase):
    @classmethod
    def setUpClass(cls) -> None:
        super().setUpClass()
        spec = importlib.util.spec_from_file_location("kitaru_runner_secrets_under_test", os.path.join(cls.runner_dir, "runner.py"))
        cls.runner = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(cls.runner)
        cls.env_bundle = cls.server.put_bundle(bundle_of(ENV_FLOW))

    def test_the_flow_sees_its_secrets_and_the_next_run_does_not(self):
        ev = self.event(self.env_bundle, "flows/env.py:env", run=self.run_ref("one", secrets={"OPENAI_API_KEY": VALUE}))
        self.assertEqual(self.runner.handler(ev, None), {"result": {"value_len": len(VALUE), "has": True}})
        ev = self.event(self.env_bundle, "flows/env.py:env")
        self.assertEqual(self.runner.handler(ev, None), {"result": {"value_len": 0, "has": False}})

    def test_as_a_lambda_the_flow_sees_only_the_minimal_environment_and_its_secrets(self):
        ev = self.event(self.env_bundle, "flows/dump.py:dump", run=self.run_ref("dump", secrets={"OPENAI_API_KEY": VALUE}))
        env = {"PATH": os.environ["PATH"], **LAMBDA_ENV}
        # Lambda runs functions as an unprivileged user; root could read any
        # process's /proc files whatever the runner does.
        user, python = {}, sys.executable
        if os.geteuid() == 0:
            python = "/usr/bin/python3"  # outside root's home
            if not os.access(python, os.X_OK):
                self.skipTest("running as root needs /usr/bin/python3 to drop to an unprivileged user")
            user = {"user": 65534, "group": 65534, "extra_groups": []}
            for d in (self.tmp, self.runner_dir):
                os.chmod(d, 0o755)
        proc = subprocess.run([python, "-c", LAMBDA_PROCESS, os.path.join(self.runner_dir, "runner.py")],
                              input=json.dumps(ev), capture_output=True, text=True, env=env, timeout=60, cwd="/", **user)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        got = json.loads(proc.stdout)["result"]
        allowed = set(self.runner.FLOW_ENVIRONMENT) | {"LD_LIBRARY_PATH"}
        self.assertEqual(got["environ"]["OPENAI_API_KEY"], VALUE)
        self.assertEqual(sorted(set(got["environ"]) - allowed), ["OPENAI_API_KEY"], "os.environ")
        self.assertEqual((got["environ"]["LANG"], got["environ"]["TZ"]), ("en_US.UTF-8", ":UTC"), "the locale and time zone pass")
        if sys.platform.startswith("linux"):
            self.assertIsInstance(got["proc_self"], list)
            self.assertEqual(sorted(set(got["proc_self"]) - allowed), [], "/proc/self/environ")
            self.assertEqual(got["proc_parent"], "PermissionError", "the Lambda runtime's /proc/<pid>/environ")
            self.assertEqual(got["parent_mem"], "PermissionError", "the Lambda runtime's memory")
        for value in LAMBDA_ENV.values():
            if "leakcheck" in value:
                self.assertNotIn(value, proc.stdout)

    def test_unreadable_or_malformed_run_objects_fail_without_quoting_them(self):
        for name, ref in {
            "expired": {"url": self.server.url("/run-secrets/missing.json")},
            "not names": self.run_ref("bad", secrets={"lower": VALUE}),
            "not strings": self.run_ref("num", secrets={"A": 1}),
        }.items():
            with self.subTest(name), self.assertRaises(self.runner.RunFailed) as cm:
                self.runner.handler(self.event(self.env_bundle, "flows/env.py:env", run=ref), None)
            err = json.loads(str(cm.exception))["error"]
            self.assertEqual(err["type"], "RunObjectUnavailable")
            self.assertNotIn(VALUE, str(cm.exception))

    def test_run_must_be_an_object_with_a_url(self):
        with self.assertRaises(self.runner.RunFailed) as cm:
            self.runner.handler(self.event(self.env_bundle, "flows/env.py:env", run="x"), None)
        self.assertIn("run must be an object", str(cm.exception))


if __name__ == "__main__":
    unittest.main()
