"""Event type names: Segment's e-commerce spec names ("Order Completed") map to dotted ones."""
from __future__ import annotations

import re

# Names of the Segment e-commerce spec whose dotted form is not "object.verb" of their words.
_IRREGULAR = {
    "Product Added to Wishlist": "wishlist.product_added",
    "Product Removed from Wishlist": "wishlist.product_removed",
    "Wishlist Product Added to Cart": "wishlist.product_added_to_cart",
    "Checkout Step Viewed": "checkout.step_viewed",
    "Checkout Step Completed": "checkout.step_completed",
    "Payment Info Entered": "payment_info.entered",
}
DOTTED = re.compile(r"^[a-z_][a-z0-9_]*(?:\.[a-z_][a-z0-9_]*)+$")


def canonical_event_type(name: str) -> str:
    """`"Order Completed"` → `"order.completed"`; dotted names are returned as they are.

    The last word is the verb, the words before it the object: "Product List Viewed"
    → `product_list.viewed`. A name of one word is lower-cased: "Signed Up" needs two.
    """
    name = " ".join(name.split())
    if DOTTED.match(name):
        return name
    if name in _IRREGULAR:
        return _IRREGULAR[name]
    words = [w.lower() for w in re.split(r"[\s_]+", name) if w]
    if len(words) < 2:
        return "_".join(words)
    return "_".join(words[:-1]) + "." + words[-1]
