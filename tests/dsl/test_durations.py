"""Durations (dsl/durations.py): compact forms read and written, and the suggestion for a mistyped one."""
from __future__ import annotations

from datetime import timedelta

import pytest

from relance.dsl.durations import MAX_DAYS, format_duration, parse_duration, suggest_duration


@pytest.mark.parametrize("text, expected", [
    ("24h", timedelta(hours=24)),
    ("1d12h", timedelta(hours=36)),
    ("1.5h", timedelta(minutes=90)),
    ("2w", timedelta(days=14)),
    ("30m", timedelta(minutes=30)),
    ("45s", timedelta(seconds=45)),
    ("  3d ", timedelta(days=3)),
    (f"{MAX_DAYS}d", timedelta(days=MAX_DAYS)),
])
def test_compact_durations_read_as_their_length(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["3 d", "3days", "d3", "", "3", "1y", "-1d", "1d 2h"])
def test_anything_but_numbers_and_unit_letters_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="bad duration"):
        parse_duration(text)


def test_a_duration_past_ten_years_is_refused() -> None:
    with pytest.raises(ValueError, match=f"longer than {MAX_DAYS}d"):
        parse_duration(f"{MAX_DAYS + 1}d")


@pytest.mark.parametrize("text, suggestion", [
    ("3 dayz", "3d"), ("2 heures", "2h"), ("30 minutes", "30m"), ("1.5 semaines", "1.5w"),
    ("10 secs", "10s"), ("4 jours", "4d"), ("2 weeks", "2w"),
])
def test_a_number_and_a_unit_word_suggest_the_compact_form(text: str, suggestion: str) -> None:
    assert suggest_duration(text) == suggestion


@pytest.mark.parametrize("text", ["soon", "3 xyzzy", "days 3", ""])
def test_no_suggestion_without_a_number_and_a_unit_word(text: str) -> None:
    assert suggest_duration(text) is None


@pytest.mark.parametrize("delta, text", [
    (timedelta(hours=36), "1d12h"),
    (timedelta(days=14), "2w"),
    (timedelta(days=8), "8d"),
    (timedelta(seconds=90), "1m30s"),
    (timedelta(0), "0s"),
])
def test_format_gives_the_shortest_compact_form(delta: timedelta, text: str) -> None:
    assert format_duration(delta) == text
    assert parse_duration(text) == delta
