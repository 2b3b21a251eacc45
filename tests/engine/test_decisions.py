"""Why an event did or did not start a rule: recorded per event, in plain words, for `relance why`."""
from __future__ import annotations

from datetime import timedelta

from relance.engine.explain import explain


RULES = """\
workspace: shop
channels: {chat: {plugin: log}}
segments: {vip: contact.score >= 100}
templates: {a: {chat: "a"}}
rules:
  - id: big-cart
    when: checkout.started where event.cart.total >= 20
    steps: [wait 1d, send chat a]
  - id: known
    when: checkout.started
    if: contact.first_name
    entry: once
    steps: [send chat a]
  - id: regular
    when: page.viewed
    entry: after 30d
    steps: [send chat a]
  - id: vip
    when: segment.entered vip
    steps: [send chat a]
"""


async def reasons(shop, event_type: str, **properties) -> dict[str, str]:  # type: ignore[no-untyped-def]
    outcome = await shop.event(event_type, **properties)
    return {e.rule: e.details["reason"] for e in outcome.effects if e.kind == "run.not_started"}


async def test_each_rule_an_event_does_not_start_says_why(open_shop) -> None:
    shop = await open_shop(RULES)
    first = await reasons(shop, "checkout.started", cart={"total": 12})
    assert first["big-cart"] == ("its trigger's condition is false for this event "
                                 "(when: checkout.started where event.cart.total >= 20)")
    assert first["known"] == "its condition is false for this contact (if: contact.first_name)"
    await shop.event("checkout.started", contact={"email": "alice@example.test", "first_name": "Alice"},
                     cart={"total": 80})
    again = await reasons(shop, "checkout.started", cart={"total": 90})
    assert again["big-cart"].startswith("the contact is already in this rule (run 1, waiting): one run at a time")
    assert again["known"].startswith("entry: once, and the contact already entered (run 2,")
    assert await reasons(shop, "page.viewed") == {}
    await shop.wait(timedelta(days=3))
    assert await reasons(shop, "page.viewed") == {"regular": "entry: after 30d: the contact may "
                                                             "enter again from 2026-04-01 09:00"}


async def test_decisions_are_kept_per_contact_and_explained(open_shop) -> None:
    shop = await open_shop(RULES)
    await shop.event("checkout.started", id="small", cart={"total": 12})
    await shop.event("checkout.started", id="big", cart={"total": 50})
    async with shop.engine.store.transaction() as tx:
        decisions = await tx.contact_decisions(1)
        only_cart = await tx.contact_decisions(1, "big-cart")
        runs = await tx.contact_runs(1)
    assert [(d.event_id, d.rule_id, d.started) for d in decisions] == [
        ("small", "big-cart", False), ("small", "known", False), ("big", "big-cart", True), ("big", "known", False)]
    assert [d.event_id for d in only_cart] == ["small", "big"]
    story = "\n".join(explain("alice@example.test", runs, decisions, "UTC"))
    assert "checkout.started small did not start big-cart: its trigger's condition is false" in story
    assert "checkout.started big started big-cart" in story
    assert "run 1 of big-cart" in story and "waiting until 2026-03-03 09:00" in story


async def test_old_decisions_are_forgotten_as_new_events_come(open_shop) -> None:
    shop = await open_shop(RULES)
    await shop.event("checkout.started", id="first", cart={"total": 12})
    await shop.wait(timedelta(days=29))
    await shop.event("page.viewed")
    async with shop.engine.store.transaction() as tx:
        assert [d.event_id for d in await tx.contact_decisions(1)] == ["first", "first", "e1"]
    await shop.wait(timedelta(days=2))
    await shop.event("page.viewed")  # processing events forgets, once an hour, decisions older than 30 days
    async with shop.engine.store.transaction() as tx:
        assert [d.event_id for d in await tx.contact_decisions(1)] == ["e1", "e2"]


async def test_an_erased_contact_leaves_no_decision(open_shop) -> None:
    shop = await open_shop(RULES)
    await shop.event("checkout.started", cart={"total": 12})
    async with shop.engine.store.transaction() as tx:
        await tx.erase_contact(1)
    async with shop.engine.store.transaction() as tx:
        assert await tx.contact_decisions(1) == []
