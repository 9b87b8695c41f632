"""Every SDK write survives an answer lost after the server committed it.

A real `kitaru dev` (tests/devserver.py) sits behind a small HTTP proxy. For a
request the test names, the proxy forwards it, lets the server commit and
answer, then drops the connection instead of passing the answer on: the SDK
sees a connection reset and retries. The retry must carry the same
Idempotency-Key, be answered with the first answer (Idempotent-Replayed), and
the server must show exactly one effect.
"""

import http.client
import http.server
import importlib.util
import os
import shutil
import socket
import sys
import threading
import unittest
import urllib.parse

from kitaru import IdempotencyMismatchError, KitaruClient, UnprocessableError
from tests.devserver import FLOWS, DevServer, connect, start_server

# setUpModule starts both (pyflakes counts a bare annotation as no binding).
SERVER: DevServer = None
PROXY: "LossyProxy" = None
WORK = ""
RESTORE = None


class LossyProxy:
    """Forwards every request to upstream; the next request to a (method, path)
    given to lose() has its answer read and dropped. It records, per lost route,
    each attempt's Idempotency-Key, status and Idempotent-Replayed."""

    def __init__(self, upstream: str) -> None:
        u = urllib.parse.urlsplit(upstream)
        self.host, self.port = u.hostname, u.port
        self.lock = threading.Lock()
        self.pending: set = set()
        self.attempts: dict = {}
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def forward(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else None
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
                conn = http.client.HTTPConnection(proxy.host, proxy.port, timeout=60)
                conn.request(self.command, self.path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                conn.close()
                route = (self.command, self.path.split("?")[0])
                attempt = (self.headers.get("Idempotency-Key"), resp.status, resp.getheader("Idempotent-Replayed"))
                with proxy.lock:
                    lose = route in proxy.pending
                    proxy.pending.discard(route)
                    if lose or route in proxy.attempts:
                        proxy.attempts.setdefault(route, []).append(attempt)
                if lose:
                    # The server committed; its answer never reaches the client.
                    self.close_connection = True
                    try:
                        self.connection.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
                    return
                self.send_response(resp.status)
                for k, v in resp.getheaders():
                    if k.lower() not in ("transfer-encoding", "connection", "content-length", "date", "server"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = forward

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request, client_address):
                pass  # the dropped connections

        self.httpd = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def lose(self, method: str, path: str) -> None:
        with self.lock:
            self.pending.add((method, path))

    def seen(self, method: str, path: str) -> list:
        with self.lock:
            return list(self.attempts.get((method, path), []))

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def setUpModule():
    global SERVER, PROXY, WORK, RESTORE
    SERVER = start_server()
    PROXY = LossyProxy(SERVER.url)
    WORK, RESTORE = connect(PROXY.url, SERVER.api_key, "kitaru-sdk-idem-")


def tearDownModule():
    RESTORE()
    PROXY.close()
    SERVER.cleanup()


# One flow per test, so that each test's effects can be counted alone.
FLOWS_PY = "import time\n\nfrom kitaru import flow\n" + "".join(
    f"\n\n@flow\ndef {name}(value: str = 'x') -> str:\n    return value\n"
    for name in ("deploy_me", "delete_me", "tag_me", "untag_me", "roll_me", "invoke_me")
) + "\n\n@flow\ndef nap(seconds: float = 30) -> float:\n    time.sleep(seconds)\n    return seconds\n"


class LostAnswerTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        root = os.path.join(WORK, "idem")
        shutil.copytree(os.path.join(FLOWS, "behaviours"), root)
        path = os.path.join(root, "flows", "idem.py")
        with open(path, "w") as f:
            f.write(FLOWS_PY)
        spec = importlib.util.spec_from_file_location("kitaru_test_idem", path)
        cls.mod = importlib.util.module_from_spec(spec)
        sys.modules["kitaru_test_idem"] = cls.mod
        spec.loader.exec_module(cls.mod)
        cls.client = KitaruClient()
        cls.deps = cls.client.deployments

    def expect_replayed(self, method: str, path: str, status: int) -> None:
        seen = PROXY.seen(method, path)
        self.assertEqual(len(seen), 2, f"attempts of {method} {path}: {seen}; want the lost one and one retry")
        (key1, status1, _), (key2, status2, replayed) = seen
        self.assertTrue(key1, "the write carried no Idempotency-Key")
        self.assertEqual(key2, key1, "the retry must reuse the key")
        self.assertEqual((status1, status2, replayed), (status, status, "true"))

    def test_deploy(self):
        path = "/v1/flows/deploy_me/deployments"
        PROXY.lose("POST", path)
        d = self.mod.deploy_me.deploy()
        self.assertEqual(d.version, 1)
        self.expect_replayed("POST", path, 201)
        self.assertEqual([x.version for x in self.deps.list("deploy_me")], [1])

    def test_delete(self):
        self.mod.delete_me.deploy()
        self.mod.delete_me.deploy(tag="nightly")
        path = "/v1/flows/delete_me/deployments/2"
        PROXY.lose("DELETE", path)
        self.deps.delete("delete_me", 2)
        self.expect_replayed("DELETE", path, 204)
        self.assertEqual([x.version for x in self.deps.list("delete_me")], [1])

    def test_tag_with_if_revision(self):
        self.mod.tag_me.deploy()
        self.mod.tag_me.deploy(tag="stable", exclusive=True)
        rev = self.deps.tag("tag_me", "stable", version=2, exclusive=True).revision
        before = len(self.deps.history("tag_me", "stable"))
        path = "/v1/flows/tag_me/tags/stable"
        PROXY.lose("PUT", path)
        t = self.deps.tag("tag_me", "stable", version=1, exclusive=True, if_revision=rev)
        self.assertEqual((t.versions, t.revision), ([1], rev + 1))
        self.expect_replayed("PUT", path, 200)
        self.assertEqual(len(self.deps.history("tag_me", "stable")), before + 1)

    def test_untag(self):
        self.mod.untag_me.deploy(tag="benchmark")
        path = "/v1/flows/untag_me/tags/benchmark"
        PROXY.lose("DELETE", path)
        self.deps.untag("untag_me", "benchmark", version=1)
        self.expect_replayed("DELETE", path, 204)
        self.assertEqual([h.action for h in self.deps.history("untag_me", "benchmark")], ["remove", "deploy"])

    def test_rollback(self):
        self.mod.roll_me.deploy(tag="stable", exclusive=True)
        self.mod.roll_me.deploy(tag="stable", exclusive=True)
        path = "/v1/flows/roll_me/tags/stable/rollback"
        PROXY.lose("POST", path)
        self.assertEqual(self.deps.rollback("roll_me", "stable").versions, [1])
        self.expect_replayed("POST", path, 200)
        self.assertEqual(self.deps.get("roll_me", tag="stable").version, 1)

    def test_invoke_and_a_reused_key(self):
        self.mod.invoke_me.deploy()
        path = "/v1/flows/invoke_me/invocations"
        PROXY.lose("POST", path)
        h = self.deps.invoke("invoke_me", inputs={"value": "once"})
        seen = PROXY.seen("POST", path)
        self.assertEqual(len(seen), 2)
        self.assertTrue(seen[0][0])
        self.assertEqual(seen[1][0], seen[0][0])
        self.assertEqual([e.exec_id for e in self.client.executions.list("invoke_me")], [h.exec_id])

        first = self.deps.invoke("invoke_me", inputs={"value": "a"}, idempotency_key="order-1")
        with self.assertRaises(IdempotencyMismatchError) as cm:
            self.deps.invoke("invoke_me", inputs={"value": "b"}, idempotency_key="order-1")
        self.assertIsInstance(cm.exception, UnprocessableError)
        self.assertEqual((cm.exception.status, cm.exception.code), (422, "idempotency_mismatch"))
        self.assertEqual(len(self.client.executions.list("invoke_me")), 2)
        again = self.deps.invoke("invoke_me", inputs={"value": "a"}, idempotency_key="order-1")
        self.assertEqual(again.exec_id, first.exec_id)

    def test_cancel(self):
        self.mod.nap.deploy()
        h = self.deps.invoke("nap")
        path = f"/v1/executions/{h.exec_id}/cancel"
        PROXY.lose("POST", path)
        self.assertEqual(self.client.executions.cancel(h.exec_id).status, "cancelled")
        self.expect_replayed("POST", path, 200)


if __name__ == "__main__":
    unittest.main()
