"""What a customer reads (dsl/formats.py): plain values, and prices, numbers and dates in a locale and zone."""
from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from relance.dsl.formats import (
    amount, date_pattern_problem, day, default_currency, locale_named, moment, number, plain, price,
)

PARIS = ZoneInfo("Europe/Paris")


@pytest.mark.parametrize("value, text", [
    (None, ""), (80.0, "80"), (19.9 * 3, "59.7"), (0.1 + 0.2, "0.3"), (1e20, "100000000000000000000"),
    (Decimal("2.50"), "2.5"), (3, "3"), (True, "True"), ("texte", "texte"),
    (date(2026, 3, 2), "2026-03-02"), (datetime(2026, 3, 2, 9, 30, tzinfo=UTC), "2026-03-02T09:30:00+00:00"),
    (timedelta(hours=36), "P1DT12H"),
])
def test_plain_prints_a_value_without_binary_noise(value: object, text: str) -> None:
    assert plain(value) == text


@pytest.mark.parametrize("value, expected", [
    ("80.50", Decimal("80.50")), (" 3 ", Decimal("3")), (12, 12), (1.5, 1.5),
    (True, None), ("abc", None), (float("nan"), None), (float("inf"), None), (None, None), ([1], None),
])
def test_amount_is_a_finite_number_from_a_number_or_numeric_text(value: object, expected: object) -> None:
    assert amount(value) == expected


def test_prices_round_to_the_currency_in_the_locale() -> None:
    assert price(80.5, "EUR", "fr_FR") == "80,50\xa0€"
    assert price("12", "usd", "en_US") == "$12.00"
    assert price("free", "EUR", "fr_FR") == ""


def test_numbers_in_the_locale_keep_the_decimal_as_written() -> None:
    assert number(1234.5, None, "fr_FR") == "1\u202f234,5"
    assert number(19.9 * 3, None, "en") == "59.7"
    assert number(1234.5, "#,##0.00", "en") == "1,234.50"
    assert number(None, None, "en") == ""


def test_a_day_is_the_day_in_the_contacts_zone() -> None:
    assert day("2026-03-02T23:30:00+00:00", "long", "fr", PARIS) == "3 mars 2026"  # 00:30 in Paris
    assert day(date(2026, 3, 2), "long", "fr-FR", PARIS) == "2 mars 2026"
    assert day("not a date", None, "fr", PARIS) == ""


def test_a_moment_from_a_calendar_day_is_its_midnight() -> None:
    assert moment(date(2026, 3, 2), "short", "fr", PARIS) == "02/03/2026 00:00"
    assert moment(datetime(2026, 3, 2, 9, 0, tzinfo=UTC), "HH:mm", "fr", PARIS) == "10:00"


def test_the_currency_comes_from_the_cart_then_the_event_then_euros() -> None:
    assert default_currency({"cart": {"currency": "USD"}, "currency": "GBP"}) == "USD"
    assert default_currency({"cart": {}, "currency": "GBP"}) == "GBP"
    assert default_currency({"cart": "odd"}) == "EUR"
    assert default_currency(None) == "EUR"


@pytest.mark.parametrize("kind, pattern, bad", [
    ("date", "d MMMM y", False), ("date", "long", False), ("datetime", "short", False),
    ("date", "longg", True), ("date", "EEEE d MMMM 'de' y", False), ("date", 3, False),
])
def test_a_date_pattern_with_stray_letters_is_a_problem(kind: str, pattern: object, bad: bool) -> None:
    problem = date_pattern_problem(kind, pattern)
    assert (problem is not None) is bad
    if bad:
        assert problem == f"bad {kind} format '{pattern}'; use short, medium, long, full or a pattern such as 'd MMMM y'"


def test_locale_names_take_a_dash_or_an_underscore() -> None:
    assert locale_named("fr-FR") == locale_named("fr_FR")
    assert str(locale_named("fr-FR")) == "fr_FR"
