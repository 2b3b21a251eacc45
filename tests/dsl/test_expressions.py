"""Compiled expressions: the semantics a rule author relies on, and agreement with a reference."""
from __future__ import annotations

import math
import operator
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal, localcontext
from typing import Any
from zoneinfo import ZoneInfo

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


@pytest.mark.parametrize("text, contact, expected", [
    ("19.9 * 3", {}, 59.7),
    ("19.9 * 3 == 59.7", {}, True),
    ("0.1 + 0.2", {}, 0.3),
    ("contact.total * 3", {"total": 19.9}, 59.7),
    ("contact.total * 1.2", {"total": 19.99}, 23.988),
    ("contact.total - contact.paid", {"total": 80.5, "paid": 80.4}, 0.1),
    ("contact.total + 0.01 >= 10.03", {"total": 10.02}, True),
    ("contact.total * 100", {"total": 1.1}, 110.0),
    ("contact.total / 3", {"total": 10.0}, 3.3333333333333335),
    ("-7.5 % 2", {}, 0.5),                                   # the remainder has the divisor's sign, as in Python
    ("7.5 % -2", {}, -0.5),
    ("contact.total % 1", {"total": 19.9}, 0.9),
    ("contact.total * 10", {"total": 1e308}, None),          # no float holds it
    ("contact.total / 0.0", {"total": 1.5}, None),
    ("7 / 2", {}, 3.5),
    ("contact.n * 3", {"n": 7}, 21),                         # whole numbers stay whole
    ("10% * contact.total", {"total": 19.9}, 1.99),
])
def test_numbers_with_a_fraction_compute_as_decimals(functions, text: str, contact: dict, expected: Any) -> None:
    result = evaluate(functions, text, contact)
    assert result == expected and type(result) is type(expected)


# NOW is 2026-03-02 10:00 UTC.
@pytest.mark.parametrize("text, contact, expected", [
    ("contact.last_order_at < now", {"last_order_at": "2026-01-01T10:00:00+00:00"}, True),
    ("contact.last_order_at > now", {"last_order_at": "2026-01-01T10:00:00+00:00"}, False),
    ("contact.last_order_at >= now", {"last_order_at": "2026-03-02T11:00:00+01:00"}, True),  # the same moment
    ("contact.next_payment_at > now", {"next_payment_at": "2026-04-01"}, True),
    ("contact.last_order_at < now", {"last_order_at": "2026-01-01T10:00:00"}, True),           # no offset: UTC
    ("now - contact.last_order_at > 30d", {"last_order_at": "2026-01-01T00:00:00Z"}, True),
    ("now - contact.last_order_at > 30d", {"last_order_at": "2026-02-20T00:00:00Z"}, False),
    ("now - contact.last_order_at", {"last_order_at": "2026-02-27T09:00:00+01:00"}, timedelta(days=3, hours=2)),
    ("(now - contact.last_order_at) / 1d", {"last_order_at": "2026-01-01T10:00:00Z"}, 60.0),
    ("contact.next_payment_at - 3d", {"next_payment_at": "2026-03-10T09:00:00+01:00"},
     datetime(2026, 3, 7, 8, 0, tzinfo=timezone.utc)),
    ("contact.next_payment_at - 3d", {"next_payment_at": "2026-03-10"}, date(2026, 3, 7)),    # a day stays a day
    ("contact.next_payment_at - 36h", {"next_payment_at": "2026-03-10"}, datetime(2026, 3, 8, 12, 0, tzinfo=timezone.utc)),
    ("contact.next_payment_at - 3d <= now", {"next_payment_at": "2026-03-05"}, True),
    ("now + 2w > contact.renewal_at", {"renewal_at": "2026-03-15"}, True),
    ("contact.renewal_at - contact.signup_at", {"renewal_at": "2026-03-15", "signup_at": "2026-03-01"}, timedelta(days=14)),
    # two dates compare as dates, whatever their offsets: as text, "…10:00…" is after "…09:30…"
    ("contact.a < contact.b", {"a": "2026-03-02T10:00:00+01:00", "b": "2026-03-02T09:30:00+00:00"}, True),
    ("contact.a == contact.b", {"a": "2026-03-02T10:00:00+01:00", "b": "2026-03-02T09:00:00Z"}, True),
    ('contact.birthday == "1990-02-15"', {"birthday": "1990-02-15"}, True),
    # durations kept as ISO 8601 text are durations again
    ("contact.delay == 24h", {"delay": "PT24H"}, True),
    ("contact.delay == 24h", {"delay": "P1D"}, True),
    ("contact.delay > 12h", {"delay": "P1DT12H"}, True),
    ("now + contact.delay", {"delay": "PT24H"}, datetime(2026, 3, 3, 10, 0, tzinfo=timezone.utc)),
    ("contact.delay * 2", {"delay": "PT90M"}, timedelta(hours=3)),
    ("contact.last + contact.delay", {"last": "2026-03-02T10:00:00Z", "delay": "P1D"},
     datetime(2026, 3, 3, 10, 0, tzinfo=timezone.utc)),
    ("-contact.delay", {"delay": "PT24H"}, -timedelta(hours=24)),
    # what is no date stays what it is
    ("contact.city + 1d", {"city": "Paris"}, None),
    ("contact.count < now", {"count": 5}, False),
    ("contact.count > now", {"count": 5}, False),
    ('contact.code + "-x"', {"code": "2026-03-02"}, "2026-03-02-x"),                  # + joins a date to a text
    ('"le " + contact.due', {"due": "2026-03-07"}, "le 2026-03-07"),
    ("contact.d < now", {"d": "2026-02-30"}, False),                                          # no such day
    ("contact.missing < now", {}, False),
    ("contact.missing - 3d", {}, None),
])
def test_dates_and_durations_are_values(functions, text: str, contact: dict, expected: Any) -> None:
    assert evaluate(functions, text, contact) == expected


