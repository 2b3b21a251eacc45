"""Expressions compiled once into Python functions, null-safe, never from rule text.

The compiler writes Python source from the checked syntax tree: names it chooses itself,
keys and literals through `repr`. Each function first tries the fast form (plain
subscripts and operators); if that raises because a key is missing or a value is
`none`, it answers with the null-safe form, which defines the semantics:
a missing path is `none`, ordering comparisons and `in` with `none` are false, and
arithmetic with `none` is `none`.
"""
from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import CodeType
from typing import Any

from . import syntax as s
from .functions import FunctionRegistry

ROOTS = ("contact", "event", "now", "waited", "params")
_ORDERING = {"<": "_lt", "<=": "_le", ">": "_gt", ">=": "_ge"}
_ARITHMETIC = {"+": "_add", "-": "_sub", "*": "_mul", "/": "_div", "%": "_mod"}
# What an arithmetic operator may raise on odd operands ("%y" % 3, 1 / 0, "a" * 10**12).
# ("%(x)s" % mapping raises KeyError, "%s %s" % [1] an IndexError-like TypeError.)
_ARITHMETIC_ERRORS = (TypeError, ValueError, KeyError, IndexError, ZeroDivisionError, OverflowError, MemoryError)
_FALLBACK = (AttributeError, *_ARITHMETIC_ERRORS)
_EMPTY: Mapping[str, Any] = {}


@dataclass(slots=True)
class Scope:
    """What an expression can see: the contact, the event, the clock and the step's state."""

    contact: Mapping[str, Any]
    event: Mapping[str, Any] = field(default_factory=dict)
    now: datetime | None = None
    waited: bool | None = None
    params: Mapping[str, Any] = field(default_factory=dict)


Compiled = Callable[[Scope], Any]


def _get(value: Any, keys: tuple[str, ...]) -> Any:
    for key in keys:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def _ordering(op: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool]:
    def compare(a: Any, b: Any) -> bool:
        if a is None or b is None:
            return False
        try:
            return op(a, b)
        except TypeError:
            return False
    return compare


def _arithmetic(op: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    def apply(a: Any, b: Any) -> Any:
        if a is None or b is None:
            return None
        try:
            return op(a, b)
        except _ARITHMETIC_ERRORS:
            return None
    return apply


def _in(item: Any, container: Any) -> bool:
    if container is None:
        return False
    try:
        return item in container
    except TypeError:
        return False


def _neg(value: Any) -> Any:
    try:
        return -value
    except TypeError:
        return None


_RUNTIME: dict[str, Any] = {
    "_get": _get, "_in": _in, "_neg": _neg, "_FALLBACK": _FALLBACK,
    "_lt": _ordering(lambda a, b: a < b), "_le": _ordering(lambda a, b: a <= b),
    "_gt": _ordering(lambda a, b: a > b), "_ge": _ordering(lambda a, b: a >= b),
    "_add": _arithmetic(lambda a, b: a + b), "_sub": _arithmetic(lambda a, b: a - b),
    "_mul": _arithmetic(lambda a, b: a * b), "_div": _arithmetic(lambda a, b: a / b),
    "_mod": _arithmetic(lambda a, b: a % b),
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

    def function(self, name: str) -> tuple[str, bool]:
        function = self.functions.get(name)
        if function is None:
            raise KeyError(f"unknown function '{name}'")
        ident = f"_f_{name}"
        self.namespace[ident] = function.impl
        return ident, function.uses_now

    def fast(self, e: s.Expr) -> str:
        if isinstance(e, s.Literal):
            return self.constant(e.value)
        if isinstance(e, s.Path):
            self.roots.add(e.root)
            return e.root + "".join(f"[{k!r}]" for k in e.keys)
        if isinstance(e, s.Call):
            ident, uses_now = self.function(e.name)
            args = [self.fast(a) for a in e.args]
            if uses_now:
                self.roots.add("now")
                args.insert(0, "now")
            return f"{ident}({', '.join(args)})"
        if isinstance(e, s.ListExpr):
            return "[" + ", ".join(self.fast(i) for i in e.items) + "]"
        if isinstance(e, s.Unary):
            return f"(not {self.fast(e.operand)})" if e.op == "not" else f"(-{self.fast(e.operand)})"
        if e.op == "%":  # "%s" % none formats instead of raising: only the null-safe form is right
            return f"_mod({self.fast(e.left)}, {self.fast(e.right)})"
        return f"({self.fast(e.left)} {e.op} {self.fast(e.right)})"

    def safe(self, e: s.Expr) -> str:
        if isinstance(e, s.Literal):
            return self.constant(e.value)
        if isinstance(e, s.Path):
            return f"_get({e.root}, {e.keys!r})" if e.keys else e.root
        if isinstance(e, s.Call):
            ident, uses_now = self.function(e.name)
            args = [self.safe(a) for a in e.args]
            if uses_now:
                args.insert(0, "now")
            return f"{ident}({', '.join(args)})"
        if isinstance(e, s.ListExpr):
            return "[" + ", ".join(self.safe(i) for i in e.items) + "]"
        if isinstance(e, s.Unary):
            return f"(not {self.safe(e.operand)})" if e.op == "not" else f"_neg({self.safe(e.operand)})"
        left, right = self.safe(e.left), self.safe(e.right)
        if e.op in _ORDERING:
            return f"{_ORDERING[e.op]}({left}, {right})"
        if e.op in _ARITHMETIC:
            return f"{_ARITHMETIC[e.op]}({left}, {right})"
        if e.op == "in":
            return f"_in({left}, {right})"
        if e.op == "not in":
            return f"(not _in({left}, {right}))"
        return f"({left} {e.op} {right})"  # == != and or


def python_source(expr: s.Expr, functions: FunctionRegistry) -> tuple[str, dict[str, Any]]:
    """The Python source of the function for `expr`, and the names it needs bound."""
    writer = _Writer(functions)
    fast, safe = writer.fast(expr), writer.safe(expr)
    lines = ["def _expression(scope):"]
    lines += [f"    {root} = scope.{root}" for root in ROOTS if root in writer.roots]
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
