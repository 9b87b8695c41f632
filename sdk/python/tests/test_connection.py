"""The connection is the CLI's: env first, then the config file `kitaru login`
writes; missing pieces name what to set. No server needed (an unreachable one
is a closed local port)."""

import json
import os
import socket
import sys
import tempfile
import unittest
from unittest import mock

import kitaru
from kitaru import ConfigurationError, KitaruClient, UnavailableError, flow
from tests.devserver import run_python, python_env

ENV = ("KITARU_SERVER_URL", "KITARU_AUTH_TOKEN", "KITARU_PROJECT", "KITARU_CONFIG_DIR", "XDG_CONFIG_HOME")


@flow
def research_agent(topic: str) -> str:
    return f"research notes on {topic}"


class ConnectionTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.addCleanup(self.dir.cleanup)
        env = {k: v for k, v in os.environ.items() if k not in ENV}
        env["KITARU_CONFIG_DIR"] = self.dir.name
        patcher = mock.patch.dict(os.environ, env, clear=True)
        patcher.start()
        self.addCleanup(patcher.stop)

    def write_config(self, **values):
        with open(os.path.join(self.dir.name, "config.json"), "w") as f:
            json.dump(values, f)

    def test_nothing_set_names_env_and_login(self):
        with self.assertRaises(ConfigurationError) as cm:
            KitaruClient()
        msg = str(cm.exception)
        for want in ("KITARU_SERVER_URL", "KITARU_AUTH_TOKEN", "kitaru login"):
            self.assertIn(want, msg)
        self.assertIsInstance(cm.exception, kitaru.KitaruError)
        self.assertEqual(cm.exception.code, "precondition_failed")

    def test_flow_verbs_without_a_connection_name_what_to_set(self):
        for call in (lambda: research_agent.invoke(topic="x"), research_agent.deployments,
                     lambda: research_agent.deployment(version=1)):
            with self.assertRaisesRegex(ConfigurationError, "KITARU_SERVER_URL"):
                call()
        # deploy fails on the connection before bundling anything (this file is
        # in no Kitaru project, which would be the next error).
        with self.assertRaisesRegex(ConfigurationError, "KITARU_SERVER_URL"):
            research_agent.deploy(topic="x")

    def test_missing_credential_names_token_env(self):
        os.environ["KITARU_SERVER_URL"] = "http://127.0.0.1:9"
        with self.assertRaises(ConfigurationError) as cm:
            KitaruClient()
        self.assertIn("KITARU_AUTH_TOKEN", str(cm.exception))
        self.assertIn("http://127.0.0.1:9", str(cm.exception))

    def test_missing_url_names_url_env(self):
        os.environ["KITARU_AUTH_TOKEN"] = "kat_x"
        with self.assertRaisesRegex(ConfigurationError, "no Kitaru server URL: set KITARU_SERVER_URL"):
            KitaruClient()

    def test_invalid_url(self):
        with self.assertRaisesRegex(ConfigurationError, "KITARU_SERVER_URL"):
            KitaruClient(server_url="127.0.0.1:8787", token="kat_x")

    def test_config_file_then_env_then_arguments(self):
        self.write_config(server_url="http://file:1", auth_token="kat_file", project="fromfile")
        c = KitaruClient().connection
        self.assertEqual((c.server_url, c.auth_token, c.project), ("http://file:1", "kat_file", "fromfile"))
        self.assertEqual(c.sources, {"server_url": "file", "auth_token": "file", "project": "file"})
        os.environ["KITARU_PROJECT"] = "fromenv"
        os.environ["KITARU_SERVER_URL"] = ""  # empty counts as unset, as in the CLI
        c = KitaruClient().connection
        self.assertEqual((c.server_url, c.project), ("http://file:1", "fromenv"))
        self.assertEqual(c.sources["project"], "env")
        c = KitaruClient(server_url="http://arg:2", project="fromarg").connection
        self.assertEqual((c.server_url, c.auth_token, c.project), ("http://arg:2", "kat_file", "fromarg"))
        self.assertNotIn("kat_file", repr(c))

    def test_project_is_optional(self):
        self.write_config(server_url="http://file:1", auth_token="kat_file")
        self.assertEqual(KitaruClient().project, "")

    def test_unreadable_config_names_the_file(self):
        with open(os.path.join(self.dir.name, "config.json"), "w") as f:
            f.write("{not json")
        with self.assertRaises(ConfigurationError) as cm:
            KitaruClient()
        self.assertIn(os.path.join(self.dir.name, "config.json"), str(cm.exception))
        self.assertIn("kitaru logout", str(cm.exception))

    @unittest.skipUnless(sys.platform.startswith("linux"), "the Linux config directory")
    def test_user_config_dir_like_go(self):
        del os.environ["KITARU_CONFIG_DIR"]
        os.environ["HOME"] = "/home/someone"
        self.assertEqual(kitaru.config_path(), "/home/someone/.config/kitaru/config.json")
        os.environ["XDG_CONFIG_HOME"] = "/xdg"
        self.assertEqual(kitaru.config_path(), "/xdg/kitaru/config.json")
        os.environ["XDG_CONFIG_HOME"] = "relative"
        with self.assertRaisesRegex(ConfigurationError, "KITARU_CONFIG_DIR"):
            kitaru.config_path()

    def test_unreachable_server_is_unavailable_naming_the_url(self):
        with socket.socket() as s:  # a port nothing listens on
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        url = f"http://127.0.0.1:{port}"
        client = KitaruClient(server_url=url, token="kat_x", project="default")
        with self.assertRaises(UnavailableError) as cm:
            client.status()
        self.assertIn(url, str(cm.exception))
        self.assertIn("KITARU_SERVER_URL", str(cm.exception))

    def test_seed_consumer_snippet_without_connection_fails_naming_what_to_set(self):
        code = (
            "from kitaru import KitaruClient\n"
            "handle = KitaruClient().deployments.invoke(\n"
            '    flow="research_agent",\n'
            '    tag="stable",\n'
            '    inputs={"topic": "consumer request"},\n'
            ")\n"
        )
        env = python_env(**{**{k: None for k in ENV}, "KITARU_CONFIG_DIR": self.dir.name})
        p = run_python(code, cwd=self.dir.name, env=env)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("kitaru.ConfigurationError: no Kitaru server: run", p.stderr)
        self.assertIn("KITARU_SERVER_URL and KITARU_AUTH_TOKEN", p.stderr)


if __name__ == "__main__":
    unittest.main()
