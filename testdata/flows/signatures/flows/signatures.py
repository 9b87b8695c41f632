"""Fixture flows for the input-contract test: every surface (kitaru deploy, the
MCP deploy tool, the Python SDK) must derive testdata/schemas/signatures.json
from these signatures. Nothing here runs in the tests that use it."""

from __future__ import annotations

import typing
from typing import Annotated, Any, Literal, Optional, Union

from kitaru import flow


class Custom:
    pass


@flow
def greet(name: str = "world", n: int = 1) -> str:
    return ("hi " + name) * n


@flow
def scalars(text: str, count: int, ratio: float, flag: bool, nothing: None = None):
    return text


@flow
def optionals(a: Optional[int], b: int | None = None, c: Union[str, None] = "x", d: "int | None" = None):
    return a


@flow
def containers(
    items: list[str],
    tags: typing.List[int] = [],
    pairs: tuple[int, ...] = (),
    fixed: tuple[int, str] = (1, "a"),
    meta: dict = {},
    table: typing.Dict[str, float] = {"a": 1.5},
    maybe: Optional[list[str]] = None,
):
    return items


@flow
def literals(mode: Literal["fast", "slow"] = "fast", level: Literal[1, 2, -3, None] = None, weird: Literal[b"x"] = b"x"):
    return mode


@flow
def unconstrained(anything, obj: Any = None, custom: Custom = None, mixed: Union[int, Custom] = 0, default=object()):
    return anything


@flow
def annotated(limit: Annotated[int, "upper bound"] = 10, label: "Optional[str]" = None):
    return limit


@flow
def keywords(a: int, /, b: str, *rest: int, c: bool = True, d: float, **extra: Any):
    return b


@flow
def no_parameters() -> str:
    return "ok"
