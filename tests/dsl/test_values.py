"""Moments, calendar days and durations: read from ISO 8601 text, kept as ISO 8601 text, the same again."""
from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from relance.dsl.values import iso_duration, kept, temporal

UTC = timezone.utc


@pytest.mark.parametrize("text, value", [
    ("2026-03-02", date(2026, 3, 2)),
    ("2026-03-02T10:00:00+01:00", datetime(2026, 3, 2, 9, 0, tzinfo=UTC)),
    ("2026-03-02T10:00:00Z", datetime(2026, 3, 2, 10, 0, tzinfo=UTC)),
    ("2026-03-02 10:00", datetime(2026, 3, 2, 10, 0, tzinfo=UTC)),        # no offset: UTC
    ("2026-03-02T10:00:00.250+05:30", datetime(2026, 3, 2, 4, 30, 0, 250000, tzinfo=UTC)),
    ("PT24H", timedelta(hours=24)),
    ("P1D", timedelta(days=1)),                                          # a day is 24 hours
    ("P2W", timedelta(weeks=2)),
    ("P1DT12H30M", timedelta(hours=36, minutes=30)),
    ("PT1.5S", timedelta(seconds=1.5)),
    ("-PT90M", -timedelta(minutes=90)),
    # not dates, not durations: text
    ("2026-02-30", None), ("20260302", None), ("2026", None), ("P", None), ("PT", None), ("P1DT", None),
    ("P1M", None), ("P1Y", None),                                        # months and years have no fixed length
    ("Paris", None), ("", None), (" 2026-03-02", None), ("2026-03-02" + "x" * 40, None),
])
def test_iso_8601_text_reads_as_a_moment_a_day_or_a_duration(text: str, value: Any) -> None:
    assert temporal(text) == value and type(temporal(text)) is type(value)


@pytest.mark.parametrize("value, stored", [
    (timedelta(hours=24), "P1D"),
    (timedelta(hours=36), "P1DT12H"),
    (timedelta(minutes=90), "PT1H30M"),
    (timedelta(0), "PT0S"),
    (-timedelta(days=3), "-P3D"),
    (timedelta(seconds=0.25), "PT0.25S"),
    (datetime(2026, 3, 2, 10, 0, tzinfo=timezone(timedelta(hours=-5))), "2026-03-02T10:00:00-05:00"),
    (datetime(2026, 3, 2, 10, 0), "2026-03-02T10:00:00+00:00"),           # no zone: UTC
    (date(1990, 2, 15), "1990-02-15"),
    (Decimal("59.70"), 59.7), (Decimal("3"), 3), (Decimal("NaN"), None), (float("inf"), None),
    ({"at": date(2026, 3, 2), "n": [timedelta(hours=1), 2]}, {"at": "2026-03-02", "n": ["PT1H", 2]}),
    ((1, "a", None, True), [1, "a", None, True]),
])
def test_what_a_step_keeps_is_json(value: Any, stored: Any) -> None:
    assert kept(value) == stored


def test_a_value_json_cannot_hold_is_refused_by_name() -> None:
    with pytest.raises(TypeError, match="a set cannot be kept"):
        kept({"tags": {"a", "b"}})


durations = st.timedeltas(min_value=-timedelta(days=3660), max_value=timedelta(days=3660))
moments = st.datetimes(timezones=st.timezones()).filter(lambda m: m.utcoffset() is not None)


@given(value=st.one_of(durations, moments, st.dates()))
def test_kept_text_reads_back_as_the_same_value(value: Any) -> None:
    back = temporal(kept(value))
    assert type(back) is type(value)
    if isinstance(value, datetime):  # the same instant at the same offset (Python's == says False for any
        # two zones when a local time falls in a gap or fold, such as midnight when a DST change starts then)
        assert (back.astimezone(UTC), back.utcoffset()) == (value.astimezone(UTC), value.utcoffset())
    else:
        assert back == value
    if isinstance(value, timedelta):
        assert kept(value) == iso_duration(value)
