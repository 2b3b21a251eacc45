"""What operators do with rule values (dsl/operators.py): decimals, dates and durations, none-safe."""
from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from relance.dsl import operators as op

PARIS = ZoneInfo("Europe/Paris")


def test_fractions_compute_as_the_decimals_written() -> None:
    assert op.multiply(19.9, 3, PARIS) == 59.7
    assert op.add(0.1, 0.2, PARIS) == 0.3
    assert op.modulo(-7.5, 2, PARIS) == 0.5  # Python's sign rule: the divisor's sign
    assert op.add(1e308, 1e308, PARIS) is None  # no float holds it


def test_what_cannot_be_computed_is_none_and_none_meets_nothing() -> None:
    assert op.divide(1, 0, PARIS) is None
    assert op.add("1", 2, PARIS) is None
    assert op.add(None, 2, PARIS) is None
    assert op.negate("x") is None


def test_what_cannot_be_compared_is_false_and_none_equals_only_none() -> None:
    assert op.less("a", 1, PARIS) is False
    assert op.greater(None, 1, PARIS) is False
    assert op.equal(None, None, PARIS) is True
    assert op.equal(None, 0, PARIS) is False
    assert op.not_equal(None, 0, PARIS) is True


def test_strings_read_as_days_moments_and_durations() -> None:
    assert op.equal("2026-03-02", date(2026, 3, 2), PARIS)
    assert op.subtract("2026-03-02T10:00:00+00:00", "2026-03-02T09:00:00Z", PARIS) == timedelta(hours=1)
    assert op.negate("PT1H") == timedelta(hours=-1)
    assert op.read("2026-03-02") == date(2026, 3, 2)
    assert op.read("hello") == "hello"


def test_plus_joins_a_date_string_to_text_and_percent_formats() -> None:
    assert op.add("2026-03-02", "x", PARIS) == "2026-03-02x"
    assert op.modulo("%s!", "x", PARIS) == "x!"


def test_whole_days_move_a_day_along_the_calendar_and_hours_make_a_moment() -> None:
    assert op.add(date(2026, 3, 2), timedelta(days=1), PARIS) == date(2026, 3, 3)
    assert op.add(timedelta(days=1), date(2026, 3, 2), PARIS) == date(2026, 3, 3)
    assert op.add(date(2026, 3, 2), timedelta(hours=2), PARIS) == datetime(2026, 3, 2, 2, 0, tzinfo=PARIS)
    assert op.multiply(timedelta(hours=1), 3, PARIS) == timedelta(hours=3)


def test_a_day_meeting_a_moment_is_the_moment_it_starts_in_the_zone() -> None:
    paris_midnight = datetime(2026, 3, 1, 23, 0, tzinfo=UTC)
    assert op.equal(date(2026, 3, 2), paris_midnight, PARIS)
    assert op.subtract(date(2026, 3, 2), paris_midnight, PARIS) == timedelta(0)
    assert op.less(date(2026, 3, 2), paris_midnight, ZoneInfo("UTC")) is False
    assert op.greater_equal(date(2026, 3, 2), paris_midnight, PARIS) is True
