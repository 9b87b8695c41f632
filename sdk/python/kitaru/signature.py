"""A flow's input contract, read from its source with ``ast``: nothing is imported or run.

Every surface derives a deployment's input schema with this module: the Python
SDK imports it, and ``kitaru deploy`` and the MCP deploy tool run it as a script
(``python3 -I -S - FILE NAME`` with this source on stdin; Go embeds it through
sdk/python/embed.go), so the same function gets the same JSON Schema whichever
way it is deployed. Standard library only, and no import of the rest of kitaru.

The schema: one property per parameter that can be passed by keyword (the
runner calls ``flow(**inputs)``); a parameter without a default is required;
``additionalProperties`` is false unless the function takes ``**kwargs``.
Annotations map where they map cleanly: ``str`` → string, ``int`` → integer,
``float`` → number, ``bool`` → boolean, ``list``/``tuple``/``set`` (and their
``typing`` names) → array, with ``items`` when parametrised by one type,
``dict``/``Mapping`` → object, ``None`` → null, ``Optional[X]``, ``Union[...]``
and ``X | Y`` → the union of their members, ``Literal[...]`` → enum,
``Annotated[X, ...]`` → X. Anything else (a class, a ``TypeVar``, ``Any``, no
annotation) accepts any value. A default that is a JSON literal is recorded as
``default``.

As a script it prints one JSON object: ``{"found": true, "schema": {...}}``,
``{"found": true, "schema": null, "reason": ...}`` when NAME exists but is not
a plain function here (an import, an assignment it cannot follow), or
``{"found": false, "functions": [...]}``; and ``{"error": ...}`` with exit
status 2 when FILE cannot be read or parsed.
"""

from __future__ import annotations

import ast
import json
import sys
from typing import Any, Optional

__all__ = ["lookup", "find_function", "function_schema", "annotation_schema"]

_SCALARS = {"str": "string", "int": "integer", "float": "number", "bool": "boolean"}
_ARRAYS = frozenset(
    {"list", "List", "tuple", "Tuple", "set", "Set", "frozenset", "FrozenSet", "Sequence", "MutableSequence",
     "Iterable", "Collection", "AbstractSet", "MutableSet"}
)
_OBJECTS = frozenset({"dict", "Dict", "Mapping", "MutableMapping", "OrderedDict", "defaultdict", "DefaultDict"})
_ANY = frozenset({"Any", "object"})

FunctionNode = (ast.FunctionDef, ast.AsyncFunctionDef)


def lookup(source: str, name: str, filename: str = "<flow>") -> dict[str, Any]:
    """Find ``name`` at module level of ``source`` and derive its input schema.

    Returns the script's answer (see the module doc). Raises SyntaxError when
    the source does not parse.
    """
    tree = ast.parse(source, filename=filename)
    bindings: dict[str, ast.AST] = {}
    star = False
    for stmt in _module_statements(tree.body):
        if isinstance(stmt, ast.ImportFrom) and any(a.name == "*" for a in stmt.names):
            star = True
        for bound, node in _binds(stmt):
            bindings[bound] = node  # the last binding wins, as at run time
    node = bindings.get(name)
    if node is None:
        functions = sorted(n for n, b in bindings.items() if isinstance(b, FunctionNode))
        if star:
            return {"found": True, "schema": None, "reason": f"{name} may come from a `from … import *`"}
        return {"found": False, "functions": functions}
    if isinstance(node, ast.Assign) or isinstance(node, ast.AnnAssign):
        node = _wrapped_function(node, bindings)
        if node is None:
            return {"found": True, "schema": None, "reason": f"{name} is assigned, not defined with def"}
    if not isinstance(node, FunctionNode):
        what = "a class" if isinstance(node, ast.ClassDef) else "imported"
        return {"found": True, "schema": None, "reason": f"{name} is {what}, not a function defined in the file"}
    return {"found": True, "schema": function_schema(node)}


