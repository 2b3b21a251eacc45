"""Expressions compiled once into Python functions, null-safe, never from rule text.

The compiler writes Python source from the checked syntax tree: names it chooses itself,
keys and literals through `repr`. Each function first tries the fast form (plain
subscripts and operators); if that raises because a key is missing or a value is
`none`, it answers with the null-safe form, which defines the semantics:
a missing path is `none`, ordering comparisons and `in` with `none` are false, and
arithmetic with `none` is `none`. What operators do with numbers, dates and durations
is in `operators`: the fast form uses Python's own operator only where it gives the
same answer.
"""
from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from types import CodeType
from typing import Any

from . import operators
from . import syntax as s
from .functions import FunctionRegistry
from .values import temporal, zone_named

ROOTS = ("contact", "event", "now", "waited", "params")
_COMPARISON = {"<": "_lt", "<=": "_le", ">": "_gt", ">=": "_ge", "==": "_eq", "!=": "_ne"}
_ARITHMETIC = {"+": "_add", "-": "_sub", "*": "_mul", "/": "_div", "%": "_mod"}
_FALLBACK = (AttributeError, *operators.ERRORS)
_EMPTY: Mapping[str, Any] = {}


@dataclass(slots=True)
class Scope:
    """What an expression can see: the contact, the event, the clock and the step's state.

    `zone` is the workspace's timezone and `locale` its locale; `tz` is the zone calendar
    days are in: the contact's `timezone` when it is a valid one, else `zone`, else UTC.
    """

    contact: Mapping[str, Any]
    event: Mapping[str, Any] = field(default_factory=dict)
    now: datetime | None = None
    waited: bool | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    zone: str | None = None
    locale: str = "en"
    tz: tzinfo = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.tz = zone_named(self.contact.get("timezone")) or zone_named(self.zone) or UTC


Compiled = Callable[[Scope], Any]


def _get(value: Any, keys: tuple[str, ...]) -> Any:
    for key in keys:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def _in(item: Any, container: Any) -> bool:
    if container is None:
        return False
    try:
        return item in container
    except TypeError:
        return False


def _plain_comparison(e: s.Binary) -> bool:
    """Whether Python's own operator gives the language's answer whenever it does not raise (when
    it raises, the null-safe form answers): a side must be a value no string is read as."""
    sides = (e.left, e.right)
    if e.op in ("==", "!="):
        return any(isinstance(x, s.Literal) and not isinstance(x.value, timedelta)
                   and not (isinstance(x.value, str) and temporal(x.value) is not None) for x in sides)
    return any((isinstance(x, s.Literal) and isinstance(x.value, (int, float, timedelta)))
               or (isinstance(x, s.Path) and x.root == "now" and not x.keys) for x in sides)


_RUNTIME: dict[str, Any] = {
    "_get": _get, "_in": _in, "_neg": operators.negate, "_FALLBACK": _FALLBACK,
    "_lt": operators.less, "_le": operators.less_equal, "_gt": operators.greater, "_ge": operators.greater_equal,
    "_eq": operators.equal, "_ne": operators.not_equal,
    "_add": operators.add, "_sub": operators.subtract, "_mul": operators.multiply, "_div": operators.divide,
    "_mod": operators.modulo,
}
_counter = itertools.count()


class _Writer:
    """Writes the fast and the safe Python form of one expression."""

    def __init__(self, functions: FunctionRegistry) -> None:
        self.functions = functions
        self.namespace: dict[str, Any] = dict(_RUNTIME)
        self.roots: set[str] = set()

    def constant(self, value: Any) -> str:
        if value is None or isinstance(value, (bool, int, float, str)):
            return repr(value)
        name = f"_k{len(self.namespace)}"
        self.namespace[name] = value
        return name

    def call(self, e: s.Call, args: list[str]) -> str:
        function = self.functions.get(e.name)
        if function is None:
            raise KeyError(f"unknown function '{e.name}'")
        ident = f"_f_{e.name}"
        self.namespace[ident] = function.impl
        if function.uses_scope:
            args.insert(0, "scope")
        elif function.uses_now:
            self.roots.add("now")
            args.insert(0, "now")
        return f"{ident}({', '.join(args)})"

    def operator(self, name: str, left: str, right: str) -> str:
        self.roots.add("tz")
        return f"{name}({left}, {right}, tz)"

    def fast(self, e: s.Expr) -> str:
        if isinstance(e, s.Literal):
            return self.constant(e.value)
        if isinstance(e, s.Path):
            self.roots.add(e.root)
            return e.root + "".join(f"[{k!r}]" for k in e.keys)
        if isinstance(e, s.Call):
            return self.call(e, [self.fast(a) for a in e.args])
        if isinstance(e, s.ListExpr):
            return "[" + ", ".join(self.fast(i) for i in e.items) + "]"
        if isinstance(e, s.Unary):
            return f"(not {self.fast(e.operand)})" if e.op == "not" else f"(-{self.fast(e.operand)})"
        left, right = self.fast(e.left), self.fast(e.right)
        if e.op in _ARITHMETIC:  # decimals, dates and durations: Python's own operators do not compute them
            return self.operator(_ARITHMETIC[e.op], left, right)
        if e.op in _COMPARISON and not _plain_comparison(e):
            return self.operator(_COMPARISON[e.op], left, right)
        return f"({left} {e.op} {right})"

    def safe(self, e: s.Expr) -> str:
        if isinstance(e, s.Literal):
            return self.constant(e.value)
        if isinstance(e, s.Path):
            return f"_get({e.root}, {e.keys!r})" if e.keys else e.root
        if isinstance(e, s.Call):
            return self.call(e, [self.safe(a) for a in e.args])
        if isinstance(e, s.ListExpr):
            return "[" + ", ".join(self.safe(i) for i in e.items) + "]"
        if isinstance(e, s.Unary):
            return f"(not {self.safe(e.operand)})" if e.op == "not" else f"_neg({self.safe(e.operand)})"
        left, right = self.safe(e.left), self.safe(e.right)
        if e.op in _COMPARISON:
            return self.operator(_COMPARISON[e.op], left, right)
        if e.op in _ARITHMETIC:
            return self.operator(_ARITHMETIC[e.op], left, right)
        if e.op == "in":
            return f"_in({left}, {right})"
        if e.op == "not in":
            return f"(not _in({left}, {right}))"
        return f"({left} {e.op} {right})"  # and or


def python_source(expr: s.Expr, functions: FunctionRegistry) -> tuple[str, dict[str, Any]]:
    """The Python source of the function for `expr`, and the names it needs bound."""
    writer = _Writer(functions)
    fast, safe = writer.fast(expr), writer.safe(expr)
    lines = ["def _expression(scope):"]
    lines += [f"    {root} = scope.{root}" for root in (*ROOTS, "tz") if root in writer.roots]
    if fast == safe:
        lines.append(f"    return {fast}")
    else:
        lines += ["    try:", f"        return {fast}", "    except _FALLBACK:", f"        return {safe}"]
    return "\n".join(lines) + "\n", writer.namespace


@functools.lru_cache(maxsize=8192)
def _code(source: str) -> CodeType:
    return compile(source, f"<relance expression #{next(_counter)}>", "exec")


def compile_expression(expr: s.Expr, functions: FunctionRegistry) -> Compiled:
    """A function `scope -> value` for a checked expression."""
    source, namespace = python_source(expr, functions)
    exec(_code(source), namespace)  # the source is ours: names chosen here, rule text only through repr()
    function: Compiled = namespace["_expression"]
    function.__doc__ = source
    return function
