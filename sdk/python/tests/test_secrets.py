"""Flow secrets through the SDK against a real `kitaru dev` (no HTTP mocks):
KitaruClient().secrets and Flow.deploy(secrets=[...])."""

import hashlib
import importlib.util
import os
import shutil
import sys
import unittest

from kitaru import InvalidArgumentError, KitaruClient, NotFoundError, Secret, UnprocessableError
from tests.devserver import FLOWS, DevServer, connect, start_server

SERVER: DevServer = None
WORK = ""
RESTORE = None
WAIT = 120
VALUE = "sk-python-leakcheck-9e21"


def setUpModule():
    global SERVER, WORK, RESTORE
    SERVER = start_server()
    WORK, RESTORE = connect(SERVER.url, SERVER.api_key, "kitaru-sdk-secrets-")


def tearDownModule():
    RESTORE()
    SERVER.cleanup()


class SecretsTest(unittest.TestCase):
    def test_set_list_deploy_run_delete(self):
        client = KitaruClient()
        s = client.secrets.set("OPENAI_API_KEY", VALUE)
        self.assertIsInstance(s, Secret)
        self.assertEqual(s.name, "OPENAI_API_KEY")
        self.assertNotIn(VALUE, repr(s))
        self.assertEqual([x.name for x in client.secrets.list()], ["OPENAI_API_KEY"])

        root = os.path.join(WORK, "secrets")
        shutil.copytree(os.path.join(FLOWS, "secrets"), root)
        spec = importlib.util.spec_from_file_location("kitaru_test_secrets", os.path.join(root, "flows", "secrets.py"))
        module = importlib.util.module_from_spec(spec)
        sys.modules["kitaru_test_secrets"] = module
        spec.loader.exec_module(module)

        d = module.environment.deploy(secrets=["OPENAI_API_KEY"])
        self.assertEqual(d.secrets, ["OPENAI_API_KEY"])
        self.assertEqual(client.deployments.get("environment", version=d.version).secrets, ["OPENAI_API_KEY"])
        result = client.deployments.invoke("environment").wait(timeout=WAIT)
        self.assertEqual(result["sha256"], hashlib.sha256(VALUE.encode()).hexdigest())
        self.assertIn("OPENAI_API_KEY", result["names"])

        client.secrets.delete("OPENAI_API_KEY")
        with self.assertRaises(UnprocessableError) as cm:
            client.deployments.invoke("environment")
        self.assertIn("OPENAI_API_KEY", str(cm.exception))
        with self.assertRaises(NotFoundError):
            client.secrets.delete("OPENAI_API_KEY")
        self.assertNotIn(VALUE, SERVER.log())

    def test_reserved_and_invalid_names_are_refused(self):
        client = KitaruClient()
        for name in ("AWS_SECRET_ACCESS_KEY", "lower_case", "PATH"):
            with self.subTest(name=name), self.assertRaises(InvalidArgumentError):
                client.secrets.set(name, VALUE)


if __name__ == "__main__":
    unittest.main()
