"""Static checks on expressions: names, functions and arities, with suggestions."""
from __future__ import annotations

from collections.abc import Iterator

from . import syntax as s
from .errors import did_you_mean
from .functions import FunctionRegistry

# Which roots an expression may start from, by where it is written.
TRIGGER_ROOTS = ("contact", "event", "now")
CONTACT_ROOTS = ("contact", "now")
STEP_ROOTS = ("contact", "event", "now", "waited")
TEMPLATE_ROOTS = ("contact", "event", "now", "params")


def walk(expr: s.Expr) -> Iterator[s.Expr]:
    """Every sub-expression of `expr`, itself first."""
    yield expr
    if isinstance(expr, s.Call):
        for arg in expr.args:
            yield from walk(arg)
    elif isinstance(expr, s.ListExpr):
        for item in expr.items:
            yield from walk(item)
    elif isinstance(expr, s.Unary):
        yield from walk(expr.operand)
    elif isinstance(expr, s.Binary):
        yield from walk(expr.left)
        yield from walk(expr.right)


def uses_root(expr: s.Expr, root: str) -> s.Path | None:
    """The first path in `expr` that starts at `root`, if any."""
    return next((e for e in walk(expr) if isinstance(e, s.Path) and e.root == root), None)


def check_expression(expr: s.Expr, roots: tuple[str, ...], functions: FunctionRegistry,
                     where: str) -> list[tuple[str, s.Pos]]:
    """Problems in `expr` as (message, position); `where` names the place, for messages."""
    problems: list[tuple[str, s.Pos]] = []
    for node in walk(expr):
        if isinstance(node, s.Path):
            problems += _check_path(node, roots, where)
        elif isinstance(node, s.Call):
            problems += _check_call(node, functions)
    return problems


def _check_path(path: s.Path, roots: tuple[str, ...], where: str) -> list[tuple[str, s.Pos]]:
    if path.root in roots:
        if path.root in ("now", "waited") and path.keys:
            return [(f"'{path.root}' has no fields; write '{path.root}' alone", path.pos)]
        return []
    listing = ", ".join(roots)
    known_elsewhere = ("contact", "event", "now", "waited", "params")
    if path.root in known_elsewhere:
        return [(f"'{path.root}' is not available in {where}; use {listing}", path.pos)]
    return [(f"unknown name '{path.root}'{did_you_mean(path.root, roots)}; "
             f"in {where} a name starts with {listing}", path.pos)]


def _check_call(call: s.Call, functions: FunctionRegistry) -> list[tuple[str, s.Pos]]:
    function = functions.get(call.name)
    if function is None:
        suggestion = did_you_mean(call.name, functions.names())
        return [(f"unknown function '{call.name}'{suggestion}", call.pos)]
    if not function.accepts(len(call.args)):
        return [(f"{call.name}() takes {function.arity_text()}, not {len(call.args)}", call.pos)]
    problem = function.check and function.check([a.value if isinstance(a, s.Literal) else None for a in call.args])
    return [(problem, call.pos)] if problem else []
