"""The cart a contact left and the products it looked at, from Segment's e-commerce events.

`last_cart` follows Product Added / Removed (a product a line, quantities added up), and is
replaced by Cart Viewed, cart.updated and Checkout Started; `recently_viewed` keeps the last
products seen (Product Viewed), newest first, each once.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .traits import TraitError, as_number, usable

REPLACING = ("checkout.started", "cart.viewed", "cart.updated")
ADDED, REMOVED, VIEWED = "product.added", "product.removed", "product.viewed"
CART_TYPES = (*REPLACING, ADDED, REMOVED)
PRODUCT_KEYS = ("product_id", "sku", "name", "brand", "variant", "category", "price", "quantity", "currency", "url",
                "image_url")
MAX_PRODUCTS = 50  # lines kept in a cart
MAX_VIEWED = 10


def product(properties: Mapping[str, Any]) -> dict[str, Any]:
    """A product as carts and lists keep it: its known fields only."""
    return {key: properties[key] for key in PRODUCT_KEYS if properties.get(key) is not None}


def _key(line: Mapping[str, Any]) -> str | None:
    found = line.get("product_id", line.get("sku"))
    return None if found is None else str(found)


def _number(value: Any, default: float) -> float:
    try:
        return float(as_number(value))
    except TraitError:
        return default


def _quantity(value: Any) -> int | float:
    number = _number(value, 1)
    return int(number) if number == int(number) else number


def _with_total(cart: dict[str, Any]) -> dict[str, Any]:
    lines = cart.get("products") or []
    if all(isinstance(line, Mapping) and line.get("price") is not None for line in lines):
        cart["total"] = round(sum(_number(line["price"], 0) * _number(line.get("quantity", 1), 1) for line in lines), 2)
    return cart


def apply_cart(attributes: dict[str, Any], event_type: str, properties: Mapping[str, Any], at: str) -> None:
    """A cart event on `last_cart` and `last_cart_at`."""
    if event_type in REPLACING:
        given = properties.get("cart")
        cart = dict(given) if isinstance(given, Mapping) else dict(properties)
        if isinstance(cart.get("products"), list):
            cart["products"] = cart["products"][:MAX_PRODUCTS]
    else:
        cart = dict(usable("last_cart", attributes.get("last_cart")) or {})
        lines = [dict(line) for line in cart.get("products") or [] if isinstance(line, Mapping)]
        item = product(properties)
        key = _key(item)
        same = next((line for line in lines if key is not None and _key(line) == key), None)
        quantity = _quantity(item.get("quantity", 1))
        if event_type == ADDED:
            if same is None:
                lines.append({**item, "quantity": quantity})
            else:
                same["quantity"] = _quantity(same.get("quantity", 1)) + quantity
        elif same is not None:  # Product Removed: its quantity, or the whole line
            had = _quantity(same.get("quantity", 1))
            same["quantity"] = had - quantity if "quantity" in item else 0
            if same["quantity"] <= 0:
                lines.remove(same)
        if properties.get("cart_id") is not None:
            cart["cart_id"] = properties["cart_id"]
        cart["products"] = lines[-MAX_PRODUCTS:]
        cart = _with_total(cart)
    attributes["last_cart"] = cart
    attributes["last_cart_at"] = at


def apply_viewed(attributes: dict[str, Any], properties: Mapping[str, Any], at: str) -> None:
    """A Product Viewed at the head of `recently_viewed` (a product seen again moves up)."""
    item = {**product(properties), "viewed_at": at}
    key = _key(item)
    earlier = [p for p in usable("recently_viewed", attributes.get("recently_viewed")) or []
               if isinstance(p, Mapping) and (key is None or _key(p) != key)]
    attributes["recently_viewed"] = [item, *earlier][:MAX_VIEWED]