def find_function(source: str, name: str, first_line: int, filename: str = "<flow>") -> Optional[ast.AST]:
    """The definition of the function ``name`` whose code starts at ``first_line``
    (``__code__.co_firstlineno``: its first decorator's line, or its ``def``'s),
    wherever it is in ``source``; None when there is none."""
    for node in ast.walk(ast.parse(source, filename=filename)):
        if isinstance(node, ast.Lambda) and name == "<lambda>" and node.lineno == first_line:
            return node
        if isinstance(node, FunctionNode) and node.name == name:
            if min([node.lineno] + [d.lineno for d in node.decorator_list]) == first_line:
                return node
    return None


def _module_statements(body: list[ast.stmt]):
    """Module-level statements, including those in if/try/with blocks (they bind module names too)."""
    for stmt in body:
        yield stmt
        if isinstance(stmt, ast.If):
            yield from _module_statements(stmt.body)
            yield from _module_statements(stmt.orelse)
        elif isinstance(stmt, ast.Try) or type(stmt).__name__ == "TryStar":
            yield from _module_statements(stmt.body)
            for handler in stmt.handlers:
                yield from _module_statements(handler.body)
            yield from _module_statements(stmt.orelse)
            yield from _module_statements(stmt.finalbody)
        elif isinstance(stmt, (ast.With, ast.AsyncWith)):
            yield from _module_statements(stmt.body)


def _binds(stmt: ast.stmt):
    """The module names one statement binds, each with the node that binds it."""
    if isinstance(stmt, (*FunctionNode, ast.ClassDef)):
        yield stmt.name, stmt
    elif isinstance(stmt, ast.Assign):
        for target in stmt.targets:
            if isinstance(target, ast.Name):
                yield target.id, stmt
    elif isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name) and stmt.value is not None:
        yield stmt.target.id, stmt
    elif isinstance(stmt, (ast.Import, ast.ImportFrom)):
        for alias in stmt.names:
            if alias.name != "*":
                yield (alias.asname or alias.name.split(".")[0]), stmt


def _wrapped_function(assign: ast.AST, bindings: dict[str, ast.AST]) -> Optional[ast.AST]:
    """For ``name = flow(fn)`` or ``name = flow(...)(fn)``: the def of ``fn``, when the file has one."""
    value = assign.value
    while isinstance(value, ast.Call):
        for arg in value.args:
            if isinstance(arg, ast.Name) and isinstance(bindings.get(arg.id), FunctionNode):
                return bindings[arg.id]
        value = value.func
    return None


def function_schema(fn: ast.AST) -> dict[str, Any]:
    """The JSON Schema of a function definition's (or lambda's) keyword-passable parameters."""
    args = fn.args
    positional = args.args
    # Defaults align with the last positional parameters (posonlyargs + args).
    all_positional = list(args.posonlyargs) + list(positional)
    offset = len(all_positional) - len(args.defaults)
    defaults: dict[str, Optional[ast.expr]] = {}
    for i, arg in enumerate(all_positional):
        defaults[arg.arg] = args.defaults[i - offset] if i >= offset else None
    for arg, default in zip(args.kwonlyargs, args.kw_defaults):
        defaults[arg.arg] = default
    properties: dict[str, Any] = {}
    required: list[str] = []
    for arg in list(positional) + list(args.kwonlyargs):
        prop = annotation_schema(arg.annotation)
        default = defaults[arg.arg]
        if default is None:
            required.append(arg.arg)
        else:
            value, ok = _literal(default)
            if ok:
                prop = {**prop, "default": value}
        properties[arg.arg] = prop
    out: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        out["required"] = required
    out["additionalProperties"] = args.kwarg is not None
    return out


