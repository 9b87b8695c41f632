"""Kitaru: durable, deployable agent flows.

Flow files import the decorator from here::

    from kitaru import flow

    @flow
    def research_agent(topic: str) -> str:
        ...

This package is stdlib-only and supports Python >= 3.10. It is shipped next to
the runner (``functions/runner/runner.py``) so snapshot executions can import
flow files; the client side of the SDK (deploy, invoke, ...) grows here.
"""

from kitaru.flow import Flow, flow, is_flow

__all__ = ["Flow", "flow", "is_flow", "__version__"]

__version__ = "0.1.0"
