"""Event type names: any name a source sends, as the rules and the engine know it.

A name with no space and no capital is kept as it is: `signup`, `purchase`,
`order_completed`, `order.completed`, `sign-up`. A name in Segment's style ("Order
Completed", "Product Added to Wishlist") is mapped to a dotted one, the same for an event
the API receives and for a rule that names it: Segment's e-commerce (v2) events by the
table below, any other name by its words, case aside: what it is about, a dot, then what
happened from the verb on (`Lead Qualified` → `lead.qualified`, `Song Added to Playlist`
→ `song.added_to_playlist`, `Signed Up` → `signed_up`).
"""
from __future__ import annotations

import re

# https://segment.com/docs/connections/spec/ecommerce/v2/ — every event of the spec.
SEGMENT_ECOMMERCE = {
    "Products Searched": "products.searched",
    "Product List Viewed": "product_list.viewed",
    "Product List Filtered": "product_list.filtered",
    "Promotion Viewed": "promotion.viewed",
    "Promotion Clicked": "promotion.clicked",
    "Product Clicked": "product.clicked",
    "Product Viewed": "product.viewed",
    "Product Added": "product.added",
    "Product Removed": "product.removed",
    "Cart Viewed": "cart.viewed",
    "Checkout Started": "checkout.started",
    "Checkout Step Viewed": "checkout.step_viewed",
    "Checkout Step Completed": "checkout.step_completed",
    "Payment Info Entered": "payment_info.entered",
    "Order Updated": "order.updated",
    "Order Completed": "order.completed",
    "Order Refunded": "order.refunded",
    "Order Cancelled": "order.cancelled",
    "Coupon Entered": "coupon.entered",
    "Coupon Applied": "coupon.applied",
    "Coupon Denied": "coupon.denied",
    "Coupon Removed": "coupon.removed",
    "Product Added to Wishlist": "wishlist.product_added",
    "Product Removed from Wishlist": "wishlist.product_removed",
    "Wishlist Product Added to Cart": "wishlist.product_added_to_cart",
    "Product Shared": "product.shared",
    "Cart Shared": "cart.shared",
    "Product Reviewed": "product.reviewed",
}
# Words after the verb in "Object Verbed to Something" (also in TITLE_EVENT, dsl/grammar.lark).
SMALL_WORDS = ("to", "from", "in", "into", "on", "for", "with", "of", "by", "up", "out", "off")

_BY_WORDS = {" ".join(name.lower().split()): dotted for name, dotted in SEGMENT_ECOMMERCE.items()}
_KEPT = re.compile(r"^[^\sA-Z]+$")


def canonical_event_type(name: str) -> str:
    """`"Order Completed"` → `"order.completed"`; `signup`, `order.completed` are returned as they are."""
    if _KEPT.match(name):
        return name
    words = name.lower().split()
    known = _BY_WORDS.get(" ".join(words))
    if known is not None:
        return known
    small = next((i for i, word in enumerate(words) if word in SMALL_WORDS), len(words))
    verb = small - 1
    if verb < 1:
        return "_".join(words)
    return "_".join(words[:verb]) + "." + "_".join(words[verb:])
