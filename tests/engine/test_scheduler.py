"""The in-process scheduler on a virtual clock: due steps fire on time, once."""
from __future__ import annotations

import asyncio
from datetime import timedelta

from relance.engine.scheduler import Scheduler

from .conftest import T0

RULES = """\
workspace: shop
channels: {chat: {plugin: log}}
templates: {ping: {chat: "ping"}, pong: {chat: "pong"}}
rules:
  - id: r
    when: checkout.started
    steps: [wait 1d, send chat ping, wait 2d, send chat pong]
"""


async def run_until(scheduler: Scheduler, shop, moment) -> None:  # type: ignore[no-untyped-def]
    task = asyncio.create_task(scheduler.run())
    while shop.clock.now() < moment:
        await asyncio.sleep(0)
    scheduler.stop()
    await task


async def test_scheduler_fires_each_step_on_time_and_once(open_shop) -> None:
    shop = await open_shop(RULES)
    await shop.engine.ingest(shop.make_event("checkout.started"))
    scheduler = Scheduler([shop.engine], shop.clock, poll=3600, timed_every=timedelta(hours=6))
    await run_until(scheduler, shop, T0 + timedelta(days=4))
    assert [(m.template, e.at) for m, e in zip(shop.channel.sent, shop.kinds("message.sent"))] == [
        ("ping", T0 + timedelta(days=1)), ("pong", T0 + timedelta(days=3))]


async def test_scheduler_after_a_restart_finds_due_work_in_the_database(open_shop) -> None:
    shop = await open_shop(RULES)
    await shop.engine.ingest(shop.make_event("checkout.started"))
    await shop.engine.store.close()
    restarted = await open_shop(RULES, start=T0 + timedelta(days=2))  # the first step was due while down
    scheduler = Scheduler([restarted.engine], restarted.clock, poll=3600, timed_every=timedelta(hours=6))
    await run_until(scheduler, restarted, T0 + timedelta(days=5))
    assert [m.template for m in restarted.channel.sent] == ["ping", "pong"]
    ping, pong = restarted.kinds("message.queued")  # the second wait lasts 2 days from when ping actually went
    assert (ping.at, pong.at) == (T0 + timedelta(days=1), T0 + timedelta(days=4))
    assert [sent.at for sent in restarted.kinds("message.sent")] == [T0 + timedelta(days=2), T0 + timedelta(days=4)]
