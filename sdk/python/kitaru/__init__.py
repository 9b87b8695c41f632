"""Kitaru: durable, deployable agent flows.

Flow files import the decorator from here::

    from kitaru import flow

    @flow
    def research_agent(topic: str) -> str:
        ...

Producers deploy and invoke flows, consumers invoke routes without the source::

    research_agent.deploy(topic="durable execution")           # the next version
    print(research_agent.invoke(topic="serverless routing").wait())
    research_agent.deployment(version=2).invoke(topic="pinned run")

    from kitaru import KitaruClient
    handle = KitaruClient().deployments.invoke(
        flow="research_agent", tag="stable", inputs={"topic": "consumer request"})

The connection is the CLI's: ``KITARU_SERVER_URL``, ``KITARU_AUTH_TOKEN`` and
``KITARU_PROJECT``, each overriding the config file ``kitaru login`` writes.

This package is stdlib-only and supports Python >= 3.10. It is shipped next to
the runner (``functions/runner/runner.py``) so snapshot executions can import
flow files, so importing it stays cheap: HTTP modules load on first use, the
bundling modules on the first deploy.

Modules: ``kitaru.flow`` (the decorator and ``Flow``), ``kitaru.client``
(``KitaruClient`` and what it returns), ``kitaru.connection`` (the CLI's
connection), ``kitaru.retry`` (the retry policy, the Go client's),
``kitaru.errors``, ``kitaru.bundle`` (source bundles) and ``kitaru.signature``
(input schemas). Every public name is importable from ``kitaru`` itself.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = [
    "Flow",
    "flow",
    "is_flow",
    "__version__",
    "KitaruClient",
    "Connection",
    "Deployment",
    "Handle",
    "Execution",
    "Tag",
    "RouteChange",
    "Deployments",
    "Executions",
    "Secret",
    "Secrets",
    "KitaruError",
    "ConfigurationError",
    "InvalidArgumentError",
    "UnauthenticatedError",
    "PermissionDeniedError",
    "NotFoundError",
    "ConflictError",
    "PreconditionFailedError",
    "PayloadTooLargeError",
    "UnprocessableError",
    "IdempotencyMismatchError",
    "RateLimitedError",
    "InternalError",
    "UnavailableError",
    "ExecutionError",
    "ExecutionFailed",
    "ExecutionCancelled",
    "WaitTimeoutError",
]

# The submodules first, kitaru.flow last: importing the module kitaru.flow
# sets the package attribute ``flow``, which the decorator then replaces.
# The client and connection load on first use (__getattr__ below): a flow
# that only needs the decorator does not pay for dataclasses and the rest.
from kitaru.errors import (
    ConfigurationError,
    ConflictError,
    ExecutionCancelled,
    ExecutionError,
    ExecutionFailed,
    IdempotencyMismatchError,
    InternalError,
    InvalidArgumentError,
    KitaruError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    PreconditionFailedError,
    RateLimitedError,
    UnauthenticatedError,
    UnavailableError,
    UnprocessableError,
    WaitTimeoutError,
)
from kitaru.flow import Flow, flow, is_flow

# Names of kitaru.connection and kitaru.client offered here, loaded lazily.
# ENV_*, config_path and new_idempotency_key are public as before the split,
# though not in __all__.
_LAZY = {
    **dict.fromkeys(("ENV_SERVER_URL", "ENV_AUTH_TOKEN", "ENV_PROJECT", "ENV_CONFIG_DIR", "config_path", "Connection"), "kitaru.connection"),
    **dict.fromkeys(
        ("KitaruClient", "Deployment", "Deployments", "Execution", "Executions", "Handle", "RouteChange", "Tag", "new_idempotency_key", "Secret", "Secrets"),
        "kitaru.client",
    ),
}

# The classes defined in this module before the split keep its name, so
# tracebacks, reprs and pickles still say kitaru.ConfigurationError, etc.
_OWN_CLASSES = {
    "KitaruClient", "Connection", "Deployment", "Handle", "Execution", "Tag", "RouteChange", "Deployments", "Executions",
    "Secret", "Secrets",
}
for _cls in (
    KitaruError, ConfigurationError, InvalidArgumentError, UnauthenticatedError, PermissionDeniedError,
    NotFoundError, ConflictError, PreconditionFailedError, PayloadTooLargeError, UnprocessableError,
    IdempotencyMismatchError, RateLimitedError, InternalError, UnavailableError, ExecutionError,
    ExecutionFailed, ExecutionCancelled, WaitTimeoutError,
):
    _cls.__module__ = __name__
del _cls


def __getattr__(name: str):
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    module = importlib.import_module(module_name)
    for lazy, where in _LAZY.items():
        if where == module_name:
            value = getattr(module, lazy)
            if lazy in _OWN_CLASSES:
                value.__module__ = __name__
            globals()[lazy] = value
    return globals()[name]


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