def annotation_schema(node: Optional[ast.expr]) -> dict[str, Any]:
    """The JSON Schema of one annotation expression; {} when it has no clean JSON equivalent."""
    if node is None:
        return {}
    if isinstance(node, ast.Constant):
        if node.value is None:
            return {"type": "null"}
        if isinstance(node.value, str):  # a string annotation: "int", "Optional[str]"
            try:
                return annotation_schema(ast.parse(node.value, mode="eval").body)
            except SyntaxError:
                return {}
        return {}
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        return _union(_left_operands(node))
    name = _name(node)
    if name is not None:
        return _named(name)
    if isinstance(node, ast.Subscript):
        base = _name(node.value)
        params = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
        if base == "Optional" and len(params) == 1:
            return _union([params[0], ast.Constant(value=None)])
        if base == "Union":
            return _union(params)
        if base == "Annotated":
            return annotation_schema(params[0])
        if base == "Literal":
            values = []
            for p in params:
                value, ok = _literal(p)
                if not ok or isinstance(value, (list, dict)):
                    return {}
                values.append(value)
            return {"enum": values}
        if base in _ARRAYS:
            out: dict[str, Any] = {"type": "array"}
            homogeneous = base not in ("tuple", "Tuple") or (
                len(params) == 2 and isinstance(params[1], ast.Constant) and params[1].value is Ellipsis
            )
            if homogeneous:
                item = annotation_schema(params[0])
                if item:
                    out["items"] = item
            return out
        if base in _OBJECTS:
            return {"type": "object"}
    return {}


def _left_operands(node: ast.expr) -> list[ast.expr]:
    """The members of ``A | B | C`` (parsed as ``(A | B) | C``)."""
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        return _left_operands(node.left) + _left_operands(node.right)
    return [node]


def _union(members: list[ast.expr]) -> dict[str, Any]:
    schemas = [annotation_schema(m) for m in members]
    if any(s == {} for s in schemas):
        return {}
    if all(set(s) == {"type"} for s in schemas):
        kinds: list[str] = []
        for s in schemas:
            for kind in [s["type"]] if isinstance(s["type"], str) else s["type"]:
                if kind not in kinds:
                    kinds.append(kind)
        return {"type": kinds[0] if len(kinds) == 1 else kinds}
    return {"anyOf": schemas}


def _named(name: str) -> dict[str, Any]:
    if name in _SCALARS:
        return {"type": _SCALARS[name]}
    if name == "None":
        return {"type": "null"}
    if name in _ARRAYS:
        return {"type": "array"}
    if name in _OBJECTS:
        return {"type": "object"}
    return {}  # Any, object, a class, a TypeVar: no JSON constraint


def _name(node: ast.expr) -> Optional[str]:
    """``str`` for ``str``, ``List`` for ``typing.List`` or ``t.List``; None for anything else."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _literal(node: ast.expr) -> tuple[Any, bool]:
    """The JSON value of a literal expression, and whether it is one."""
    try:
        value = ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None, False
    return _jsonable(value)


def _jsonable(value: Any) -> tuple[Any, bool]:
    if value is None or isinstance(value, (str, bool, int)):
        return value, True
    if isinstance(value, float):
        return value, value == value and value not in (float("inf"), float("-inf"))
    if isinstance(value, (list, tuple)):
        items = [_jsonable(v) for v in value]
        return [v for v, _ in items], all(ok for _, ok in items)
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            return None, False
        items = {k: _jsonable(v) for k, v in value.items()}
        return {k: v for k, (v, _) in items.items()}, all(ok for _, ok in items.values())
    return None, False


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(json.dumps({"error": "usage: signature.py FILE.py FUNCTION"}))
        return 2
    path, name = argv[1], argv[2]
    try:
        with open(path, "rb") as f:
            source = f.read()
        answer = lookup(source.decode("utf-8-sig"), name, filename=path)
    except (OSError, UnicodeDecodeError) as e:
        print(json.dumps({"error": f"cannot read {path}: {e}"}))
        return 2
    except (SyntaxError, ValueError, RecursionError, MemoryError) as e:
        where = f" (line {e.lineno})" if isinstance(e, SyntaxError) and e.lineno else ""
        print(json.dumps({"error": f"python{sys.version_info[0]}.{sys.version_info[1]} cannot parse {path}{where}: {e}"}))
        return 2
    print(json.dumps(answer))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
