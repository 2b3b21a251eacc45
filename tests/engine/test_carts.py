"""The cart a contact left (Product Added / Removed, Cart Viewed, Checkout Started) and the products it viewed."""
from __future__ import annotations

from typing import Any

import pytest

from relance.engine.carts import MAX_VIEWED, apply_cart, apply_viewed, product

AT = "2026-03-02T09:00:00+00:00"


def cart_after(*events: tuple[str, dict[str, Any]], attributes: dict[str, Any] | None = None) -> dict[str, Any]:
    attributes = {} if attributes is None else attributes
    for event_type, properties in events:
        apply_cart(attributes, event_type, properties, AT)
    return attributes["last_cart"]


def test_a_product_keeps_its_known_fields_only() -> None:
    assert product({"product_id": "p1", "price": 10, "secret": "x", "name": None}) == {"product_id": "p1", "price": 10}


def test_products_added_are_a_line_each_with_quantities_added_up_and_a_total() -> None:
    cart = cart_after(("product.added", {"product_id": "p1", "price": 10, "cart_id": "c9"}),
                      ("product.added", {"product_id": "p1", "price": 10, "quantity": "2"}),
                      ("product.added", {"sku": "s2", "price": "4.5"}))
    assert [(line.get("product_id", line.get("sku")), line["quantity"]) for line in cart["products"]] == [
        ("p1", 3), ("s2", 1)]
    assert (cart["total"], cart["cart_id"]) == (34.5, "c9")


@pytest.mark.parametrize("removed, left", [({"product_id": "p1", "quantity": 1}, [("p1", 2)]),
                                           ({"product_id": "p1"}, []),           # no quantity: the whole line
                                           ({"product_id": "p1", "quantity": 5}, []),
                                           ({"product_id": "other"}, [("p1", 3)])])
def test_a_product_removed_takes_its_quantity_or_its_line(removed: dict, left: list) -> None:
    cart = cart_after(("product.added", {"product_id": "p1", "price": 10, "quantity": 3}),
                      ("product.removed", removed))
    assert [(line["product_id"], line["quantity"]) for line in cart["products"]] == left
    assert cart["total"] == sum(10 * quantity for _, quantity in left)


def test_a_line_without_a_price_leaves_the_total_out() -> None:
    assert "total" not in cart_after(("product.added", {"product_id": "p1"}))


@pytest.mark.parametrize("event_type", ["checkout.started", "cart.viewed", "cart.updated"])
def test_a_whole_cart_replaces_the_one_built_so_far(event_type: str) -> None:
    attributes: dict[str, Any] = {}
    cart_after(("product.added", {"product_id": "p1", "price": 10}), attributes=attributes)
    cart = cart_after((event_type, {"cart": {"total": 80, "products": [{"product_id": "p7"}] * 60}}),
                      attributes=attributes)
    assert (cart["total"], len(cart["products"]), attributes["last_cart_at"]) == (80, 50, AT)  # 50 lines at most


def test_a_cart_stored_unusable_is_started_again() -> None:
    cart = cart_after(("product.added", {"product_id": "p1", "price": 2}), attributes={"last_cart": "broken"})
    assert cart["products"] == [{"product_id": "p1", "price": 2, "quantity": 1}]


def test_products_viewed_are_kept_newest_first_each_once_up_to_a_limit() -> None:
    attributes: dict[str, Any] = {}
    for product_id in ["p1", "p2", "p1", *(f"x{n}" for n in range(MAX_VIEWED))]:
        apply_viewed(attributes, {"product_id": product_id, "name": product_id.upper()}, AT)
    viewed = [p["product_id"] for p in attributes["recently_viewed"]]
    assert len(viewed) == MAX_VIEWED and viewed[0] == f"x{MAX_VIEWED - 1}"
    attributes = {}
    for product_id in ("p1", "p2", "p1"):
        apply_viewed(attributes, {"product_id": product_id}, AT)
    assert [(p["product_id"], p["viewed_at"]) for p in attributes["recently_viewed"]] == [("p1", AT), ("p2", AT)]
