"""flow.build(**inputs) against a real `kitaru dev` (tests/devserver.py): the
version is saved like a deploy's but no tag moves to it."""

import importlib.util
import os
import shutil
import sys
import unittest

from kitaru import InvalidArgumentError, KitaruClient
from tests.devserver import FLOWS, DevServer, connect, start_server

# setUpModule starts it (pyflakes counts a bare annotation as no binding).
SERVER: DevServer = None
WORK = ""
RESTORE = None
WAIT = 120  # seconds an execution may take here


def setUpModule():
    global SERVER, WORK, RESTORE
    SERVER = start_server()
    WORK, RESTORE = connect(SERVER.url, SERVER.api_key, "kitaru-sdk-build-")


def tearDownModule():
    RESTORE()
    SERVER.cleanup()


class FlowBuildTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        root = os.path.join(WORK, "build")
        shutil.copytree(os.path.join(FLOWS, "behaviours"), root)
        spec = importlib.util.spec_from_file_location("kitaru_test_build", os.path.join(root, "flows", "behaviours.py"))
        cls.mod = importlib.util.module_from_spec(spec)
        sys.modules["kitaru_test_build"] = cls.mod
        spec.loader.exec_module(cls.mod)

    def test_builds_route_nothing_but_the_first_version_gets_default(self):
        chatty = self.mod.chatty
        first = chatty.build(name="first")
        self.assertEqual((first.version, first.tags), (1, {"default": True}))
        second = chatty.build(name="staged", description="staged build")
        self.assertEqual((second.version, second.tags), (2, {}))
        self.assertEqual(second.inputs, {"name": "staged"})
        self.assertEqual(second.description, "staged build")
        self.assertIn("name", (second.input_schema or {}).get("properties", {}))
        self.assertEqual(chatty.deployment().version, 1, "a build must not move default")

        # Pinned, the unrouted build runs with its own inputs.
        result = chatty.invoke(version=2).wait(timeout=WAIT)
        self.assertEqual(result, {"greeting": "hello staged", "count": 3})

        # Promoted with a tag move, it is what default runs.
        second.add_tag("default", exclusive=True)
        self.assertEqual(chatty.deployment().version, 2)

    def test_a_build_with_an_input_the_flow_does_not_take_sends_nothing(self):
        sleeps = self.mod.sleeps
        with self.assertRaises(InvalidArgumentError):
            sleeps.build(no_such_input=1)
        self.assertNotIn("sleeps", [f["flow"] for f in KitaruClient().flows()])


if __name__ == "__main__":
    unittest.main()