@pytest.mark.parametrize("text, contact, zone, expected", [
    # NOW, 10:00 UTC on 2 March, is 05:00 on the 2nd in New York and 00:00 on the 3rd at Kiritimati.
    ("days_since(contact.d)", {"d": "2026-03-01"}, "UTC", 1),
    ("days_since(contact.d)", {"d": "2026-03-02"}, "America/New_York", 0),
    ("days_since(contact.d)", {"d": "2026-03-02"}, "Pacific/Kiritimati", 1),
    ("days_since(contact.d)", {"d": "2026-03-03"}, "Pacific/Honolulu", -1),
    ("hours_since(contact.d)", {"d": "2026-03-02"}, "America/New_York", 5),
    ("contact.d <= now", {"d": "2026-03-03"}, "Pacific/Kiritimati", True),                 # it has begun there
    ("contact.d <= now", {"d": "2026-03-03"}, "Europe/Paris", False),
    ("contact.d > contact.m", {"d": "2026-03-02", "m": "2026-03-02T04:30:00Z"}, "America/New_York", True),
    ("contact.d > contact.m", {"d": "2026-03-02", "m": "2026-03-02T04:30:00Z"}, "UTC", False),
    ("now - contact.d", {"d": "2026-03-02"}, "Asia/Kolkata", timedelta(hours=15, minutes=30)),
    ("contact.d + 12h", {"d": "2026-03-02"}, "America/New_York", datetime(2026, 3, 2, 17, 0, tzinfo=timezone.utc)),
    # the contact's own timezone wins over the workspace's; one that is not a zone does not
    ("days_since(contact.d)", {"d": "2026-03-02", "timezone": "Pacific/Kiritimati"}, "America/New_York", 1),
    ("days_since(contact.d)", {"d": "2026-03-02", "timezone": "Mars/Olympus"}, "America/New_York", 0),
])
def test_a_date_without_a_time_is_a_day_in_the_contacts_zone(functions, text: str, contact: dict, zone: str,
                                                             expected: Any) -> None:
    assert evaluate(functions, text, contact, zone=zone) == expected


def test_waited_is_visible_to_steps(functions) -> None:
    assert evaluate(functions, "not waited", waited=False) is True


def test_rule_text_never_becomes_python_names(functions) -> None:
    """A key that looks like Python code stays a dictionary key."""
    compiled = compile_expression(parse('contact.__class__ == "x"', "expression"), functions)
    source = compiled.__doc__ or ""
    assert "['__class__']" in source and ".__class__" not in source
    assert compiled(Scope(contact={"__class__": "x"})) is True


# --------------------------------------------------------------- property test
UTC = timezone.utc
KEYS = ("a", "b", "total", "tags")
# Strings the values are drawn from that read as moments, calendar days and durations, and
# what they read as (moments in UTC): the reference reads strings from this table alone.
TEMPORAL_TEXT = {
    "2026-03-02": date(2026, 3, 2),
    "2026-03-01": date(2026, 3, 1),
    "2026-03-03": date(2026, 3, 3),  # at Kiritimati (+14:00), it starts at NOW
    "2026-03-02T10:00:00+01:00": datetime(2026, 3, 2, 9, 0, tzinfo=UTC),
    "2026-03-02T04:30:00Z": datetime(2026, 3, 2, 4, 30, tzinfo=UTC),  # 2 March in UTC, 1 March in New York
    "2026-03-01T12:00:00-10:00": datetime(2026, 3, 1, 22, 0, tzinfo=UTC),  # 2 March at Kiritimati
    "2026-03-02T10:00:00": datetime(2026, 3, 2, 10, 0, tzinfo=UTC),  # no offset: UTC
    "PT24H": timedelta(hours=24),
    "P1DT12H": timedelta(hours=36),
    "-PT90M": -timedelta(minutes=90),
}
TEXT = ["", "a", "vip", "Paris", "%s", "%y", "2026-02-30", "P"]  # the last two read as nothing
ZONES = ["UTC", "America/New_York", "Asia/Kolkata", "Pacific/Kiritimati"]
DURATIONS = [timedelta(hours=24), timedelta(days=3), timedelta(minutes=90), timedelta(0)]
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-1000, 1000),
    st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False),
    st.sampled_from([0.1, 0.2, 19.9, 80.5, 1.1, -7.5]),  # amounts as written, where binary arithmetic adds noise
    st.sampled_from(TEXT + list(TEMPORAL_TEXT)),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(KEYS), inner, max_size=3)),
    max_leaves=6,
)
records = st.dictionaries(st.sampled_from(KEYS), values, max_size=4)


