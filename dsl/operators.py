"""What the operators of the rule language do with its values.

- Numbers with a fraction compute as decimals: a float is taken as the shortest decimal that
  reads back as it (what JSON wrote), so `19.9 * 3` is 59.7, not 59.699999999999996; the
  result is the nearest float (a JSON number), and none when no float holds it.
- A string that reads as a moment, a calendar day or a duration (see `values`) is one, except
  that `+` joins it to a string that does not, and `%` formats with a string on its left.
- moment ± duration is a moment, moment - moment a duration; a calendar day ± whole days is a
  day, ± a part of a day a moment; a day meeting a moment is the moment the day starts in the
  zone (the contact's, else the workspace's). Durations add, and multiply or divide by numbers.
- Everything else is what Python does. What cannot be computed is none, what cannot be
  compared is false; none meets nothing (`none == none` is true).

Each function takes the zone last; `compile_expression` calls them from the functions it writes.
"""
from __future__ import annotations

import math
import operator
from collections.abc import Callable
from datetime import date, datetime, timedelta, tzinfo
from decimal import Context, Decimal
from typing import Any

from .values import is_day, start_of_day, temporal

# What an operator may raise on odd operands ("%y" % 3, 1 / 0, "a" * 10**12, a year past 9999);
# ArithmeticError covers the decimal module's signals.
ERRORS = (TypeError, ValueError, KeyError, IndexError, ArithmeticError, MemoryError)
_DECIMALS = Context(prec=28)
_DECIMAL_OPS = {"+": _DECIMALS.add, "-": _DECIMALS.subtract, "*": _DECIMALS.multiply, "/": _DECIMALS.divide}
_DAY = timedelta(days=1)


def read(value: Any) -> Any:
    """`value`, or the moment, day or duration it reads as when it is such a string (a datetime
    gets a fixed UTC offset, UTC if it had none)."""
    if isinstance(value, (str, datetime)):
        found = temporal(value)
        return value if found is None else found
    return value


def _aligned(a: Any, b: Any, zone: tzinfo) -> tuple[Any, Any]:
    """Strings read; a day beside a moment becomes the moment it starts."""
    a, b = read(a), read(b)
    if is_day(a) and isinstance(b, datetime):
        a = start_of_day(a, zone)
    elif is_day(b) and isinstance(a, datetime):
        b = start_of_day(b, zone)
    return a, b


def equal(a: Any, b: Any, zone: tzinfo) -> bool:
    """`==`: equal values, strings read as dates and durations first."""
    if a is None or b is None:
        return a is b
    try:
        return bool(operator.eq(*_aligned(a, b, zone)))
    except ERRORS:
        return False


def not_equal(a: Any, b: Any, zone: tzinfo) -> bool:
    return not equal(a, b, zone)


def _ordering(op: Callable[[Any, Any], bool]) -> Callable[[Any, Any, tzinfo], bool]:
    def compare(a: Any, b: Any, zone: tzinfo) -> bool:
        if a is None or b is None:
            return False
        try:
            return bool(op(*_aligned(a, b, zone)))
        except ERRORS:
            return False
    return compare


less, less_equal = _ordering(operator.lt), _ordering(operator.le)
greater, greater_equal = _ordering(operator.gt), _ordering(operator.ge)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float))


def _exact(value: int | float) -> Decimal:
    return Decimal(repr(value)) if isinstance(value, float) else Decimal(value)


def _decimal(op: str, a: int | float, b: int | float) -> float | None:
    x, y = _exact(a), _exact(b)
    if op == "%":  # Python's sign rule: the remainder has the divisor's sign
        result = _DECIMALS.remainder(x, y)
        if result and (result < 0) != (y < 0):
            result = _DECIMALS.add(result, y)
    else:
        result = _DECIMAL_OPS[op](x, y)
    number = float(result)
    return number if math.isfinite(number) else None


def _shift(start: date, delta: timedelta, zone: tzinfo) -> date:
    """A moment or a day moved by a duration: whole days move a day along the calendar."""
    if is_day(start):
        if delta % _DAY == timedelta(0):
            return start + delta
        start = start_of_day(start, zone)
    return start + delta


def _compute(op: str, a: Any, b: Any, zone: tzinfo) -> Any:
    if not (op == "%" and isinstance(a, str)):
        read_a, read_b = read(a), read(b)
        if not (op == "+" and isinstance(a, str) and isinstance(b, str) and (read_a is a or read_b is b)):
            a, b = read_a, read_b
    if _is_number(a) and _is_number(b) and (isinstance(a, float) or isinstance(b, float)):
        return _decimal(op, a, b)
    if op == "+" and isinstance(a, timedelta) and isinstance(b, date):
        a, b = b, a
    if op in "+-" and isinstance(a, date) and isinstance(b, timedelta):
        return _shift(a, b if op == "+" else -b, zone)
    if op == "-" and isinstance(a, date) and isinstance(b, date):
        a, b = _aligned(a, b, zone)
    return _PYTHON[op](a, b)


_PYTHON: dict[str, Callable[[Any, Any], Any]] = {
    "+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv, "%": operator.mod,
}


def _arithmetic(op: str) -> Callable[[Any, Any, tzinfo], Any]:
    def apply(a: Any, b: Any, zone: tzinfo) -> Any:
        if a is None or b is None:
            return None
        try:
            return _compute(op, a, b, zone)
        except ERRORS:
            return None
    return apply


add, subtract, multiply, divide, modulo = (_arithmetic(op) for op in "+-*/%")


def negate(value: Any) -> Any:
    """`-x`: a number or a duration with the other sign; none for anything else."""
    try:
        return -read(value)
    except ERRORS:
        return None
