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
from kitaru.connection import ENV_AUTH_TOKEN, ENV_CONFIG_DIR, ENV_PROJECT, ENV_SERVER_URL, Connection, config_path
from kitaru.client import (
    Deployment,
    Deployments,
    Execution,
    Executions,
    Handle,
    KitaruClient,
    RouteChange,
    Tag,
    new_idempotency_key,
)
from kitaru.flow import Flow, flow, is_flow

# Public as before the split, though not in __all__.
_ALSO_PUBLIC = (ENV_SERVER_URL, ENV_AUTH_TOKEN, ENV_PROJECT, ENV_CONFIG_DIR, config_path, new_idempotency_key)

# The classes defined in this module before the split keep its name, so
# tracebacks, reprs and pickles still say kitaru.ConfigurationError, etc.
for _cls in (
    KitaruClient, Connection, Deployment, Handle, Execution, Tag, RouteChange, Deployments, Executions,
    KitaruError, ConfigurationError, InvalidArgumentError, UnauthenticatedError, PermissionDeniedError,
    NotFoundError, ConflictError, PreconditionFailedError, PayloadTooLargeError, UnprocessableError,
    IdempotencyMismatchError, RateLimitedError, InternalError, UnavailableError, ExecutionError,
    ExecutionFailed, ExecutionCancelled, WaitTimeoutError,
):
    _cls.__module__ = __name__
del _cls
