"""Orders: amounts read from numbers or numeric strings, an order id wherever Segment puts it, the average kept."""
from __future__ import annotations

from typing import Any

import pytest

from relance.engine.orders import amount, average, order_id


@pytest.mark.parametrize("properties, expected", [
    ({"revenue": 19.999}, 20.0),
    ({"total": "19.90"}, 19.9),
    ({"value": 5, "total": 7}, 7.0),                    # revenue, total, value: the first given
    ({"revenue": None, "total": 3}, 3.0),
    ({"order": {"total": "12.5"}}, 12.5),
    ({"total": "a lot"}, None),
    ({}, None),
])
def test_the_amount_of_an_order_event(properties: dict[str, Any], expected: float | None) -> None:
    assert amount(properties) == expected


@pytest.mark.parametrize("properties, expected", [
    ({"order_id": "A-1"}, "A-1"),
    ({"order_id": 42}, "42"),
    ({"order": {"order_id": "B-2"}}, "B-2"),
    ({"order": {"id": "C-3"}}, "C-3"),
    ({"order_id": "  "}, None),
    ({"order_id": True}, None),
    ({"order_id": {"nested": 1}}, None),
    ({"order_id": "x" * 300}, "x" * 200),
])
def test_the_order_id_of_an_order_event(properties: dict[str, Any], expected: str | None) -> None:
    assert order_id(properties) == expected


def test_the_average_order_value_follows_count_and_spend() -> None:
    attributes: dict[str, Any] = {"orders_count": 3, "total_spent": 100}
    average(attributes)
    assert attributes["average_order_value"] == 33.33
    attributes.update(orders_count=0)
    average(attributes)
    assert "average_order_value" not in attributes
    attributes.update(orders_count="bad", average_order_value=9)  # stored before it was checked: no orders then
    average(attributes)
    assert "average_order_value" not in attributes
