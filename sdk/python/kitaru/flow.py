"""The ``@flow`` decorator and the ``Flow`` object it returns.

Note: ``kitaru/__init__.py`` re-exports the ``flow`` decorator, so the attribute
``kitaru.flow`` is the decorator, not this module; import names from the module
with ``from kitaru.flow import Flow``.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Optional

__all__ = ["Flow", "flow", "is_flow"]

# Marker attribute the runner checks, so a flow is recognised even when the
# runner and the flow file see different copies of this module.
FLOW_MARKER = "__kitaru_flow__"


class Flow:
    """A flow: a function Kitaru can deploy and run as a snapshot execution.

    Calling a Flow runs the function locally, in this process, and returns its
    result. ``func`` is the undecorated function, ``name`` the public flow name
    (the function's name unless given), ``options`` the decorator's keyword
    options, kept as given for the parts of the SDK that use them.
    """

    __kitaru_flow__ = True

    def __init__(
        self,
        func: Callable[..., Any],
        *,
        name: Optional[str] = None,
        options: Optional[dict[str, Any]] = None,
    ) -> None:
        if not callable(func):
            raise TypeError(f"@flow decorates a function, got {type(func).__name__}")
        if name is None:
            name = getattr(func, "__name__", None)
        if not isinstance(name, str) or not name:
            raise ValueError("a flow needs a non-empty name: pass @flow(name='...')")
        # Copies __name__, __qualname__, __doc__, __module__, __dict__ and sets
        # __wrapped__, so inspect.signature() and help() see the function.
        functools.update_wrapper(self, func)
        self.func = func
        self.name = name
        self.options = dict(options or {})

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.func(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<kitaru.Flow {self.name!r} of {self.__module__}.{self.__qualname__}>"


def flow(
    func: Optional[Callable[..., Any]] = None,
    /,
    *,
    name: Optional[str] = None,
    **options: Any,
) -> Any:
    """Declare a flow. Use it bare (``@flow``) or with options (``@flow(name=...)``).

    Returns a :class:`Flow` (bare use) or a decorator that makes one.
    """
    if func is not None:
        return Flow(func, name=name, options=options)

    def decorate(f: Callable[..., Any]) -> Flow:
        return Flow(f, name=name, options=options)

    return decorate


def is_flow(obj: Any) -> bool:
    """Report whether obj is a flow (from this or any other copy of kitaru)."""
    return getattr(obj, FLOW_MARKER, False) is True and callable(getattr(obj, "func", None))
