"""The ``@flow`` decorator, the ``Flow`` object it returns, and what deploying one needs.

A ``Flow`` runs locally when called. Its remote verbs (``deploy``,
``deployments``, ``deployment``, ``invoke``) use the active Kitaru connection
(``kitaru.KitaruClient()``): deploying bundles the project root (the directory
holding ``.kitaru/``, made by ``kitaru init``) like ``kitaru deploy`` does and
sends an input schema derived from the function's signature.

Note: ``kitaru/__init__.py`` re-exports the ``flow`` decorator, so the attribute
``kitaru.flow`` is the decorator, not this module; import names from the module
with ``from kitaru.flow import Flow``.

This module must stay importable without the rest of the SDK being loaded (the
runner imports flow files, which import it): the client, the errors and the
bundling (:mod:`kitaru.bundle`, whose ``build_bundle``, ``Bundle`` and
``find_project_root`` are still importable from here) are imported lazily.
"""

from __future__ import annotations

import collections.abc
import functools
import os
import sys
from typing import Any, Callable, Optional

from . import signature

# Names that moved to kitaru.bundle, still importable from here (loaded on
# first use, so running a flow never loads the bundling modules).
_FROM_BUNDLE = ("find_project_root", "build_bundle", "Bundle", "git_state", "PROJECT_DIR", "SKIPPED_DIRS", "SKIPPED_ROOT_PATHS")

__all__ = ["Flow", "flow", "is_flow", "input_schema", *_FROM_BUNDLE[:3]]


def __getattr__(name: str) -> Any:
    """The names that moved to kitaru.bundle (PEP 562)."""
    if name in _FROM_BUNDLE:
        from kitaru import bundle

        return getattr(bundle, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_FROM_BUNDLE))


# Marker attribute the runner checks, so a flow is recognised even when the
# runner and the flow file see different copies of this module.
FLOW_MARKER = "__kitaru_flow__"


