"""Read-your-writes for routes (docs/route-cache.md): the client keeps the
highest Kitaru-Route-Revision its changes of a tag were answered with and
sends it back on its resolves and invokes of that tag, as the Go client
does. Against a real local HTTP server; no Kitaru server needed."""

import http.server
import json
import threading
import unittest

from kitaru import KitaruClient

HEADER = "Kitaru-Route-Revision"


class RevisionServer(http.server.ThreadingHTTPServer):
    """Answers every change with the next of its revisions and records the
    revision header each request sent."""

    def __init__(self, revisions):
        super().__init__(("127.0.0.1", 0), RevisionHandler)
        self.revisions = list(revisions)
        self.sent = []

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server_address[1]}"


class RevisionHandler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def answer(self):
        n = int(self.headers.get("Content-Length") or 0)
        if n:
            self.rfile.read(n)
        self.server.sent.append(self.headers.get(HEADER))
        change = self.command != "GET" and not self.path.endswith("/invocations")
        if self.command == "DELETE":
            self.send_response(204)
            if change and self.server.revisions:
                self.send_header(HEADER, self.server.revisions.pop(0))
            self.end_headers()
            return
        if self.path.endswith("/invocations"):
            body = {"exec_id": "ex_01j00000000000000000000000", "status": "running"}
        elif "/resolve" in self.path:
            body = {"selector": {}, "deployment": {"flow": "agent", "version": 1}}
        elif "/tags/" in self.path:
            body = {"flow": "agent", "tag": "stable", "exclusive": True, "versions": [1], "revision": 1}
        else:
            body = {"flow": "agent", "version": 1}
        data = json.dumps(body).encode()
        self.send_response(200)
        if change and self.server.revisions:
            self.send_header(HEADER, self.server.revisions.pop(0))
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = answer


class RouteRevisionTest(unittest.TestCase):
    def test_the_client_sends_back_the_highest_revision_of_its_own_changes(self):
        server = RevisionServer(["7", "5", "9", "3", "12"])
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self.addCleanup(server.server_close)
        self.addCleanup(server.shutdown)
        d = KitaruClient(server.url, "kat_test", "default", timeout=10).deployments
        steps = [
            ("a resolve before any change sends none", lambda: d.get("agent", tag="stable"), None),
            ("a move is answered 7", lambda: d.tag("agent", "stable", version=2, exclusive=True), None),
            ("a resolve of the moved tag sends 7", lambda: d.get("agent", tag="stable"), "7"),
            ("an invoke of the moved tag sends 7", lambda: d.invoke("agent", tag="stable"), "7"),
            ("a resolve of another tag sends none", lambda: d.get("agent"), None),
            ("a resolve of the tag on another flow sends none", lambda: d.get("other", tag="stable"), None),
            ("an invoke by version sends none", lambda: d.invoke("agent", version=2), None),
            ("a rollback answered a lower 5", lambda: d.rollback("agent", "stable"), None),
            ("the highest revision is kept", lambda: d.get("agent", tag="stable"), "7"),
            ("a deploy without a tag is answered 9 for default",
             lambda: d.deploy("agent", entrypoint="flows/agent.py:agent", source={"archive": ""}), None),
            ("a resolve of default sends 9", lambda: d.get("agent"), "9"),
            ("an untag is answered 3 and changes nothing kept", lambda: d.untag("agent", "stable", version=2), None),
            ("the tag still sends 7", lambda: d.invoke("agent", tag="stable"), "7"),
            ("a flow delete is answered 12, for every tag of the flow",
             lambda: d.delete_flow("agent", force=True), None),
            ("a resolve of the tag sends 12", lambda: d.get("agent", tag="stable"), "12"),
            ("a resolve of a tag never changed here sends 12", lambda: d.get("agent", tag="nightly"), "12"),
            ("a resolve on another flow sends none", lambda: d.get("other", tag="stable"), None),
        ]
        for name, call, want in steps:
            with self.subTest(name):
                call()
                self.assertEqual(server.sent[-1], want, name)


if __name__ == "__main__":
    unittest.main()
