"""Stepping: a run's steps until it waits; a reminder wakes it at its version only, at its time."""
from __future__ import annotations

from datetime import datetime, timedelta

from relance.engine.stepping import profile

from .conftest import T0, contact_record
from .test_runs import rule

WAITING = rule("wait 1d\nsend chat ping")


async def waiting_shop(open_shop):  # type: ignore[no-untyped-def]
    """A shop whose run waits a day, and the reminders its engine asked of the queue."""
    shop = await open_shop(WAITING)
    reminders: list[tuple[int, int, datetime]] = []

    async def on_wait(workspace: str, waits) -> None:  # type: ignore[no-untyped-def]
        assert workspace == "shop"
        reminders.extend(waits)

    shop.engine.on_wait = on_wait
    await shop.event("checkout.started")
    return shop, reminders


async def test_a_wait_asks_for_a_reminder_and_only_its_version_wakes_the_run(open_shop) -> None:
    shop, reminders = await waiting_shop(open_shop)
    [(run_id, version, wake_at)] = reminders
    assert wake_at == T0 + timedelta(days=1)
    assert await shop.engine.resume(run_id, version - 1) is False  # stale: the run moved on since
    assert await shop.engine.resume(run_id, version) is True  # early: the (virtual) clock sleeps until its time
    assert shop.clock.now() == wake_at
    await shop.engine.dispatch()
    assert [(e.kind, e.at) for e in shop.effects if e.kind == "message.sent"] == [("message.sent", wake_at)]
    assert await shop.engine.resume(run_id, version) is False  # a duplicate reminder
    [run] = await shop.engine.store.runs("shop")
    assert (run.status, run.version > version, len(shop.channel.sent)) == ("finished", True, 1)


async def test_run_due_wakes_each_due_run_once(open_shop) -> None:
    shop = await open_shop(WAITING)
    for name in ("a", "b"):
        await shop.event("checkout.started", {"email": f"{name}@x.test"})
    shop.clock.set(T0 + timedelta(hours=23))
    assert await shop.engine.run_due() == 0
    shop.clock.set(T0 + timedelta(days=1))
    assert await shop.engine.run_due() == 2
    assert await shop.engine.run_due() == 0
    assert [r.status for r in await shop.engine.store.runs("shop")] == ["finished", "finished"]


def test_profile_is_what_steps_may_change_of_a_contact() -> None:
    contact = contact_record(attributes={"plan": "pro"}, tags=["vip"], score=3)
    before = profile(contact)
    assert before == ({"plan": "pro"}, ["vip"], 3)
    contact.tags.append("hot")
    contact.attributes["plan"] = "free"
    assert profile(contact) != before and before == ({"plan": "pro"}, ["vip"], 3)  # a copy, not a view