def literal() -> st.SearchStrategy[s.Expr]:
    return st.one_of(scalars, st.sampled_from(DURATIONS)).map(lambda v: s.Literal(v, (1, 1)))


def path() -> st.SearchStrategy[s.Expr]:
    return st.builds(lambda root, keys: s.Path(root, tuple(keys), (1, 1)),
                     st.sampled_from(["contact", "event"]), st.lists(st.sampled_from(KEYS), min_size=1, max_size=3))


BINARY_OPS = ["and", "or", "==", "!=", "<", "<=", ">", ">=", "in", "not in", "+", "-", "*", "/", "%"]
binary = lambda inner: st.builds(lambda op, a, b: s.Binary(op, a, b, (1, 1)),  # noqa: E731
                                 st.sampled_from(BINARY_OPS), inner, inner)
expressions = st.recursive(
    st.one_of(literal(), path(), path(), st.just(s.Path("now", (), (1, 1)))),
    lambda inner: st.one_of(
        binary(inner), binary(inner), binary(inner), binary(inner),  # operators are what matter most
        st.builds(lambda op, a: s.Unary(op, a, (1, 1)), st.sampled_from(["not", "-"]), inner),
        st.builds(lambda items: s.ListExpr(tuple(items), (1, 1)), st.lists(inner, max_size=2)),
        st.builds(lambda a: s.Call("len", (a,), (1, 1)), inner),
        st.builds(lambda a, b: s.Call("coalesce", (a, b), (1, 1)), inner, inner),
        st.builds(lambda a: s.Call("days_since", (a,), (1, 1)), inner),
    ),
    max_leaves=8,
)


_ORDER = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}
_ARITH = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv, "%": operator.mod}
_FAILS = (TypeError, ValueError, ArithmeticError, MemoryError)