class Flow:
    """A flow: a function Kitaru can deploy and run as a snapshot execution.

    Calling a Flow runs the function locally, in this process, and returns its
    result. ``func`` is the undecorated function, ``name`` the public flow name
    (the function's name unless given), ``options`` the decorator's keyword
    options, kept as given for the parts of the SDK that use them.

    Remote verbs (they use the active connection, ``kitaru.KitaruClient()``):
    ``deploy(**inputs)``, ``deployments()``, ``deployment(version=|tag=)`` and
    ``invoke(**inputs)``. Inputs whose names clash with a verb's keywords go in
    ``inputs={...}``.
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

    # -- remote verbs -------------------------------------------------------

    def input_schema(self) -> Optional[dict[str, Any]]:
        """The JSON Schema of this flow's inputs, as deploy sends it (see :func:`input_schema`)."""
        return input_schema(self.func)

    def deploy(
        self,
        *,
        tag: Optional[str] = None,
        exclusive: bool = False,
        stack: Optional[str] = None,
        description: Optional[str] = None,
        secrets: Optional[list[str]] = None,
        inputs: Optional[dict[str, Any]] = None,
        **more_inputs: Any,
    ) -> Any:
        """Deploy this flow as its next version and return the :class:`kitaru.Deployment`.

        Bundles the project root (the nearest directory above the flow's file
        holding ``.kitaru/``), like ``kitaru deploy path/to/file.py:function``,
        with the keyword arguments as representative inputs, one routing tag
        (``tag``; ``default`` when omitted, and always on the first deploy), and
        the input schema derived from the signature. ``secrets`` names the
        project's flow secrets (``KitaruClient().secrets.set``) its runs get as
        environment variables. Inputs named like this method's keywords go in
        ``inputs={...}``.

        Errors: ``InvalidArgumentError`` for an input the function does not take
        (nothing is sent), ``PreconditionFailedError`` outside a Kitaru project,
        ``ConfigurationError`` without a connection, and the server's errors.
        """
        values = _merge_inputs(inputs, more_inputs, "deploy")
        return self._save(
            values, tag=tag, exclusive=exclusive, stack=stack, description=description, build=False, secrets=secrets
        )

    def build(
        self,
        *,
        stack: Optional[str] = None,
        description: Optional[str] = None,
        secrets: Optional[list[str]] = None,
        inputs: Optional[dict[str, Any]] = None,
        **more_inputs: Any,
    ) -> Any:
        """Save this flow as its next version without routing a tag to it, like
        ``kitaru build path/to/file.py:function``, and return the :class:`kitaru.Deployment`.

        The same bundle, representative inputs and input schema as :meth:`deploy`,
        but no tag moves: nothing invoked by tag runs it until a tag is put on it
        (``deployment.add_tag("stable", exclusive=True)``); run it pinned with
        ``flow.invoke(version=N)``. The flow's first version still gets ``default``,
        which exists once any version does. ``secrets`` as for :meth:`deploy`.
        Errors: those of :meth:`deploy`.
        """
        values = _merge_inputs(inputs, more_inputs, "build")
        return self._save(values, tag=None, exclusive=False, stack=stack, description=description, build=True, secrets=secrets)

    def _save(
        self,
        values: dict[str, Any],
        *,
        tag: Optional[str],
        exclusive: bool,
        stack: Optional[str],
        description: Optional[str],
        build: bool,
        secrets: Optional[list[str]],
    ) -> Any:
        """Bundle the project and send the deploy (or build) of this flow."""
        import kitaru  # lazily: the client is not needed to run flows
        from kitaru.bundle import build_bundle, git_state

        schema = self.input_schema()
        _check_inputs(self.name, values, schema)
        client = kitaru.KitaruClient()
        root, entrypoint = self._entrypoint()
        bundle = build_bundle(root)
        source = client.deployments.upload_source(bundle.data)
        commit, dirty = git_state(root)
        if commit:
            source["commit"] = commit
            source["dirty"] = dirty
        return client.deployments.deploy(
            self.name,
            entrypoint=entrypoint,
            source=source,
            inputs=values,
            input_schema=schema,
            tag=tag,
            exclusive=exclusive,
            stack=stack,
            description=description,
            build=build,
            secrets=secrets,
        )

    def deployments(self) -> list:
        """Every deployment version of this flow, newest first (``kitaru.Deployment`` objects)."""
        import kitaru

        return kitaru.KitaruClient().deployments.list(self.name)

    def deployment(
        self, *, version: Optional[int] = None, tag: Optional[str] = None, sticky_key: Optional[str] = None
    ) -> Any:
        """The deployment a version or a tag names now (neither: ``default``). A split tag
        picks a version by weight, always the same one for the same ``sticky_key``."""
        import kitaru

        return kitaru.KitaruClient().deployments.get(self.name, version=version, tag=tag, sticky_key=sticky_key)

    def invoke(
        self,
        *,
        version: Optional[int] = None,
        tag: Optional[str] = None,
        inputs: Optional[dict[str, Any]] = None,
        idempotency_key: Optional[str] = None,
        sticky_key: Optional[str] = None,
        **more_inputs: Any,
    ) -> Any:
        """Start a remote execution of the deployed flow and return its :class:`kitaru.Handle`.

        ``version`` or ``tag`` picks the deployment (neither: ``default``; a split tag
        picks by weight, the same version for the same ``sticky_key``); the
        keyword arguments override the deployment-time inputs key by key.
        Inputs named like this method's keywords go in ``inputs={...}``.
        """
        import kitaru

        values = _merge_inputs(inputs, more_inputs, "invoke")
        return kitaru.KitaruClient().deployments.invoke(
            self.name, version=version, tag=tag, inputs=values, idempotency_key=idempotency_key, sticky_key=sticky_key
        )

    def _entrypoint(self) -> tuple[str, str]:
        """The project root and ``path/relative/to/root.py:attribute`` of this flow."""
        import inspect

        from kitaru.bundle import find_project_root
        from kitaru.errors import InvalidArgumentError

        path = inspect.getsourcefile(self.func) or getattr(getattr(self.func, "__code__", None), "co_filename", "")
        if not path or not path.endswith(".py") or not os.path.isfile(path):
            raise InvalidArgumentError(
                f"flow {self.name!r} is defined in {path or 'no file'}, not in a .py file: "
                "define it in a file inside a Kitaru project (`kitaru init`) to deploy it"
            )
        path = os.path.realpath(path)
        root = find_project_root(os.path.dirname(path))
        rel = os.path.relpath(path, root).replace(os.sep, "/")
        return root, f"{rel}:{self._attribute()}"

    def _attribute(self) -> str:
        """The module attribute the runner looks up: where this Flow is bound."""
        module = sys.modules.get(self.__module__)
        name = getattr(self, "__name__", self.name)
        if module is not None and getattr(module, name, None) is not self:
            for key, value in vars(module).items():
                if value is self and key.isidentifier():
                    return key
        return name


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


