"""The retry policy is the Go client's: the numbers and rules of
testdata/retry_policy.json (pkg/client/retry_policy_test.go checks Go against
the same file), and the transport follows them against a real local HTTP
server that fails on purpose. No Kitaru server needed."""

import dataclasses
import http.server
import json
import os
import threading
import unittest
from email.utils import formatdate

from kitaru import KitaruClient, RateLimitedError, UnavailableError, new_idempotency_key
from kitaru.retry import RETRY_STATUSES, RetryPolicy, backoff, jitter, retry_after, retryable_status

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))

with open(os.path.join(REPO, "testdata", "retry_policy.json"), encoding="utf-8") as f:
    SHARED = json.load(f)


class SharedPolicyTest(unittest.TestCase):
    def test_default_policy_has_the_shared_numbers(self):
        p = RetryPolicy()
        self.assertEqual(
            (p.max_attempts, p.base_delay, p.max_delay, p.max_retry_after),
            (SHARED["max_attempts"], SHARED["base_delay_ms"] / 1000, SHARED["max_delay_ms"] / 1000,
             SHARED["max_retry_after_ms"] / 1000),
        )

    def test_backoff_doubles_up_to_the_cap_and_jitter_spreads_half_to_whole(self):
        p = RetryPolicy()
        for attempt, want_ms in enumerate(SHARED["backoff_ms_after_attempt"], start=1):
            d = backoff(p.base_delay, p.max_delay, attempt)
            self.assertAlmostEqual(d, want_ms / 1000, msg=f"backoff after attempt {attempt}")
            self.assertEqual(jitter(d, lambda: 0.0), d / 2)
            self.assertEqual(jitter(d, lambda: 1.0), d)
            for _ in range(200):
                self.assertTrue(d / 2 <= jitter(d) <= d)

    def test_exactly_the_shared_statuses_and_unreached_servers_are_retried(self):
        self.assertEqual(retryable_status(None), SHARED["retry_when_unreached"])
        self.assertEqual(sorted(RETRY_STATUSES), SHARED["retry_statuses"])
        for status in range(100, 600):
            self.assertEqual(retryable_status(status), status in SHARED["retry_statuses"], status)

    def test_retry_after_is_read_in_whole_seconds_or_as_a_date(self):
        for value, want_ms in SHARED["retry_after"]["seconds"].items():
            self.assertEqual(retry_after(value), want_ms / 1000, value)
        for value in SHARED["retry_after"]["unreadable"]:
            self.assertIsNone(retry_after(value), value)
        now = 1_700_000_000.0
        self.assertEqual(retry_after(formatdate(now + 5, usegmt=True), now), 5.0)
        self.assertEqual(retry_after(formatdate(now - 5, usegmt=True), now), 0.0)

    def test_a_longer_retry_after_than_the_limit_is_not_waited_for(self):
        p = RetryPolicy()
        self.assertEqual(p.pause(1, "30"), 30.0)
        self.assertIsNone(p.pause(1, "31"))
        self.assertTrue(0.05 <= p.pause(1, None) <= 0.1)

    def test_idempotency_keys_have_the_shared_form(self):
        key = new_idempotency_key()
        self.assertTrue(key.startswith(SHARED["idempotency_key_prefix"]), key)
        self.assertEqual(len(key) - len(SHARED["idempotency_key_prefix"]), SHARED["idempotency_key_random_chars"])
        self.assertNotEqual(key, new_idempotency_key())


class FlakyServer(http.server.ThreadingHTTPServer):
    """A local server that answers the first `failures` requests with `status`
    (and Retry-After when set), then 200; it records each request's method,
    path and Idempotency-Key."""

    def __init__(self, failures, status, retry_after=None):
        self.failures, self.status, self.retry_after = failures, status, retry_after
        self.seen = []
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), FlakyHandler)

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server_address[1]}"


class FlakyHandler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        s = self.server
        with s.lock:
            s.seen.append((self.command, self.path.split("?")[0], self.headers.get("Idempotency-Key")))
            n = len(s.seen)
        if n <= s.failures:
            body = json.dumps({"error": {"code": "rate_limited" if s.status == 429 else "unavailable",
                                         "message": "busy; retry"}}).encode()
            self.send_response(s.status)
            if s.retry_after is not None:
                self.send_header("Retry-After", s.retry_after)
        else:
            body = json.dumps({"exec_id": "e1", "flow": "f", "version": 1, "status": "running",
                               "sha256": "x", "exists": True, "digest": "sha256:x"}).encode()
            self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_DELETE = answer


class TransportTest(unittest.TestCase):
    def client(self, server):
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self.addCleanup(server.server_close)
        self.addCleanup(server.shutdown)
        c = KitaruClient(server.url, "kat_test", "default", timeout=10)
        self.pauses = []
        c._transport.policy = dataclasses.replace(c._transport.policy, sleep=self.pauses.append)
        return c

    def test_reads_are_retried_with_the_backoff(self):
        server = FlakyServer(failures=2, status=503)
        c = self.client(server)
        self.assertEqual(c.executions.get("e1").exec_id, "e1")
        self.assertEqual(len(server.seen), 3)
        self.assertEqual(len(self.pauses), 2)
        self.assertTrue(0.05 <= self.pauses[0] <= 0.1 and 0.1 <= self.pauses[1] <= 0.2, self.pauses)

    def test_keyed_writes_are_retried_with_one_key(self):
        server = FlakyServer(failures=2, status=500)
        c = self.client(server)
        c.executions.cancel("e1")
        keys = {k for _, _, k in server.seen}
        self.assertEqual(len(server.seen), 3)
        self.assertEqual(len(keys), 1, server.seen)
        self.assertTrue(next(iter(keys)).startswith("kik_"))

    def test_the_last_attempt_returns_the_servers_error(self):
        server = FlakyServer(failures=5, status=429, retry_after="1")
        c = self.client(server)
        with self.assertRaises(RateLimitedError):
            c.executions.get("e1")
        self.assertEqual(len(server.seen), SHARED["max_attempts"])
        self.assertEqual(self.pauses, [1.0] * (SHARED["max_attempts"] - 1))

    def test_a_retry_after_over_the_limit_returns_at_once(self):
        server = FlakyServer(failures=1, status=503, retry_after="31")
        c = self.client(server)
        with self.assertRaises(UnavailableError):
            c.executions.get("e1")
        self.assertEqual((len(server.seen), self.pauses), (1, []))

    def test_other_statuses_and_the_artifact_announcement_are_sent_once(self):
        server = FlakyServer(failures=1, status=400)
        c = self.client(server)
        with self.assertRaises(Exception):
            c.executions.get("e1")
        self.assertEqual(len(server.seen), 1)

        server = FlakyServer(failures=1, status=503)
        c = self.client(server)
        with self.assertRaises(UnavailableError):
            c.deployments.upload_source(b"x" * ((4 << 20) + 1))
        self.assertEqual([(m, p) for m, p, _ in server.seen], [("POST", "/v1/artifacts")])

    def test_an_unreached_server_is_retried(self):
        server = FlakyServer(failures=0, status=200)
        url = server.url
        server.server_close()  # a closed local port: connection refused
        c = KitaruClient(url, "kat_test", "default", timeout=5)
        pauses = []
        c._transport.policy = dataclasses.replace(c._transport.policy, sleep=pauses.append)
        with self.assertRaisesRegex(UnavailableError, "cannot reach the Kitaru server"):
            c.status()
        self.assertEqual(len(pauses), SHARED["max_attempts"] - 1)


if __name__ == "__main__":
    unittest.main()
