"""Built-in functions for rule expressions: text, numbers, dates, formatting and lead reading."""
from __future__ import annotations

import math
from typing import Any

from relance.dsl import formats
from relance.dsl.expressions import Scope
from relance.dsl.functions import Function
from relance.dsl.values import is_day, moment, temporal

from .. import hookimpl
from .intent import read_intent


def _since(scope: Scope, value: Any, seconds: int) -> int | None:
    start = moment(value, scope.tz)
    if start is None or scope.now is None:
        return None
    try:
        return math.floor((scope.now - start).total_seconds() / seconds)
    except OverflowError:  # a date at the edge of the calendar
        return None


def days_since(scope: Scope, value: Any) -> int | None:
    """Whole days from `value` to now: `days_since(contact.last_order_at) >= 90`. From a date
    without a time, the days of the calendar in the contact's timezone (else the workspace's)."""
    day = temporal(value)
    if is_day(day) and scope.now is not None:
        return (scope.now.astimezone(scope.tz).date() - day).days  # type: ignore[operator]
    return _since(scope, value, 86400)


def hours_since(scope: Scope, value: Any) -> int | None:
    """Whole hours from `value` to now (from a date without a time: from its start, in the contact's timezone)."""
    return _since(scope, value, 3600)


def length(value: Any) -> int | None:
    try:
        return len(value)
    except TypeError:
        return None


def lower(value: Any) -> str | None:
    return value.lower() if isinstance(value, str) else None


def upper(value: Any) -> str | None:
    return value.upper() if isinstance(value, str) else None


def contains_any(text: Any, words: Any) -> bool:
    """True when `text` contains one of `words`, ignoring case: `contains_any(event.text, ["prix", "tarif"])`."""
    if not isinstance(text, str) or not isinstance(words, (list, tuple)):
        return False
    folded = text.casefold()
    return any(isinstance(w, str) and w.casefold() in folded for w in words)


def coalesce(*values: Any) -> Any:
    """The first value that is not none."""
    return next((v for v in values if v is not None), None)


def _numbers(function: Any) -> Any:
    def apply(*values: Any) -> Any:
        if any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in values):
            return None
        return function(*values)
    apply.__name__ = getattr(function, "__name__", "number")
    return apply


def price(scope: Scope, value: Any, currency: Any = None) -> str:
    """`price(event.cart.total)` → "80,50 €" in fr: in the workspace's locale, rounded to the
    currency's minor unit; the currency is the argument, else the event's, else EUR."""
    code = currency if isinstance(currency, str) and currency else formats.default_currency(scope.event)
    return formats.price(value, code, scope.locale)


def number(scope: Scope, value: Any, pattern: Any = None) -> str:
    """`number(contact.points)` → "1 234,5" in fr; a babel pattern such as "#,##0.00" may follow."""
    return formats.number(value, pattern if isinstance(pattern, str) else None, scope.locale)


def date(scope: Scope, value: Any, pattern: Any = None) -> str:
    """`date(event.at, "long")` → "2 mars 2026" in fr, the day in the contact's timezone;
    short, medium (the default), long, full or a babel pattern such as "d MMMM"."""
    return formats.day(value, pattern if isinstance(pattern, str) else None, scope.locale, scope.tz)


def datetime(scope: Scope, value: Any, pattern: Any = None) -> str:
    """`datetime(event.at, "short")` → "02/03/2026 10:00" in fr, in the contact's timezone."""
    return formats.moment(value, pattern if isinstance(pattern, str) else None, scope.locale, scope.tz)


def _pattern_of(kind: str) -> Any:
    def check(args: Any) -> str | None:
        return formats.date_pattern_problem(kind, args[1]) if len(args) > 1 else None
    return check


def intent(text: Any) -> str | None:
    """Purchase intent of a message: "forte", "moyenne" or "faible" (seed 000, lead reading)."""
    return read_intent(text).intention_achat if isinstance(text, str) else None


def heat(text: Any) -> str | None:
    """Lead heat of a message: "chaud", "tiède" or "froid"."""
    return read_intent(text).lead_chaleur if isinstance(text, str) else None


@hookimpl
def relance_functions() -> list[Function]:
    return [
        Function("days_since", days_since, 1, 1, uses_scope=True, doc=days_since.__doc__ or ""),
        Function("hours_since", hours_since, 1, 1, uses_scope=True, doc=hours_since.__doc__ or ""),
        Function("len", length, 1, 1, doc="Number of items or characters."),
        Function("lower", lower, 1, 1, doc="Text in lower case."),
        Function("upper", upper, 1, 1, doc="Text in upper case."),
        Function("contains_any", contains_any, 2, 2, doc=contains_any.__doc__ or ""),
        Function("coalesce", coalesce, 1, None, doc=coalesce.__doc__ or ""),
        Function("round", _numbers(round), 1, 2, doc="A number rounded, to N decimals if given."),
        Function("abs", _numbers(abs), 1, 1, doc="A number without its sign."),
        Function("min", _numbers(min), 2, None, doc="The smallest of the numbers."),
        Function("max", _numbers(max), 2, None, doc="The largest of the numbers."),
        Function("price", price, 1, 2, uses_scope=True, doc=price.__doc__ or ""),
        Function("number", number, 1, 2, uses_scope=True, doc=number.__doc__ or ""),
        Function("date", date, 1, 2, uses_scope=True, doc=date.__doc__ or "", check=_pattern_of("date")),
        Function("datetime", datetime, 1, 2, uses_scope=True, doc=datetime.__doc__ or "",
                 check=_pattern_of("datetime")),
        Function("intent", intent, 1, 1, doc=intent.__doc__ or ""),
        Function("heat", heat, 1, 1, doc=heat.__doc__ or ""),
    ]
