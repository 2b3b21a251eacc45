"""When date triggers fall due: moments, and calendar days in the contact's zone, in every zone."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from relance.engine.dates import date_field, offset_moment, yearly_moments

UTC = timezone.utc
ZONES = ["America/New_York", "America/Los_Angeles", "Pacific/Honolulu", "Pacific/Pago_Pago", "UTC",
         "Europe/Paris", "Asia/Kolkata", "Asia/Tokyo", "Pacific/Kiritimati"]


def year_2026(zone: str) -> tuple[datetime, datetime]:
    """(since, now) of a pass covering 2026 in `zone`."""
    return datetime(2025, 12, 31, 23, 59, 30, tzinfo=ZoneInfo(zone)), datetime(2026, 12, 31, 23, 59, tzinfo=ZoneInfo(zone))


@pytest.mark.parametrize("zone", ZONES)
@pytest.mark.parametrize("birthday, at, local", [
    ("1990-02-15", time(10, 0), datetime(2026, 2, 15, 10, 0)),
    ("1990-02-15", None, datetime(2026, 2, 15, 0, 0)),            # a day without `at`: its midnight
    ("1992-02-29", time(9, 30), datetime(2026, 2, 28, 9, 30)),    # a common year: the 28th
    ("1990-12-31", time(23, 59), datetime(2026, 12, 31, 23, 59)),
    ("1990-01-01", time(0, 0), datetime(2026, 1, 1, 0, 0)),
])
def test_a_yearly_day_falls_on_that_day_in_every_zone(zone: str, birthday: str, at: time | None,
                                                       local: datetime) -> None:
    value = date_field({"birthday": birthday}, ("birthday",))
    assert value == date.fromisoformat(birthday)
    [moment] = yearly_moments(value, at, ZoneInfo(zone), *year_2026(zone))
    assert moment.astimezone(ZoneInfo(zone)).replace(tzinfo=None) == local


@pytest.mark.parametrize("zone", ZONES)
def test_a_yearly_moment_keeps_its_month_and_day_in_the_zone(zone: str) -> None:
    """A datetime is a moment: its day is the one it falls on in the zone."""
    value = date_field({"d": "1990-02-15T23:30:00+00:00"}, ("d",))
    [moment] = yearly_moments(value, time(10, 0), ZoneInfo(zone), *year_2026(zone))
    day_there = datetime(1990, 2, 15, 23, 30, tzinfo=UTC).astimezone(ZoneInfo(zone))
    assert (moment.month, moment.day, moment.hour) == (day_there.month, day_there.day, 10)


@pytest.mark.parametrize("zone", ZONES)
@pytest.mark.parametrize("offset, at, due, local", [
    (-timedelta(days=3), time(10, 0), "2026-03-11", datetime(2026, 3, 8, 10, 0)),   # across the US clock change
    (-timedelta(days=3), time(10, 0), "2026-03-31", datetime(2026, 3, 28, 10, 0)),  # across the EU one
    (timedelta(days=90), None, "2026-01-01", datetime(2026, 4, 1, 0, 0)),
    (timedelta(0), time(8, 0), "2026-11-01", datetime(2026, 11, 1, 8, 0)),
])
def test_days_before_and_after_a_day_count_on_the_calendar(zone: str, offset: timedelta, at: time | None,
                                                           due: str, local: datetime) -> None:
    moment = offset_moment(date.fromisoformat(due), offset, at, ZoneInfo(zone))
    assert moment is not None and moment.astimezone(ZoneInfo(zone)).replace(tzinfo=None) == local


def test_an_offset_from_a_moment_is_elapsed_time() -> None:
    moment = offset_moment(datetime(2026, 3, 10, 9, 0, tzinfo=UTC), -timedelta(days=3), None, ZoneInfo("Europe/Paris"))
    assert moment == datetime(2026, 3, 7, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize("value", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:00-12:00"])
def test_a_date_off_the_calendar_gives_no_moment(value: str) -> None:
    found = date_field({"d": value}, ("d",))
    assert found is not None
    assert yearly_moments(found, time(10, 0), ZoneInfo("America/New_York"), *year_2026("America/New_York")) == []
    for offset in (-timedelta(days=3), timedelta(days=3)):
        moment = offset_moment(found, offset, time(10, 0), ZoneInfo("Pacific/Kiritimati"))
        assert moment is None or moment.year in (1, 9999)


@pytest.mark.parametrize("value", [None, "", "soon", 12, "P3D", {"at": "2026-03-02"}, "2026-02-30"])
def test_what_is_no_date_gives_no_date(value: object) -> None:
    assert date_field({"d": value}, ("d",)) is None