def reference(expr: s.Expr, scope: Scope, functions) -> Any:
    """The language's semantics, written as a plain tree walk: moments in UTC, numbers with a
    fraction as decimals of 28 digits, strings read from TEMPORAL_TEXT."""
    zone = ZoneInfo(scope.zone or "UTC")

    def read(value: Any) -> Any:
        if isinstance(value, str):
            return TEMPORAL_TEXT.get(value, value)
        return value.astimezone(UTC) if isinstance(value, datetime) else value

    def is_day(value: Any) -> bool:
        return type(value) is date

    def day_start(day: date) -> datetime:
        return datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(UTC)

    def aligned(a: Any, b: Any) -> tuple[Any, Any]:
        a, b = read(a), read(b)
        if is_day(a) and isinstance(b, datetime):
            a = day_start(a)
        if is_day(b) and isinstance(a, datetime):
            b = day_start(b)
        return a, b

    def decimal_arithmetic(op: str, a: float, b: float) -> float | None:
        with localcontext(prec=28):
            x, y = (Decimal(repr(v)) if isinstance(v, float) else Decimal(v) for v in (a, b))
            if op == "%":
                result = x % y
                if result != 0 and (result < 0) != (y < 0):
                    result += y
            else:
                result = _ARITH[op](x, y)
        number = float(result)
        return number if math.isfinite(number) else None

    def arithmetic(op: str, a: Any, b: Any) -> Any:
        if a is None or b is None:
            return None
        texts = [isinstance(v, str) and v not in TEMPORAL_TEXT for v in (a, b)]
        joined = op == "+" and isinstance(a, str) and isinstance(b, str) and any(texts)
        if not (joined or (op == "%" and isinstance(a, str))):
            a, b = read(a), read(b)
        numbers = [isinstance(v, (int, float)) for v in (a, b)]
        if all(numbers) and (isinstance(a, float) or isinstance(b, float)):
            return decimal_arithmetic(op, a, b)
        if op == "+" and isinstance(a, timedelta) and isinstance(b, date):
            a, b = b, a
        if op in ("+", "-") and isinstance(a, date) and isinstance(b, timedelta):
            delta = b if op == "+" else -b
            if is_day(a) and delta == timedelta(days=delta.days):
                return a + delta
            return (day_start(a) if is_day(a) else a) + delta
        if op == "-" and isinstance(a, date) and isinstance(b, date):
            a, b = aligned(a, b)
        return _ARITH[op](a, b)

    def ev(e: s.Expr) -> Any:
        if isinstance(e, s.Literal):
            return e.value
        if isinstance(e, s.Path):
            value = {"contact": scope.contact, "event": scope.event, "now": scope.now}[e.root]
            for key in e.keys:
                value = value.get(key) if isinstance(value, dict) else None
            return value
        if isinstance(e, s.ListExpr):
            return [ev(i) for i in e.items]
        if isinstance(e, s.Call):
            function = functions.get(e.name)
            return function.impl(*([scope] if function.uses_scope else []), *[ev(a) for a in e.args])
        if isinstance(e, s.Unary):
            value = ev(e.operand)
            if e.op == "not":
                return not value
            try:
                return -read(value)
            except TypeError:
                return None
        if e.op == "and":
            left = ev(e.left)
            return ev(e.right) if left else left
        if e.op == "or":
            left = ev(e.left)
            return left if left else ev(e.right)
        a, b = ev(e.left), ev(e.right)
        if e.op in ("==", "!="):
            try:
                found = a is b if a is None or b is None else operator.eq(*aligned(a, b))
            except _FAILS:
                found = False
            return found if e.op == "==" else not found
        if e.op in ("in", "not in"):
            try:
                found = b is not None and a in b
            except TypeError:
                found = False
            return found if e.op == "in" else not found
        if e.op in _ORDER:
            try:
                return a is not None and b is not None and _ORDER[e.op](*aligned(a, b))
            except _FAILS:
                return False
        try:
            return arithmetic(e.op, a, b)
        except _FAILS:
            return None
    return ev(expr)


def same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return type(a) is type(b) and a == b


@settings(max_examples=1000, deadline=None)
@given(expr=expressions, contact=records, event=records, zone=st.sampled_from(ZONES))
def test_compiled_expressions_agree_with_the_reference(functions, expr: s.Expr, contact: dict, event: dict,
                                                       zone: str) -> None:
    compiled = compile_expression(expr, functions)
    scope = Scope(contact=contact, event=event, now=NOW, zone=zone)
    assert same(compiled(scope), reference(expr, scope, functions))


# Dates and durations meet each other rarely in the expressions above: here they meet at every node.
def _by_kind(kind: type) -> list[str]:
    return [text for text, value in TEMPORAL_TEXT.items() if type(value) is kind]


temporal_leaves = st.one_of(
    *(st.sampled_from(kind).map(lambda v: s.Literal(v, (1, 1)))
      for kind in (_by_kind(date), _by_kind(datetime), [*_by_kind(timedelta), *DURATIONS], [2, 0.5])),
    st.sampled_from(KEYS).map(lambda key: s.Path("contact", (key,), (1, 1))),
    st.just(s.Path("now", (), (1, 1))),
)


def temporal_binary(ops: list[str], left: st.SearchStrategy[s.Expr],
                    right: st.SearchStrategy[s.Expr]) -> st.SearchStrategy[s.Expr]:
    return st.builds(lambda op, a, b: s.Binary(op, a, b, (1, 1)), st.sampled_from(ops), left, right)


TEMPORAL_OPS = ["==", "!=", "<", "<=", ">", ">=", "+", "-", "*", "/"]
computed = temporal_binary(["+", "-", "*", "/"], temporal_leaves, temporal_leaves)
temporal_expressions = st.one_of(
    temporal_binary(TEMPORAL_OPS, temporal_leaves, temporal_leaves),
    temporal_binary(TEMPORAL_OPS, computed, temporal_leaves),
    temporal_binary(TEMPORAL_OPS, temporal_leaves, computed),
    st.one_of(temporal_leaves, computed).map(lambda a: s.Call("days_since", (a,), (1, 1))),
    temporal_leaves.map(lambda a: s.Unary("-", a, (1, 1))),
)


@settings(max_examples=2000, deadline=None)
@given(expr=temporal_expressions, contact=st.dictionaries(st.sampled_from(KEYS), st.sampled_from(list(TEMPORAL_TEXT))),
       zone=st.sampled_from(ZONES))
def test_dates_and_durations_agree_with_the_reference(functions, expr: s.Expr, contact: dict, zone: str) -> None:
    scope = Scope(contact=contact, now=NOW, zone=zone)
    assert same(compile_expression(expr, functions)(scope), reference(expr, scope, functions))
