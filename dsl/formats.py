"""What a customer reads: any value as text, and prices, numbers and dates in a locale (babel).

Text and HTML templates print `{{ x }}` with `plain` (none is empty, 80.0 is 80, a float
without binary noise, dates and durations in ISO 8601) and format with the same
functions: `price`, `number`, `date` and `datetime`, in the workspace's locale and the
contact's timezone (functions of the expression language; filters and functions in HTML).
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

from babel import Locale
from babel.dates import PATTERN_CHARS, format_date, format_datetime
from babel.numbers import format_currency, format_decimal

from .values import iso_duration, temporal

DEFAULT_CURRENCY = "EUR"
NAMED_FORMATS = ("short", "medium", "long", "full")
_SAMPLE = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
_SIGNIFICANT = 15  # digits a float prints with: what binary arithmetic adds beyond them is noise


def plain(value: Any) -> str:
    """`value` as a placeholder prints it: none is empty, 80.0 is 80, 19.9 * 3 is 59.7."""
    if value is None:
        return ""
    if isinstance(value, (float, Decimal)):
        return _number_text(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, timedelta):
        return iso_duration(value)
    return str(value)


def _number_text(value: float | Decimal) -> str:
    exact = Decimal(format(value, f".{_SIGNIFICANT}g")) if isinstance(value, float) else value
    if not exact.is_finite():
        return str(value)
    if exact == exact.to_integral_value():
        return str(int(exact))
    return format(exact.normalize(), "f")


def amount(value: Any) -> int | float | Decimal | None:
    """A finite number from a number or a numeric string ("80.50"); None otherwise."""
    if isinstance(value, str):
        try:
            value = Decimal(value.strip())
        except InvalidOperation:
            return None
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
        return None
    return value if Decimal(value).is_finite() else None


def day_or_moment(value: Any, zone: tzinfo) -> date | datetime | None:
    """A datetime (in `zone`) or a calendar day from a datetime, a date or ISO 8601 text."""
    found = temporal(value)
    if isinstance(found, datetime):
        return found.astimezone(zone)
    return found if isinstance(found, date) else None


@lru_cache(maxsize=64)
def locale_named(name: str) -> Locale:
    """The babel locale `name` (fr, fr_FR, fr-FR); raises UnknownLocaleError or ValueError."""
    return Locale.parse(name.replace("-", "_"))


def default_currency(event: Any) -> str:
    """The event's currency (`event.cart.currency`, else `event.currency`), else EUR."""
    event = event if isinstance(event, Mapping) else {}
    cart = event.get("cart")
    for currency in (cart.get("currency") if isinstance(cart, Mapping) else None, event.get("currency")):
        if isinstance(currency, str) and currency:
            return currency
    return DEFAULT_CURRENCY


def price(value: Any, currency: str, locale: Locale | str) -> str:
    """`80.5` in EUR → "80,50 €" in fr_FR: rounded to the currency's minor unit; "" for no number."""
    number_ = amount(value)
    if number_ is None:
        return ""
    return format_currency(number_, currency.upper(), locale=_locale(locale))


def number(value: Any, pattern: str | None, locale: Locale | str) -> str:
    """`1234.5` → "1 234,5" in fr_FR; a babel pattern such as "#,##0.00" may be given."""
    number_ = amount(value)
    if number_ is None:
        return ""
    return format_decimal(_exact(number_), format=pattern, locale=_locale(locale))


def day(value: Any, pattern: str | None, locale: Locale | str, zone: tzinfo) -> str:
    """The day of `value` in `zone`: "2 mars 2026" for long in fr; short, medium, long, full or a pattern."""
    found = day_or_moment(value, zone)
    if found is None:
        return ""
    found = found.date() if isinstance(found, datetime) else found
    return format_date(found, format=pattern or "medium", locale=_locale(locale))


def moment(value: Any, pattern: str | None, locale: Locale | str, zone: tzinfo) -> str:
    """`value` in `zone`: "02/03/2026 10:00" for short in fr; a calendar day is its midnight."""
    found = day_or_moment(value, zone)
    if found is None:
        return ""
    if not isinstance(found, datetime):
        found = datetime.combine(found, time(), tzinfo=zone)
    return format_datetime(found, format=pattern or "medium", tzinfo=zone, locale=_locale(locale))


def date_pattern_problem(kind: str, pattern: Any) -> str | None:
    """What is wrong with a `date` or `datetime` format written in a template, if anything."""
    if not isinstance(pattern, str):
        return None
    try:
        if kind == "date":
            format_date(_SAMPLE.date(), pattern, locale="en")
        else:
            format_datetime(_SAMPLE, pattern, tzinfo=UTC, locale="en")
        bad = _stray_letters(pattern)
    except (KeyError, ValueError, AttributeError, TypeError):
        bad = True
    return f"bad {kind} format '{pattern}'; use short, medium, long, full or a pattern such as 'd MMMM y'" \
        if bad else None


def _stray_letters(pattern: str) -> bool:
    """Whether a date pattern (not a named format) has letters outside quotes that are no date
    field: CLDR reserves them, and newer Babel prints them as they are instead of refusing."""
    if pattern in NAMED_FORMATS:
        return False
    unquoted = re.sub(r"'[^']*'", "", pattern)
    return any(c.isascii() and c.isalpha() and c not in PATTERN_CHARS for c in unquoted)


def _locale(locale: Locale | str) -> Locale:
    return locale if isinstance(locale, Locale) else locale_named(locale)


def _exact(value: int | float | Decimal) -> int | Decimal:
    """A float as the decimal it was written as (babel would show 59.699999999999996's digits)."""
    return Decimal(repr(value)) if isinstance(value, float) else value
