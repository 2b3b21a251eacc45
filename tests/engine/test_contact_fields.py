"""The contact fields `relance check` takes as provided are those the engine really gives a contact."""
from __future__ import annotations

from relance.engine.profiles import CONTACT_FIELDS

RULES = """\
workspace: shop
channels: {chat: {plugin: log}}
rules: []
"""


async def test_every_field_the_engine_keeps_is_known(open_shop) -> None:
    shop = await open_shop(RULES)
    for kind, properties in (("order.completed", {"revenue": 10, "order_id": "o1"}),
                             ("checkout.started", {"cart": {"total": 5}}),
                             ("Product Added", {"product_id": "p1", "price": 3}),
                             ("Product Viewed", {"product_id": "p2"}),
                             ("Order Refunded", {"order_id": "o1", "revenue": 10}),
                             ("contact.unsubscribed", {}), ("page.viewed", {})):
        await shop.event(kind, **properties)
    [contact] = [c for c in [await _contact(shop)] if c is not None]
    assert set(contact.view()) - set(CONTACT_FIELDS) == set()


async def _contact(shop):  # type: ignore[no-untyped-def]
    async with shop.engine.store.transaction() as tx:
        return await tx.get_contact(1)


def test_usual_traits_are_known() -> None:
    assert {"first_name", "last_name", "birthday", "timezone", "phone", "email"} <= set(CONTACT_FIELDS)
