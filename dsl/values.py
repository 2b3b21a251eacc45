"""The rule language's values beyond JSON: moments, calendar days and durations, and how they are kept.

Profiles and events carry them as ISO 8601 text, and the store keeps them so (`kept`):
a moment `2026-03-02T10:00:00+01:00` (without an offset, UTC), a calendar day
`1990-02-15`, a duration `PT24H` or `P1DT12H` (a day is 24 hours; weeks, days, hours,
minutes and seconds, no months or years). A string that reads as one of them is one
wherever an operator meets it (`values.temporal`). A calendar day is a day in the
contact's timezone, else the workspace's: it starts at that zone's midnight.
"""
from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo
from decimal import Decimal
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

Temporal = datetime | date | timedelta

_LONGEST = 48  # characters of the longest ISO 8601 text read here (2026-03-02T10:00:00.123456+01:00:00.123456)
_DAY_START = re.compile(r"\d{4}-\d{2}-\d{2}")
_DURATION = re.compile(r"(-?)P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?")


def zone_named(name: Any) -> tzinfo | None:
    """The IANA timezone called `name` (Europe/Paris), or None when there is none."""
    return _zone(name) if isinstance(name, str) and name else None


@lru_cache(maxsize=512)
def _zone(name: str) -> tzinfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None


def temporal(value: Any) -> Temporal | None:
    """`value` as a moment (timezone-aware), a calendar day or a duration; None when it is none of them."""
    if isinstance(value, datetime):
        return _fixed(value)
    if isinstance(value, (date, timedelta)):
        return value
    if isinstance(value, str) and len(value) <= _LONGEST:
        return _read(value)
    return None


def is_day(value: Any) -> bool:
    """A calendar day (a date), not a moment (a datetime is a date too, in Python)."""
    return isinstance(value, date) and not isinstance(value, datetime)


def start_of_day(day: date, zone: tzinfo) -> datetime:
    """The moment `day` starts in `zone`, with that moment's UTC offset."""
    offset = datetime.combine(day, time(), tzinfo=zone).utcoffset() or timedelta(0)
    return datetime.combine(day, time(), tzinfo=timezone(offset))


def moment(value: Any, zone: tzinfo) -> datetime | None:
    """`value` as a moment: a calendar day is its start in `zone`; None for a duration or anything else."""
    found = temporal(value)
    if isinstance(found, datetime):
        return found
    if isinstance(found, date):
        return start_of_day(found, zone)
    return None


def iso_duration(delta: timedelta) -> str:
    """A duration in ISO 8601: 36 hours → `P1DT12H`, 90 minutes → `PT1H30M`; a negative one starts with `-`."""
    sign, delta = ("-", -delta) if delta < timedelta(0) else ("", delta)
    hours, rest = divmod(delta.seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    clock = "".join(f"{n}{unit}" for n, unit in ((hours, "H"), (minutes, "M")) if n)
    if seconds or delta.microseconds:
        clock += f"{seconds}.{delta.microseconds:06d}".rstrip("0").rstrip(".") + "S"
    text = (f"{delta.days}D" if delta.days else "") + (f"T{clock}" if clock else "")
    return f"{sign}P{text or 'T0S'}"


def kept(value: Any) -> Any:
    """`value` as the store keeps it, in JSON: moments, days and durations as ISO 8601 text (read
    back as the same kind wherever they meet one), numbers as numbers (none if not finite).

    Raises TypeError for a value JSON cannot hold (an object a plugin function returned).
    """
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Decimal):  # from a plugin's function
        if not value.is_finite():
            return None
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, datetime):
        return _fixed(value).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, timedelta):
        return iso_duration(value)
    if isinstance(value, (list, tuple)):
        return [kept(item) for item in value]
    if isinstance(value, Mapping):
        return {str(key): kept(item) for key, item in value.items()}
    raise TypeError(f"a {type(value).__name__} cannot be kept; a field holds text, a number, true or false, "
                    "a date, a duration, a list or a mapping")


def _fixed(value: datetime) -> datetime:
    """An aware datetime with a fixed UTC offset: arithmetic on it counts elapsed time.

    (Python adds a duration to a datetime in a named zone on the wall clock, and compares
    two such datetimes by their wall-clock times.) Without a zone, UTC.
    """
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    if isinstance(value.tzinfo, timezone):
        return value
    return value.replace(tzinfo=timezone(value.utcoffset() or timedelta(0)))


@lru_cache(maxsize=4096)
def _read(text: str) -> Temporal | None:
    if _DAY_START.match(text):
        try:
            return date.fromisoformat(text) if len(text) == 10 else _fixed(datetime.fromisoformat(text))
        except ValueError:
            return None
    match = _DURATION.fullmatch(text)
    if match is None or not any(match.groups()[1:]) or text.endswith("T"):
        return None
    weeks, days, hours, minutes, seconds = (float(part) if part else 0.0 for part in match.groups()[1:])
    try:
        delta = timedelta(weeks=weeks, days=days, hours=hours, minutes=minutes, seconds=seconds)
    except OverflowError:
        return None
    return -delta if match.group(1) else delta
