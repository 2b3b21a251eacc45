"""When date triggers fall due: a contact's date field is a moment, or a calendar day in its zone.

`1990-02-15` is the 15th of February in the contact's timezone (else the workspace's),
wherever that is; `2026-03-10T09:00:00+01:00` is that moment. A value that is no date, or
one the calendar cannot hold once moved (`0001-01-01T00:00:00+14:00` is in year 0 in UTC),
gives no moment: that contact's trigger is skipped, the pass goes on.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any

from relance.dsl.values import is_day, temporal


def date_field(view: Mapping[str, Any], keys: Sequence[str]) -> date | None:
    """The moment (a datetime) or calendar day (a date) at `keys` in a contact's `view`; None otherwise."""
    value: Any = view
    for key in keys:
        value = value.get(key) if isinstance(value, Mapping) else None
    found = temporal(value)
    return found if isinstance(found, date) else None


def offset_moment(value: date, offset: timedelta, at: time | None, zone: tzinfo) -> datetime | None:
    """`3d before contact.next_payment_at [at 10:00]`: the moment it falls due; None off the calendar.

    From a calendar day the offset counts on the calendar and clock of `zone` (3 days before
    the 11th is the 8th, whatever the clocks did), from midnight unless `at` is given; from
    a moment it is elapsed time, and `at` sets the time of day in `zone`.
    """
    try:
        if is_day(value):
            moment = datetime.combine(value, time(), tzinfo=zone) + offset  # same zone: wall-clock arithmetic
        else:
            moment = value + offset  # type: ignore[assignment]
        if at is not None:
            moment = moment.astimezone(zone).replace(hour=at.hour, minute=at.minute, second=0, microsecond=0)
        return moment
    except (OverflowError, ValueError):
        return None


def yearly_moments(value: date, at: time | None, zone: tzinfo, since: datetime, now: datetime) -> list[datetime]:
    """`yearly on contact.birthday [at 10:00]`: its moments in (since, now], on the value's month
    and day in `zone` (29 February is the 28th in common years), at `at`, else at the value's
    own time of day (midnight for a calendar day)."""
    try:
        if is_day(value):
            day, own = value, time()
        else:
            local = value.astimezone(zone)  # type: ignore[attr-defined]
            day, own = local.date(), local.time()
        hour, minute = (at or own).hour, (at or own).minute
        moments = []
        for year in range(since.astimezone(zone).year, now.astimezone(zone).year + 1):
            try:
                anniversary = day.replace(year=year)
            except ValueError:  # 29 February in a common year
                anniversary = day.replace(year=year, day=28)
            moment = datetime.combine(anniversary, time(hour, minute), tzinfo=zone)
            if since < moment <= now:
                moments.append(moment)
        return moments
    except (OverflowError, ValueError):
        return []
