"""Event names: any name a source sends is a trigger, a goal, an exit or a wait, and means one type."""
from __future__ import annotations

import pytest

from relance.dsl.event_names import canonical_event_type
from relance.engine.events import parse_event

# Segment's e-commerce v2 spec, each event and the type rules and the engine know it by.
SPEC = {
    "Products Searched": "products.searched", "Product List Viewed": "product_list.viewed",
    "Product List Filtered": "product_list.filtered", "Promotion Viewed": "promotion.viewed",
    "Promotion Clicked": "promotion.clicked", "Product Clicked": "product.clicked", "Product Viewed": "product.viewed",
    "Product Added": "product.added", "Product Removed": "product.removed", "Cart Viewed": "cart.viewed",
    "Checkout Started": "checkout.started", "Checkout Step Viewed": "checkout.step_viewed",
    "Checkout Step Completed": "checkout.step_completed", "Payment Info Entered": "payment_info.entered",
    "Order Updated": "order.updated", "Order Completed": "order.completed", "Order Refunded": "order.refunded",
    "Order Cancelled": "order.cancelled", "Coupon Entered": "coupon.entered", "Coupon Applied": "coupon.applied",
    "Coupon Denied": "coupon.denied", "Coupon Removed": "coupon.removed",
    "Product Added to Wishlist": "wishlist.product_added", "Product Removed from Wishlist": "wishlist.product_removed",
    "Wishlist Product Added to Cart": "wishlist.product_added_to_cart", "Product Shared": "product.shared",
    "Cart Shared": "cart.shared", "Product Reviewed": "product.reviewed",
}

NAMES = [  # as written in a rule (YAML), the type the engine gives an event of that name
    ("signup", "signup"),
    ("purchase", "purchase"),
    ("order_completed", "order_completed"),
    ("order.completed", "order.completed"),
    ("sign-up", "sign-up"),
    ("Signup", "signup"),
    ("Order Completed", "order.completed"),
    ("Product Added to Cart", "product.added_to_cart"),
    ("Signed Up", "signed_up"),
    ("Lead Qualified", "lead.qualified"),
    ("Push Notification Received", "push_notification.received"),
    ("Avis Déposé", "avis.déposé"),
    ('"Commande validée"', "commande.validée"),  # in quotes, any text
]


def yaml_text(text: str) -> str:
    return f"'{text}'" if text.startswith('"') else text


@pytest.mark.parametrize("written, event_type", NAMES)
def test_any_event_name_is_a_trigger_a_goal_an_exit_and_a_wait(compile_text, written: str, event_type: str) -> None:
    workspace, problems = compile_text(f"""
        rules:
          - id: r
            when: {yaml_text(written)}
            goal: {yaml_text(written + " within 7d")}
            exit: ['event {written}']
            steps:
              - wait until {written} within 1d
        """)
    assert problems == [], [str(p) for p in problems]
    rule = workspace.rules["r"]
    assert rule.trigger.event_type == event_type
    assert (rule.goals[0].event_type, rule.exits[0].event_type) == (event_type, event_type)
    assert rule.nodes["r/steps/0"].event_type == event_type
    assert [r.id for r in workspace.rules_for(event_type)] == ["r"]
    assert event_type in workspace.event_types


@pytest.mark.parametrize("written, event_type", [n for n in NAMES if not n[0].startswith('"')])
def test_an_event_sent_with_that_name_has_the_same_type(written: str, event_type: str) -> None:
    event = parse_event({"id": "e", "type": written, "at": "2026-03-02T10:00:00Z", "contact": {"email": "a@b.test"}})
    assert event.type == event_type


@pytest.mark.parametrize("name, dotted", SPEC.items())
def test_every_segment_ecommerce_event_maps_to_its_dotted_name(compile_text, name: str, dotted: str) -> None:
    for spelling in (name, name.lower(), name.upper(), "  ".join(name.split())):
        assert canonical_event_type(spelling) == dotted, spelling
    workspace, problems = compile_text(f"rules:\n  - id: r\n    when: {name}\n    steps: [stop]\n"
                                       f"  - id: s\n    when: {dotted}\n    steps: [stop]\n")
    assert problems == []
    assert [r.id for r in workspace.rules_for(dotted)] == ["r", "s"]


def test_the_code_s_table_is_the_spec() -> None:
    from relance.dsl.event_names import SEGMENT_ECOMMERCE

    assert SEGMENT_ECOMMERCE == SPEC


@pytest.mark.parametrize("when, column, message", [
    ("every signup", 17, "unexpected 'signup'"),
    ("signup vip", 18, "unexpected 'vip'; only segment.entered and segment.left take a segment name"),
])
def test_keywords_still_read_as_keywords(compile_text, when: str, column: int, message: str) -> None:
    _, problems = compile_text(f"rules:\n  - id: r\n    when: {when}\n    steps: [stop]\n")
    assert [(p.line, p.column) for p in problems] == [(3, column)]
    assert problems[0].message.startswith(message)
