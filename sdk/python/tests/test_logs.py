"""Execution logs through the SDK against a real `kitaru dev` (no HTTP mocks):
Handle.logs(), Handle.follow_logs() and Executions.logs() pages."""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
import unittest

from kitaru import KitaruClient, WaitTimeoutError
from tests.devserver import FLOWS, DevServer, connect, start_server

SERVER: DevServer = None
WORK = ""
RESTORE = None


def setUpModule():
    global SERVER, WORK, RESTORE
    SERVER = start_server()
    WORK, RESTORE = connect(SERVER.url, SERVER.api_key, "kitaru-sdk-logs-")


def tearDownModule():
    RESTORE()
    SERVER.cleanup()


class ExecutionLogsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        root = os.path.join(WORK, "logs")
        shutil.copytree(os.path.join(FLOWS, "behaviours"), root)
        spec = importlib.util.spec_from_file_location("kitaru_test_logs_behaviours", os.path.join(root, "flows", "behaviours.py"))
        cls.mod = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = cls.mod
        spec.loader.exec_module(cls.mod)
        cls.mod.ticks.deploy(count=4, every=0.3)

    def test_follow_logs_yields_the_output_as_it_arrives_until_the_end(self):
        handle = self.mod.ticks.invoke()
        pieces = list(handle.follow_logs(timeout=60))
        log = "".join(pieces)
        self.assertIn("tick 0\ntick 1\ntick 2\ntick 3\n", log)
        self.assertRegex(log, r"\[kitaru\] completed in \d+\.\d\d s\n$")
        self.assertGreater(len(pieces), 1, "the log arrived in one piece: it was not followed while it grew")
        self.assertEqual(handle.logs(), log)
        self.assertEqual(handle.wait(timeout=60), 4)

    def test_pages_end_with_ended_and_a_follow_can_time_out(self):
        client = KitaruClient()
        handle = self.mod.ticks.invoke(count=20, every=0.5)
        with self.assertRaises(WaitTimeoutError):
            for _ in handle.follow_logs(timeout=1.5):
                pass
        handle.cancel()
        page = client.executions.logs(handle.exec_id)
        self.assertEqual(page.status, "cancelled")
        self.assertTrue(page.data.startswith("[kitaru] running ticks"), page)
        for _ in range(100):
            if page.ended:
                break
            page = client.executions.logs(handle.exec_id, page.next_cursor)
        self.assertTrue(page.ended, page)
        after = client.executions.logs(handle.exec_id, page.next_cursor)
        self.assertEqual((after.data, after.ended, after.next_cursor), ("", True, page.next_cursor))


if __name__ == "__main__":
    unittest.main()
