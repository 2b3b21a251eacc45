"""Contact profiles: identities, merges, e-commerce traits, scoring and segments."""
from __future__ import annotations

import asyncio
import json
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
    real_intake = shop.engine.intake.take_event

    async def die_on_segment(tx, event, *rest):  # type: ignore[no-untyped-def]
        if event.type == "segment.entered":
            raise SystemExit("killed while the segment event is processed")
        return await real_intake(tx, event, *rest)

    shop.engine.intake.take_event = die_on_segment  # type: ignore[method-assign]
    with pytest.raises(SystemExit):
        await shop.engine.ingest(shop.make_event("order.completed", at=T0 + timedelta(days=1), revenue=10))
    shop.engine.intake.take_event = real_intake  # type: ignore[method-assign]
    shop.engine.lock = asyncio.Lock()  # the process that held it is gone
    assert (await contact_of(shop, email="alice@example.test")).segments == []
    await shop.engine.process_inbox()  # at restart: the segment event waits in the inbox
    assert [(e.rule, e.details["value"]) for e in shop.kinds("tag.added")] == [("welcome-buyer", "buyer")]
    assert (await contact_of(shop, email="alice@example.test")).segments == ["buyers"]


ORDERS = """\
workspace: shop
channels: {chat: {plugin: log}}
templates: {ping: {chat: "ping"}, anniversaire: {chat: "Bon anniversaire"}}
rules:
  - id: relance
    when: checkout.started
    goal: order.completed within 7d
    steps: [wait 2d, send chat ping]
  - id: anniversaire
    when: yearly on contact.birthday at 10:00
    steps: [send chat anniversaire]
"""


async def traits(shop, **identity):
    return (await contact_of(shop, **identity)).attributes


async def test_an_order_is_counted_once_by_its_order_id_and_string_amounts_are_read(open_shop) -> None:
    shop = await open_shop(ORDERS)
    await shop.event("checkout.started")
    await shop.event("Order Completed", at=T0 + timedelta(hours=1), order_id="A-1", revenue="19.90")
    await shop.event("Order Completed", at=T0 + timedelta(hours=1, minutes=5), order_id="A-1", revenue="19.90")
    await shop.event("Order Completed", at=T0 + timedelta(hours=2), order_id=1002, total=" 30 ")
    found = await traits(shop, email="alice@example.test")
    assert (found["orders_count"], found["total_spent"], found["average_order_value"]) == (2, 49.9, 24.95)
    [run] = await shop.engine.store.runs("shop", "relance")
    assert (run.status, run.revenue) == ("goal", 19.9)


async def test_refunds_and_cancellations_take_back_spend_and_the_conversion(open_shop) -> None:
    shop = await open_shop(ORDERS)
    await shop.event("checkout.started")
    await shop.event("Order Completed", at=T0 + timedelta(hours=1), order_id="A-1", revenue=80)
    await shop.event("Order Completed", at=T0 + timedelta(hours=2), order_id="A-2", revenue=20)
    await shop.event("Order Refunded", at=T0 + timedelta(days=1), order_id="A-1", revenue=30)  # a partial refund
    found = await traits(shop, email="alice@example.test")
    assert (found["orders_count"], found["total_spent"]) == (2, 70.0)
    [run] = await shop.engine.store.runs("shop", "relance")
    assert run.revenue == 50.0
    await shop.event("Order Cancelled", at=T0 + timedelta(days=2), order_id="A-1")
    await shop.event("Order Refunded", at=T0 + timedelta(days=3), order_id="A-1", revenue=10)  # nothing left
    await shop.event("Order Cancelled", at=T0 + timedelta(days=3), order_id="unknown")
    found = await traits(shop, email="alice@example.test")
    assert (found["orders_count"], found["total_spent"], found["average_order_value"]) == (1, 20.0, 20.0)
    [run] = await shop.engine.store.runs("shop", "relance")
    assert run.revenue == 0.0


async def test_the_cart_follows_products_added_and_removed(open_shop) -> None:
    shop = await open_shop(ORDERS)
    await shop.event("Product Added", cart_id="c1", product_id="A", name="Bougie", price=12.5)
    await shop.event("Product Added", cart_id="c1", product_id="B", name="Savon", price="4", quantity=2)
    await shop.event("Product Added", cart_id="c1", product_id="A", name="Bougie", price=12.5)
    cart = (await traits(shop, email="alice@example.test"))["last_cart"]
    assert [(p["product_id"], p["quantity"]) for p in cart["products"]] == [("A", 2), ("B", 2)]
    assert (cart["cart_id"], cart["total"]) == ("c1", 33.0)
    await shop.event("Product Removed", cart_id="c1", product_id="B", quantity=1)
    await shop.event("Product Removed", cart_id="c1", product_id="A")
    cart = (await traits(shop, email="alice@example.test"))["last_cart"]
    assert ([(p["product_id"], p["quantity"]) for p in cart["products"]], cart["total"]) == ([("B", 1)], 4.0)
    await shop.event("Cart Viewed", cart_id="c2", products=[{"product_id": "C", "price": 9}])
    cart = (await traits(shop, email="alice@example.test"))["last_cart"]
    assert (cart["cart_id"], [p["product_id"] for p in cart["products"]]) == ("c2", ["C"])


