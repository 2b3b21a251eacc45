"""Contact traits the engine reads or keeps itself, checked at the door so that no stored value
can stop a later event, a timed pass or a send.

A known trait of the wrong type is refused with its JSON pointer; a number sent as a numeric
string (`"19.90"`, as many shops send) is taken as that number. Unknown traits are kept as
sent, within the size limits below.
"""
from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from datetime import date, datetime, timezone
from typing import Any

MAX_TRAITS_BYTES = 16 * 1024  # the traits one event may carry, as JSON
MAX_PROFILE_BYTES = 64 * 1024  # a contact's stored attributes, as JSON
MAX_TEXT = 500  # characters of a name-like trait
ORDER_EVENTS = ("order.completed", "order.refunded", "order.cancelled", "order.canceled")
AMOUNT_KEYS = ("revenue", "total", "value")  # an order event's amount: Segment's e-commerce names, in that order
EARLIEST, LATEST = datetime(1900, 1, 1, tzinfo=timezone.utc), datetime(3000, 1, 1, tzinfo=timezone.utc)


class TraitError(ValueError):
    """A trait value that cannot be used; the message says what would be right, `pointer` where."""

    def __init__(self, message: str, pointer: str = "") -> None:
        super().__init__(message)
        self.message, self.pointer = message, pointer


def as_number(value: Any, what: str = "a number") -> float | int:
    """A finite number from a number or a numeric string ("19.90", "1 234,50" is refused)."""
    if isinstance(value, bool):
        raise TraitError(f"expected {what}, not {json.dumps(value)}")
    if isinstance(value, str):
        try:
            number: float | int = int(value) if value.strip().lstrip("-").isdigit() else float(value)
        except ValueError:
            raise TraitError(f"expected {what}, such as 19.90, not {json.dumps(value[:40], ensure_ascii=False)}") from None
    elif isinstance(value, (int, float)):
        number = value
    else:
        raise TraitError(f"expected {what}, such as 19.90")
    if isinstance(number, float) and not math.isfinite(number):
        raise TraitError(f"expected {what}, a finite one")
    return number


def _count(value: Any) -> int:
    number = as_number(value, "a whole number of orders")
    if number < 0 or number != int(number):
        raise TraitError("expected a whole number of orders, 0 or more")
    return int(number)


def _amount(value: Any) -> float:
    number = as_number(value, "an amount")
    if abs(number) > 1e12:
        raise TraitError("expected an amount under 10^12")
    return round(float(number), 2)


def as_moment(value: Any) -> datetime:
    """A time between the years 1900 and 3000 from an ISO 8601 string (a date alone is midnight UTC)."""
    if not isinstance(value, str):
        raise TraitError("expected an ISO 8601 date or time such as 1990-05-17 or 2026-03-02T10:00:00+01:00")
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        moment = (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).astimezone(timezone.utc)
    except (ValueError, OverflowError):
        raise TraitError(f"'{value}' is not an ISO 8601 date or time such as 1990-05-17") from None
    if not EARLIEST <= moment < LATEST:
        raise TraitError(f"'{value}' is outside the years 1900 to 2999")
    return moment


def _time(value: Any) -> str:
    as_moment(value)
    return value


def _date(value: Any) -> str:
    if isinstance(value, (date, datetime)):
        value = value.isoformat()
    as_moment(value)
    return value


def _text(value: Any) -> str:
    if not isinstance(value, (str, int, float)) or isinstance(value, bool):
        raise TraitError("expected a string")
    text = str(value)
    if len(text) > MAX_TEXT:
        raise TraitError(f"at most {MAX_TEXT} characters")
    return text


def _flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise TraitError("expected true or false")
    return value


def _object(value: Any) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise TraitError("expected an object")
    return dict(value)


def _list(value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise TraitError("expected a list")
    return value


KNOWN: dict[str, Callable[[Any], Any]] = {
    "orders_count": _count, "total_spent": _amount, "average_order_value": _amount,
    "first_order_at": _time, "last_order_at": _time, "last_seen_at": _time, "last_cart_at": _time,
    "birthday": _date, "first_name": _text, "last_name": _text, "name": _text,
    "unsubscribed": _flag, "last_cart": _object, "recently_viewed": _list,
}


def checked_traits(traits: Mapping[str, Any], pointer: str) -> dict[str, Any]:
    """`traits` with known ones coerced to their type; raises TraitError naming `pointer/KEY`."""
    result = dict(traits)
    for key, value in traits.items():
        check = KNOWN.get(key)
        if check is None or value is None:
            continue
        try:
            result[key] = check(value)
        except TraitError as error:
            raise TraitError(error.message, f"{pointer}/{key}") from None
    return result


def check_amounts(event_type: str, properties: Mapping[str, Any], pointer: str) -> None:
    """An order event's amount is a number or a numeric string (raises TraitError naming it)."""
    if event_type not in ORDER_EVENTS:
        return
    for key in AMOUNT_KEYS:
        if properties.get(key) is not None:
            try:
                _amount(properties[key])
            except TraitError as error:
                raise TraitError(error.message, f"{pointer}/{key}") from None


def usable(key: str, value: Any) -> Any:
    """The stored value of a known trait if it can be used, else None (stored before it was checked)."""
    check = KNOWN.get(key)
    if check is None or value is None:
        return value
    try:
        return check(value)
    except TraitError:
        return None


def json_size(value: Any) -> int:
    """Bytes of `value` as stored (compact JSON)."""
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str).encode("utf-8",
                                                                                                "surrogatepass"))
