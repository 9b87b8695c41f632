"""The runner hands a run's secrets (fetched through secrets.url) to the flow's
environment for that run only, and never prints them (docs/secrets.md)."""

import importlib.util
import json
import os
import unittest

from test_runner import RunnerTestCase, bundle_of

ENV_FLOW = {
    "flows/env.py": "import os\n\ndef env(name='OPENAI_API_KEY'):\n    return {'value_len': len(os.environ.get(name, '')), 'has': name in os.environ}\n",
}
VALUE = "sk-runner-leakcheck-c0ffee"


class RunnerSecretsTest(RunnerTestCase):
    @classmethod
    def setUpClass(cls) -> None:
        super().setUpClass()
        spec = importlib.util.spec_from_file_location("kitaru_runner_secrets_under_test", os.path.join(cls.runner_dir, "runner.py"))
        cls.runner = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(cls.runner)
        cls.env_bundle = cls.server.put_bundle(bundle_of(ENV_FLOW))

    def secrets_ref(self, name: str, values) -> dict:
        path = f"/run-secrets/{name}.json"
        self.server.blobs[path] = json.dumps(values).encode()
        return {"url": self.server.url(path)}

    def test_the_flow_sees_its_secrets_and_the_next_run_does_not(self):
        os.environ.pop("OPENAI_API_KEY", None)
        ev = self.event(self.env_bundle, "flows/env.py:env", secrets=self.secrets_ref("one", {"OPENAI_API_KEY": VALUE}))
        self.assertEqual(self.runner.handler(ev, None), {"result": {"value_len": len(VALUE), "has": True}})
        self.assertNotIn("OPENAI_API_KEY", os.environ, "a warm runner must not keep a run's secrets")
        ev = self.event(self.env_bundle, "flows/env.py:env")
        self.assertEqual(self.runner.handler(ev, None), {"result": {"value_len": 0, "has": False}})

    def test_a_variable_the_process_had_is_restored(self):
        os.environ["KITARU_TEST_SHADOWED"] = "before"
        try:
            ev = self.event(self.env_bundle, "flows/env.py:env", {"name": "KITARU_TEST_SHADOWED"}, secrets=self.secrets_ref("two", {"KITARU_TEST_SHADOWED": "during"}))
            self.assertEqual(self.runner.handler(ev, None)["result"]["value_len"], len("during"))
            self.assertEqual(os.environ["KITARU_TEST_SHADOWED"], "before")
        finally:
            os.environ.pop("KITARU_TEST_SHADOWED", None)

    def test_unreadable_or_malformed_secrets_fail_without_quoting_them(self):
        for name, ref in {
            "expired": {"url": self.server.url("/run-secrets/missing.json")},
            "not names": self.secrets_ref("bad", {"lower": VALUE}),
            "not strings": self.secrets_ref("num", {"A": 1}),
        }.items():
            with self.subTest(name), self.assertRaises(self.runner.RunFailed) as cm:
                self.runner.handler(self.event(self.env_bundle, "flows/env.py:env", secrets=ref), None)
            err = json.loads(str(cm.exception))["error"]
            self.assertEqual(err["type"], "SecretsUnavailable")
            self.assertNotIn(VALUE, str(cm.exception))

    def test_secrets_must_be_an_object_with_a_url(self):
        with self.assertRaises(self.runner.RunFailed) as cm:
            self.runner.handler(self.event(self.env_bundle, "flows/env.py:env", secrets="x"), None)
        self.assertIn("secrets must be an object", str(cm.exception))



if __name__ == "__main__":
    unittest.main()
