"""Compiled expressions: the semantics a rule author relies on, and agreement with a reference."""
from __future__ import annotations

import math
import operator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relance.dsl import Scope
from relance.dsl import syntax as s
from relance.dsl.expressions import compile_expression
from relance.dsl.parser import parse

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=timezone.utc)


def evaluate(functions, text: str, contact: dict | None = None, event: dict | None = None, **scope: Any) -> Any:
    compiled = compile_expression(parse(text, "expression"), functions)
    return compiled(Scope(contact=contact or {}, event=event or {}, now=NOW, **scope))


@pytest.mark.parametrize("text, contact, event, expected", [
    ("event.cart.total >= 20", {}, {"cart": {"total": 80.5}}, True),
    ("event.cart.total >= 20", {}, {}, False),                       # missing path: none, comparison false
    ("event.cart.total < 20", {}, {}, False),                        # … in both directions
    ("not (event.cart.total >= 20)", {}, {}, True),
    ("event.cart.total == none", {}, {}, True),
    ("contact.email != none", {"email": "a@b.test"}, {}, True),
    ("contact.email or contact.phone", {"phone": "+33600000000"}, {}, "+33600000000"),
    ("contact.email and contact.phone", {"email": "a@b.test"}, {}, None),
    ('"vip" in contact.tags', {"tags": ["vip", "new"]}, {}, True),
    ('"vip" in contact.tags', {}, {}, False),                        # in none: false
    ('"vip" not in contact.tags', {}, {}, True),
    ("contact.orders_count + 1", {}, {}, None),                      # arithmetic with none: none
    ("contact.orders_count + 1", {"orders_count": 2}, {}, 3),
    ("contact.total / contact.count", {"total": 10, "count": 0}, {}, None),  # no ZeroDivisionError
    ("contact.name > 3", {"name": "Alice"}, {}, False),              # incomparable types: false
    ('"%y" % 3', {}, {}, None),                                     # a bad format: none, not a crash
    ('"%s" % contact.name', {}, {}, None),                          # formatting none is none, not "None"
    ("event.cart.total.amount", {}, {"cart": {"total": 5}}, None),   # a key under a number: none
    ("-contact.score", {"score": 5}, {}, -5),
    ("-contact.score", {}, {}, None),
    ("10% * 200", {}, {}, 20.0),
    ("24h", {}, {}, timedelta(hours=24)),
    ('contact.city in ["Paris", "Lyon"]', {"city": "Lyon"}, {}, True),
    ("event.type", {}, {"type": "checkout.started"}, "checkout.started"),
    ("days_since(contact.last_order_at) >= 90", {"last_order_at": "2025-11-01T10:00:00+00:00"}, {}, True),
    ("days_since(contact.last_order_at) >= 90", {"last_order_at": "2026-02-01T10:00:00+00:00"}, {}, False),
    ("days_since(contact.last_order_at) >= 90", {}, {}, False),
    ('lower(contact.city) == "paris"', {"city": "PARIS"}, {}, True),
    ('intent(event.text) == "forte"', {}, {"text": "Où est-ce que je paie ?"}, True),
    ("len(contact.tags)", {"tags": ["a", "b"]}, {}, 2),
    ("len(contact.tags)", {}, {}, None),
])
def test_semantics(functions, text: str, contact: dict, event: dict, expected: Any) -> None:
    assert evaluate(functions, text, contact, event) == expected


def test_waited_is_visible_to_steps(functions) -> None:
    assert evaluate(functions, "not waited", waited=False) is True


def test_rule_text_never_becomes_python_names(functions) -> None:
    """A key that looks like Python code stays a dictionary key."""
    compiled = compile_expression(parse('contact.__class__ == "x"', "expression"), functions)
    source = compiled.__doc__ or ""
    assert "['__class__']" in source and ".__class__" not in source
    assert compiled(Scope(contact={"__class__": "x"})) is True


