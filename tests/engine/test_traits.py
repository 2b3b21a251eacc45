"""Traits checked at the door: known ones coerced or refused with their pointer, unknown ones kept."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest

from relance.engine.traits import (MAX_TEXT, TraitError, as_moment, as_number, check_amounts, checked_traits,
                                   json_size, usable)


@pytest.mark.parametrize("value, number", [(3, 3), (2.5, 2.5), ("19.90", 19.9), ("-4", -4), (" 7", 7)])
def test_as_number_takes_numbers_and_numeric_strings(value: Any, number: float) -> None:
    assert as_number(value) == number


@pytest.mark.parametrize("value, message", [(True, "expected a number, not true"),
                                            ("1 234,50", 'expected a number, such as 19.90, not "1 234,50"'),
                                            ("nan", "expected a number, a finite one"),
                                            ([1], "expected a number, such as 19.90")])
def test_as_number_refuses_the_rest(value: Any, message: str) -> None:
    with pytest.raises(TraitError) as raised:
        as_number(value)
    assert raised.value.message == message


def test_as_moment_reads_iso_dates_and_times_as_utc() -> None:
    assert as_moment("1990-05-17") == datetime(1990, 5, 17, tzinfo=timezone.utc)
    assert as_moment("2026-03-02T10:00:00+01:00") == datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
    for bad in ("17/05/1990", "1800-01-01", 1990):
        with pytest.raises(TraitError):
            as_moment(bad)


def test_known_traits_are_coerced_and_unknown_ones_kept() -> None:
    traits = checked_traits({"orders_count": "3", "total_spent": "19.999", "first_name": 7, "shoe_size": "42",
                             "birthday": None}, "/contact")
    assert traits == {"orders_count": 3, "total_spent": 20.0, "first_name": "7", "shoe_size": "42", "birthday": None}


@pytest.mark.parametrize("traits, pointer, message", [
    ({"orders_count": 1.5}, "/contact/orders_count", "expected a whole number of orders, 0 or more"),
    ({"unsubscribed": "yes"}, "/contact/unsubscribed", "expected true or false"),
    ({"first_name": "x" * (MAX_TEXT + 1)}, "/contact/first_name", f"at most {MAX_TEXT} characters"),
    ({"last_cart": []}, "/contact/last_cart", "expected an object"),
    ({"total_spent": 1e13}, "/contact/total_spent", "expected an amount under 10^12"),
])
def test_a_known_trait_of_the_wrong_type_is_refused_with_its_pointer(traits: dict, pointer: str, message: str) -> None:
    with pytest.raises(TraitError) as raised:
        checked_traits(traits, "/contact")
    assert (raised.value.pointer, raised.value.message) == (pointer, message)


def test_an_order_events_amount_is_checked_and_other_events_are_not() -> None:
    check_amounts("order.completed", {"total": "19.90"}, "/properties")
    check_amounts("page.viewed", {"total": "lots"}, "/properties")
    with pytest.raises(TraitError) as raised:
        check_amounts("order.refunded", {"revenue": "lots"}, "/properties")
    assert raised.value.pointer == "/properties/revenue"


def test_a_stored_value_that_cannot_be_used_reads_as_none() -> None:
    assert (usable("orders_count", "2"), usable("orders_count", "many"), usable("shoe_size", "42")) == (2, None, "42")


def test_json_size_counts_utf8_bytes_of_compact_json() -> None:
    assert json_size({"a": 1}) == len('{"a":1}')
    assert json_size("é") == 4  # two quotes and two bytes
