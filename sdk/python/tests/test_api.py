"""The package's public names, pinned: what `import kitaru` and
`from kitaru.flow import ...` offered before the SDK was split into modules,
and the error table, which must be the server's (api/openapi.yaml). No server
needed."""

import os
import pickle
import re
import subprocess
import sys
import unittest

import kitaru
from kitaru import errors

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
SDK = os.path.join(REPO, "sdk", "python")

PUBLIC = {
    "Flow", "flow", "is_flow", "__version__", "KitaruClient", "Connection", "Deployment", "Handle", "Execution",
    "Tag", "RouteChange", "Deployments", "Executions", "Secret", "Secrets", "KitaruError", "ConfigurationError", "InvalidArgumentError",
    "UnauthenticatedError", "PermissionDeniedError", "NotFoundError", "ConflictError", "PreconditionFailedError",
    "PayloadTooLargeError", "UnprocessableError", "IdempotencyMismatchError", "RateLimitedError", "InternalError",
    "UnavailableError", "ExecutionError", "ExecutionFailed", "ExecutionCancelled", "WaitTimeoutError",
}
# Public module attributes outside __all__ (used by tests and docs).
ALSO_PUBLIC = {"config_path", "new_idempotency_key", "ENV_SERVER_URL", "ENV_AUTH_TOKEN", "ENV_PROJECT", "ENV_CONFIG_DIR"}

ERROR_CLASSES = {
    "invalid_argument": kitaru.InvalidArgumentError,
    "unauthenticated": kitaru.UnauthenticatedError,
    "permission_denied": kitaru.PermissionDeniedError,
    "not_found": kitaru.NotFoundError,
    "conflict": kitaru.ConflictError,
    "precondition_failed": kitaru.PreconditionFailedError,
    "payload_too_large": kitaru.PayloadTooLargeError,
    "unprocessable": kitaru.UnprocessableError,
    "idempotency_mismatch": kitaru.IdempotencyMismatchError,
    "rate_limited": kitaru.RateLimitedError,
    "internal": kitaru.InternalError,
    "unavailable": kitaru.UnavailableError,
}


def openapi_error_codes():
    """The ErrorCode enum of api/openapi.yaml: each code with the status its comment names."""
    with open(os.path.join(REPO, "api", "openapi.yaml"), encoding="utf-8") as f:
        text = f.read()
    block = re.search(r"^    ErrorCode:\n(.*?)\n\n", text, re.M | re.S)
    assert block, "api/openapi.yaml has no ErrorCode schema"
    pairs = re.findall(r"^\s+- (\w+)\s+# (\d{3})$", block.group(1), re.M)
    assert pairs, "the ErrorCode enum lists no `- code  # status` lines"
    return {code: int(status) for code, status in pairs}


class PublicAPITest(unittest.TestCase):
    def test_all_is_the_same_set_of_names(self):
        self.assertEqual(set(kitaru.__all__), PUBLIC)
        self.assertEqual(len(kitaru.__all__), len(PUBLIC))
        for name in PUBLIC | ALSO_PUBLIC:
            self.assertIn(name, dir(kitaru))
            self.assertTrue(hasattr(kitaru, name), name)

    def test_star_import_gives_the_public_names(self):
        ns = {}
        exec("from kitaru import *", ns)
        self.assertEqual(set(ns) - {"__builtins__"}, PUBLIC)

    def test_flow_attribute_is_the_decorator_and_the_module_keeps_its_names(self):
        from kitaru.flow import Bundle, Flow, build_bundle, find_project_root, flow, input_schema, is_flow

        self.assertIs(kitaru.flow, flow)
        self.assertIs(kitaru.Flow, Flow)
        self.assertIs(kitaru.is_flow, is_flow)
        from kitaru import bundle

        self.assertIs(Bundle, bundle.Bundle)
        self.assertIs(build_bundle, bundle.build_bundle)
        self.assertIs(find_project_root, bundle.find_project_root)
        self.assertTrue(callable(input_schema))
        module = sys.modules["kitaru.flow"]
        self.assertEqual(
            set(module.__all__),
            {"Flow", "flow", "is_flow", "input_schema", "find_project_root", "build_bundle", "Bundle"},
        )
        for name in ("git_state", "SKIPPED_DIRS", "SKIPPED_ROOT_PATHS", "PROJECT_DIR"):
            self.assertIs(getattr(module, name), getattr(bundle, name))
            self.assertIn(name, dir(module))
        with self.assertRaises(AttributeError):
            module.no_such_name

    def test_classes_keep_the_package_name(self):
        for name in PUBLIC - {"Flow", "flow", "is_flow", "__version__"}:
            self.assertEqual(getattr(kitaru, name).__module__, "kitaru", name)
        err = pickle.loads(pickle.dumps(kitaru.NotFoundError("gone")))
        self.assertIs(type(err), kitaru.NotFoundError)

    def test_running_a_flow_loads_neither_http_nor_bundling(self):
        script = (
            "import sys, kitaru\n"
            "f = kitaru.flow(lambda topic: topic)\n"
            "assert f(topic='x') == 'x'\n"
            "loaded = {'kitaru.bundle', 'tarfile', 'gzip', 'subprocess', 'urllib.request', 'http.client'} & set(sys.modules)\n"
            "print(sorted(loaded))\n"
        )
        out = subprocess.run([sys.executable, "-S", "-B", "-c", script], cwd=SDK, capture_output=True, text=True,
                             check=True, env={**os.environ, "PYTHONPATH": SDK}).stdout
        self.assertEqual(out.strip(), "[]")


class StatusTableTest(unittest.TestCase):
    def test_codes_and_statuses_are_the_servers(self):
        self.assertEqual(errors.STATUS_BY_CODE, openapi_error_codes())

    def test_one_class_per_code(self):
        self.assertEqual(set(ERROR_CLASSES), set(errors.STATUS_BY_CODE))
        for code, cls in ERROR_CLASSES.items():
            self.assertEqual(cls.code, code)
            err = errors._error_from_answer(
                errors.STATUS_BY_CODE[code], b'{"error": {"code": "%s", "message": "m"}}' % code.encode(), "GET /x")
            self.assertIs(type(err), cls)
            self.assertEqual((err.code, err.status, str(err)), (code, errors.STATUS_BY_CODE[code], "m"))

    def test_answers_without_the_envelope_get_the_go_clients_code(self):
        # pkg/api's CodeOf (its test has the same table): the code with that status, unavailable for
        # 502-504, internal for anything else.
        want = {400: "invalid_argument", 401: "unauthenticated", 403: "permission_denied", 404: "not_found",
                405: "internal", 409: "conflict", 412: "precondition_failed", 413: "payload_too_large",
                422: "unprocessable", 429: "rate_limited", 500: "internal", 501: "internal", 502: "unavailable",
                503: "unavailable", 504: "unavailable", 418: "internal"}
        for status, code in want.items():
            self.assertEqual(errors.code_for_status(status), code, status)
            err = errors._error_from_answer(status, b"<html>bad gateway</html>", "GET /x")
            self.assertEqual((err.code, type(err)), (code, ERROR_CLASSES[code]), status)
            self.assertIn(f"HTTP {status}", str(err))


if __name__ == "__main__":
    unittest.main()