# --------------------------------------------------------------- property test
KEYS = ("a", "b", "total", "tags")
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-1000, 1000),
    st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False),
    st.sampled_from(["", "a", "vip", "Paris", "%s", "%y"]),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(KEYS), inner, max_size=3)),
    max_leaves=6,
)
records = st.dictionaries(st.sampled_from(KEYS), values, max_size=4)


def literal() -> st.SearchStrategy[s.Expr]:
    return scalars.map(lambda v: s.Literal(v, (1, 1)))


def path() -> st.SearchStrategy[s.Expr]:
    return st.builds(lambda root, keys: s.Path(root, tuple(keys), (1, 1)),
                     st.sampled_from(["contact", "event"]), st.lists(st.sampled_from(KEYS), min_size=1, max_size=3))


BINARY_OPS = ["and", "or", "==", "!=", "<", "<=", ">", ">=", "in", "not in", "+", "-", "*", "/", "%"]
binary = lambda inner: st.builds(lambda op, a, b: s.Binary(op, a, b, (1, 1)),  # noqa: E731
                                 st.sampled_from(BINARY_OPS), inner, inner)
expressions = st.recursive(
    st.one_of(literal(), path(), path()),
    lambda inner: st.one_of(
        binary(inner), binary(inner), binary(inner), binary(inner),  # operators are what matter most
        st.builds(lambda op, a: s.Unary(op, a, (1, 1)), st.sampled_from(["not", "-"]), inner),
        st.builds(lambda items: s.ListExpr(tuple(items), (1, 1)), st.lists(inner, max_size=2)),
        st.builds(lambda a: s.Call("len", (a,), (1, 1)), inner),
        st.builds(lambda a, b: s.Call("coalesce", (a, b), (1, 1)), inner, inner),
    ),
    max_leaves=8,
)


_ORDER = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}
_ARITH = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv, "%": operator.mod}


def reference(expr: s.Expr, scope: dict[str, Any], functions) -> Any:
    """The language's semantics, written as a plain tree walk."""
    def ev(e: s.Expr) -> Any:
        if isinstance(e, s.Literal):
            return e.value
        if isinstance(e, s.Path):
            value = scope[e.root]
            for key in e.keys:
                value = value.get(key) if isinstance(value, dict) else None
            return value
        if isinstance(e, s.ListExpr):
            return [ev(i) for i in e.items]
        if isinstance(e, s.Call):
            return functions.get(e.name).impl(*[ev(a) for a in e.args])
        if isinstance(e, s.Unary):
            value = ev(e.operand)
            if e.op == "not":
                return not value
            try:
                return -value
            except TypeError:
                return None
        if e.op == "and":
            left = ev(e.left)
            return ev(e.right) if left else left
        if e.op == "or":
            left = ev(e.left)
            return left if left else ev(e.right)
        a, b = ev(e.left), ev(e.right)
        if e.op == "==":
            return a == b
        if e.op == "!=":
            return a != b
        if e.op in ("in", "not in"):
            try:
                found = b is not None and a in b
            except TypeError:
                found = False
            return found if e.op == "in" else not found
        if a is None or b is None:
            return False if e.op in _ORDER else None
        try:
            return (_ORDER.get(e.op) or _ARITH[e.op])(a, b)
        except TypeError:
            return False if e.op in _ORDER else None
        except (ZeroDivisionError, OverflowError, ValueError, MemoryError):
            return None
    return ev(expr)


def same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return type(a) is type(b) and a == b


@settings(max_examples=1000, deadline=None)
@given(expr=expressions, contact=records, event=records)
def test_compiled_expressions_agree_with_the_reference(functions, expr: s.Expr, contact: dict, event: dict) -> None:
    compiled = compile_expression(expr, functions)
    expected = reference(expr, {"contact": contact, "event": event}, functions)
    assert same(compiled(Scope(contact=contact, event=event)), expected)