async def test_products_viewed_are_kept_newest_first_each_once(open_shop) -> None:
    shop = await open_shop(ORDERS)
    for n in [*range(12), 3]:
        await shop.event("Product Viewed", at=T0 + timedelta(minutes=n), product_id=f"p{n}", name=f"n{n}",
                         description="not kept")
    viewed = (await traits(shop, email="alice@example.test"))["recently_viewed"]
    assert [p["product_id"] for p in viewed] == ["p3", "p11", "p10", "p9", "p8", "p7", "p6", "p5", "p4", "p2"]
    assert set(viewed[0]) == {"product_id", "name", "viewed_at"}


async def test_after_a_merge_the_first_order_is_the_earliest_of_both(open_shop) -> None:
    shop = await open_shop(ORDERS)
    await shop.event("page.viewed", {"email": "alice@example.test"})  # the older contact survives the merge
    await shop.event("Order Completed", {"phone": "+33600000001"}, at=T0 + timedelta(hours=1), order_id="1", revenue=10)
    await shop.event("Order Completed", {"email": "alice@example.test"}, at=T0 + timedelta(days=2), order_id="2",
                     revenue=30)
    await shop.event("page.viewed", {"email": "alice@example.test", "phone": "+33600000001"},
                     at=T0 + timedelta(days=3))
    found = await traits(shop, email="alice@example.test")
    assert (found["orders_count"], found["total_spent"], found["first_order_at"], found["last_order_at"]) == \
        (2, 40.0, (T0 + timedelta(hours=1)).isoformat(), (T0 + timedelta(days=2)).isoformat())
    await shop.event("Order Completed", {"phone": "+33600000001"}, at=T0 + timedelta(days=4), order_id="1", revenue=10)
    assert (await traits(shop, email="alice@example.test"))["orders_count"] == 2  # order 1 moved with its contact


@pytest.mark.parametrize("bad", [{"orders_count": "x"}, {"total_spent": "a lot"}, {"orders_count": None},
                                 {"last_order_at": "yesterday"}, {"last_cart": [1]}])
async def test_a_trait_stored_before_it_was_checked_does_not_stop_later_orders(open_shop, bad: dict) -> None:
    shop = await open_shop(ORDERS)
    await shop.event("checkout.started")
    async with shop.engine.store.transaction() as tx:  # a value from before the checks at the door
        contact = (await tx.find_contacts("shop", [("email", "alice@example.test")]))[0]
        contact.attributes.update(bad)
        await tx.save_contact(contact)
    await shop.event("Order Completed", at=T0 + timedelta(hours=1), order_id="A-1", revenue=25)
    await shop.event("Product Added", at=T0 + timedelta(hours=2), product_id="A", price=5)
    assert shop.kinds("event.failed") == []
    [run] = await shop.engine.store.runs("shop", "relance")
    assert (run.status, run.revenue) == ("goal", 25.0)
    assert (await traits(shop, email="alice@example.test"))["orders_count"] in (1, 2)


async def test_a_birthday_no_date_can_hold_does_not_cost_another_contact_its_message(open_shop) -> None:
    shop = await open_shop(ORDERS)
    await shop.event("page.viewed", {"email": "bad@example.test"})
    await shop.event("page.viewed", {"email": "good@example.test", "birthday": "1990-03-03"})
    async with shop.engine.store.transaction() as tx:  # stored before birthdays were checked at the door
        contact = (await tx.find_contacts("shop", [("email", "bad@example.test")]))[0]
        contact.attributes["birthday"] = "0001-01-01T00:00:00+14:00"
        await tx.save_contact(contact)
    await shop.wait(timedelta(days=2))
    assert [m.template for m in shop.channel.sent] == ["anniversaire"]
    assert shop.channel.sent[0].email == "good@example.test"


async def test_a_contact_profile_stays_under_its_size_limit(open_shop) -> None:
    shop = await open_shop(ORDERS)
    for n in range(12):  # 12 events of 15 KB of new traits each: 180 KB if all were kept
        await shop.event("page.viewed", {"email": "alice@example.test", f"note_{n}": "x" * 15_000})
    await shop.event("Order Completed", revenue=5, order_id="o")
    contact = await contact_of(shop, email="alice@example.test")
    assert len(json.dumps(contact.attributes)) <= 64 * 1024
    assert contact.attributes["orders_count"] == 1 and "note_0" in contact.attributes and "note_11" not in contact.attributes
    assert shop.kinds("event.failed") == []