def _merge_inputs(inputs: Optional[dict[str, Any]], more: dict[str, Any], verb: str) -> dict[str, Any]:
    if inputs is None:
        return dict(more)
    if not isinstance(inputs, collections.abc.Mapping):
        raise TypeError(f"{verb}(inputs=...) takes a dict of inputs, got {type(inputs).__name__}")
    both = sorted(set(inputs) & set(more))
    if both:
        raise TypeError(f"{verb}() got input(s) {', '.join(both)} both as keywords and in inputs={{...}}")
    return {**inputs, **more}


# -- input schema ------------------------------------------------------------

def input_schema(func: Callable[..., Any]) -> Optional[dict[str, Any]]:
    """The JSON Schema of a function's inputs, read from its source with :mod:`kitaru.signature`.

    The source is parsed, not imported, by the same helper ``kitaru deploy`` and
    the MCP deploy tool run, so every surface derives the same schema (the
    rules are in that module's doc). None when the function has no Python
    source file to read (defined in a REPL, or built in).
    """
    import inspect

    target = inspect.unwrap(getattr(func, "func", func) if is_flow(func) else func)
    code = getattr(target, "__code__", None)
    try:
        path = inspect.getsourcefile(target)
    except TypeError:
        path = None
    if code is None or not path or not os.path.isfile(path):
        return None
    with open(path, "rb") as f:
        source = f.read().decode("utf-8-sig")
    node = signature.find_function(source, code.co_name, code.co_firstlineno, filename=path)
    return None if node is None else signature.function_schema(node)


def _is_json(value: Any) -> bool:
    if value is None or isinstance(value, (str, bool, int, float)):
        return True
    if isinstance(value, (list, tuple)):
        return all(_is_json(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _is_json(v) for k, v in value.items())
    return False


_JSON_CHECKS: dict[str, Callable[[Any], bool]] = {
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "integer": lambda v: (isinstance(v, int) and not isinstance(v, bool)) or (isinstance(v, float) and v.is_integer()),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "null": lambda v: v is None,
    "array": lambda v: isinstance(v, (list, tuple)),
    "object": lambda v: isinstance(v, dict),
}


def _check_inputs(flow_name: str, values: dict[str, Any], schema: Optional[dict[str, Any]]) -> None:
    """Refuse deploy-time inputs the flow cannot take, before anything is sent.

    Only the top-level keys and simple types are checked here; the server
    validates every invocation against the whole schema.
    """
    from kitaru.errors import InvalidArgumentError

    if schema is None:
        return
    props = schema.get("properties", {})
    params = ", ".join(props) or "none"
    for key, value in values.items():
        if key not in props:
            if schema.get("additionalProperties") is False:
                raise InvalidArgumentError(
                    f"flow {flow_name!r} has no parameter {key!r} (its parameters: {params}); "
                    "pass only the function's parameters as inputs",
                    details={"key": key},
                )
            continue
        if not _is_json(value):
            raise InvalidArgumentError(
                f"input {key!r} of flow {flow_name!r} is a {type(value).__name__}, which is not JSON; "
                "pass strings, numbers, booleans, lists, dicts or None",
                details={"key": key},
            )
        kinds = props[key].get("type")
        if kinds is None:
            continue
        kinds = [kinds] if isinstance(kinds, str) else kinds
        if not any(_JSON_CHECKS.get(k, lambda v: True)(value) for k in kinds):
            raise InvalidArgumentError(
                f"input {key!r} of flow {flow_name!r} must be {' or '.join(kinds)}, got {type(value).__name__}",
                details={"key": key},
            )
