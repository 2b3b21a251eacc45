"""Contact profiles: identities, merges, e-commerce traits, scoring and segments."""
from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from .conftest import T0

WORKSPACE = """\
workspace: shop
channels: {chat: {plugin: log}}
templates: {ping: {chat: "ping"}}
scoring: {order.completed: +50, page.viewed: +1}
segments:
  buyers: contact.orders_count >= 2
rules:
  - id: relance
    when: checkout.started
    steps: [wait 2d, send chat ping]
  - id: welcome-buyer
    when: segment.entered buyers
    steps: [tag buyer]
"""


async def contact_of(shop, **identity):
    async with shop.engine.store.transaction() as tx:
        [contact] = await tx.find_contacts("shop", list(identity.items()))
    return contact


async def test_one_contact_per_identity(open_shop) -> None:
    shop = await open_shop(WORKSPACE)
    await shop.event("page.viewed", {"email": "Alice@Example.test", "first_name": "Alice"})
    await shop.event("page.viewed", {"email": "alice@example.test"})
    contact = await contact_of(shop, email="alice@example.test")
    assert (contact.score, contact.attributes["first_name"]) == (2, "Alice")


async def test_two_known_identities_in_one_event_merge_the_contacts_keeping_history_and_runs(open_shop) -> None:
    shop = await open_shop(WORKSPACE)
    await shop.event("checkout.started", {"email": "alice@example.test"})  # a run starts for the email
    await shop.event("page.viewed", {"phone": "+33600000001", "external_ids": {"shopify": "7301"}})
    await shop.event("page.viewed", {"email": "alice@example.test", "phone": "+33600000001"})
    merged = await contact_of(shop, phone="+33600000001")
    assert merged.id == (await contact_of(shop, **{"ext:shopify": "7301"})).id == \
        (await contact_of(shop, email="alice@example.test")).id
    assert (merged.email, merged.phone, merged.external_ids, merged.score) == \
        ("alice@example.test", "+33600000001", {"shopify": "7301"}, 2)  # two page views
    assert [e.kind for e in shop.effects if e.kind == "contact.merged"] == ["contact.merged"]
    async with shop.engine.store.transaction() as tx:
        runs = await tx.contact_runs(merged.id)
        events = await tx.contact_events(merged.id, ["page.viewed", "checkout.started"], T0, T0 + timedelta(days=1))
    assert [r.rule_id for r in runs] == ["relance"] and len(events) == 3
    await shop.wait(timedelta(days=3))
    [message] = shop.channel.sent
    assert message.phone == "+33600000001"  # the merged profile's phone


async def test_ecommerce_traits_from_segment_names(open_shop) -> None:
    shop = await open_shop(WORKSPACE)
    await shop.event("Checkout Started", cart={"total": 80, "products": [{"sku": "A"}]})
    await shop.event("Order Completed", at=T0 + timedelta(hours=1), revenue=80)
    await shop.event("Order Completed", at=T0 + timedelta(days=3), revenue=40)
    contact = await contact_of(shop, email="alice@example.test")
    traits = {k: contact.attributes[k] for k in ("orders_count", "total_spent", "average_order_value",
                                                 "first_order_at", "last_order_at", "last_cart")}
    assert traits == {"orders_count": 2, "total_spent": 120.0, "average_order_value": 60.0,
                      "first_order_at": (T0 + timedelta(hours=1)).isoformat(),
                      "last_order_at": (T0 + timedelta(days=3)).isoformat(),
                      "last_cart": {"total": 80, "products": [{"sku": "A"}]}}
    assert contact.score == 100


async def test_entering_a_segment_is_an_event_rules_can_start_on(open_shop) -> None:
    shop = await open_shop(WORKSPACE)
    await shop.event("order.completed", revenue=10)
    assert shop.kinds("tag.added") == []
    await shop.event("order.completed", at=T0 + timedelta(days=1), revenue=10)
    assert [(e.rule, e.details["value"]) for e in shop.kinds("tag.added")] == [("welcome-buyer", "buyer")]
    contact = await contact_of(shop, email="alice@example.test")
    assert contact.segments == ["buyers"]


async def test_a_merge_keeps_one_active_run_per_rule(open_shop) -> None:
    shop = await open_shop(WORKSPACE)
    await shop.event("checkout.started", {"email": "alice@example.test"})
    await shop.event("checkout.started", {"phone": "+33600000001"})
    await shop.event("page.viewed", {"email": "alice@example.test", "phone": "+33600000001"})
    await shop.wait(timedelta(days=3))
    assert len(shop.channel.sent) == 1
    runs = await shop.engine.store.runs("shop", "relance")
    assert sorted(r.status for r in runs) == ["cancelled", "finished"]


async def test_a_segment_entry_interrupted_by_a_crash_is_not_lost(open_shop) -> None:
    shop = await open_shop(WORKSPACE)
    await shop.event("order.completed", revenue=10)
    real_intake = shop.engine._intake

    async def die_on_segment(record, outcome):  # type: ignore[no-untyped-def]
        if record.type == "segment.entered":
            raise SystemExit("killed after the order committed")
        return await real_intake(record, outcome)

    shop.engine._intake = die_on_segment  # type: ignore[method-assign]
    with pytest.raises(SystemExit):
        await shop.engine.ingest(shop.make_event("order.completed", at=T0 + timedelta(days=1), revenue=10))
    shop.engine._intake = real_intake  # type: ignore[method-assign]
    shop.engine._lock = asyncio.Lock()  # the process that held it is gone
    assert (await contact_of(shop, email="alice@example.test")).segments == []
    await shop.engine.process_inbox()  # at restart: the segment event waits in the inbox
    assert [(e.rule, e.details["value"]) for e in shop.kinds("tag.added")] == [("welcome-buyer", "buyer")]
    assert (await contact_of(shop, email="alice@example.test")).segments == ["buyers"]
