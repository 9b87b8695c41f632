"""Handle.wait and Executions.wait ask the server to hold each read
(GET /v1/executions/{id}?wait=), and pause between the quick answers of a
server that predates ?wait=. Against a real local HTTP server standing in
for such a server; tests/test_server.py waits on a real kitaru dev."""

import http.server
import json
import threading
import time
import unittest
import urllib.parse

from kitaru import KitaruClient, WaitTimeoutError


class OldServer(http.server.ThreadingHTTPServer):
    """Ignores ?wait= and answers the execution at once: running until
    running_for seconds after its first request, then completed. It records
    each request's wait parameter."""

    def __init__(self, running_for):
        self.running_for = running_for
        self.first = None
        self.waits = []
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), OldHandler)

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server_address[1]}"


class OldHandler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        s = self.server
        with s.lock:
            if s.first is None:
                s.first = time.monotonic()
            s.waits.append(urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query).get("wait", [""])[0])
            status = "completed" if time.monotonic() - s.first >= s.running_for else "running"
        body = json.dumps({"exec_id": "e1", "flow": "f", "version": 1, "status": status, "result": {"ok": True}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def ms(wait):
    assert wait.endswith("ms"), wait
    return int(wait[:-2])


class WaitTest(unittest.TestCase):
    def client(self, running_for, timeout=60.0):
        server = OldServer(running_for)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self.addCleanup(server.server_close)
        self.addCleanup(server.shutdown)
        return server, KitaruClient(server.url, "kat_test", "default", timeout=timeout)

    def test_each_read_asks_the_server_to_hold_it_20_s(self):
        server, c = self.client(0.3)
        self.assertEqual(c.executions.wait("e1"), {"ok": True})
        self.assertEqual(set(server.waits), {"20000ms"})

    def test_a_hold_is_no_longer_than_the_wait_timeout_or_half_the_request_timeout(self):
        server, c = self.client(0.3)
        self.assertEqual(c.executions.wait("e1", timeout=5), {"ok": True})
        self.assertTrue(all(0 < ms(w) <= 5000 for w in server.waits), server.waits)
        server, c = self.client(0.3, timeout=8)
        c.executions.wait("e1")
        self.assertEqual(set(server.waits), {"4000ms"})

    def test_quick_answers_are_read_again_only_after_a_pause(self):
        server, c = self.client(1.0)
        self.assertEqual(c.executions.wait("e1"), {"ok": True})
        # pauses of at least 50 ms growing 1.5x: about 8 reads in that second; no pause would be thousands
        self.assertLess(len(server.waits), 20)

    def test_a_timeout_still_ends_the_wait(self):
        server, c = self.client(60)
        with self.assertRaises(WaitTimeoutError):
            c.executions.wait("e1", timeout=0.3)


if __name__ == "__main__":
    unittest.main()
