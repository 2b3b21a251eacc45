"""The in-process scheduler on a virtual clock: due steps fire on time, once."""
from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

import pytest

from relance.engine.engine import Engine
from relance.engine.inbox import Received
from relance.engine.scheduler import Scheduler

from .conftest import T0
from .flaky_store import FlakyStore, starting_up

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


@pytest.mark.parametrize("error", [starting_up, lambda: RuntimeError("a bug in a store plugin")],
                         ids=["database-restarting", "any-error"])
async def test_the_timers_and_the_inbox_survive_a_store_that_fails_for_a_while(open_shop, error, caplog) -> None:
    """The store fails (as a restarting database does) while an event waits in the inbox and a
    run falls due: every loop backs off, logs once, says it is failing, and carries on."""
    shop = await open_shop(RULES)
    await shop.engine.ingest(shop.make_event("checkout.started", {"email": "a@x.test"}))
    flaky = FlakyStore(shop.engine.store, error)
    engine = Engine(shop.engine.workspace, flaky, shop.clock, {"log": shop.channel})  # type: ignore[arg-type]
    scheduler = Scheduler([engine], shop.clock, poll=3600, timed_every=timedelta(hours=6))
    task = asyncio.create_task(scheduler.run())
    while "scheduler" not in scheduler.loops.healths:
        await asyncio.sleep(0)
    flaky.down = True
    await shop.engine.accept([Received(shop.make_event("checkout.started", {"email": "b@x.test"}))])
    engine.arrived.set()  # stored by another process: this one's inbox loop looks, and fails
    while flaky.failed < 40:
        await asyncio.sleep(0)
    failing = {h.name for h in scheduler.loops.failing()}
    assert {"scheduler", "inbox:shop", "timers:shop", "dispatcher:shop"} <= failing, failing
    flaky.down = False
    while scheduler.loops.failing() or shop.clock.now() < T0 + timedelta(days=4):
        await asyncio.sleep(0)
    scheduler.stop()
    await task
    sent = sorted((m.email, m.body) for m in shop.channel.sent)
    assert sent == [("a@x.test", "ping"), ("a@x.test", "pong"), ("b@x.test", "ping"), ("b@x.test", "pong")]
    assert {r.status for r in await shop.engine.store.runs("shop")} == {"finished"}
    assert all(health["ok"] for health in scheduler.loops.report().values())
    logged = [r.getMessage().split(" failed")[0] for r in caplog.records
              if r.name == "relance.loops" and r.levelno == logging.ERROR]
    assert sorted(logged) == sorted(set(logged)) and set(logged) == failing  # once per loop for the incident


async def test_an_inbox_round_hands_its_messages_off_instead_of_sending_when_workers_send(open_shop) -> None:
    """With workers (`hand_off` asks one), the server's inbox loop processes events and sends nothing."""
    shop = await open_shop(RULES.replace("steps: [wait 1d, send chat ping", "steps: [send chat ping"))
    handed: list[str] = []

    async def ask_a_worker(engine: Engine) -> None:
        handed.append(engine.workspace.name)

    scheduler = Scheduler([shop.engine], shop.clock, poll=3600, hand_off=ask_a_worker)
    task = asyncio.create_task(scheduler.run(timers=False))
    await shop.engine.accept([Received(shop.make_event("checkout.started"))])
    while not handed or (await shop.engine.store.inbox_backlog("shop"))[0]:
        await asyncio.sleep(0.01)
    scheduler.stop()
    await task
    assert shop.channel.sent == []
    assert [m.status for m in await shop.engine.store.messages("shop")] == ["pending"]
    assert await shop.engine.dispatch() == 1  # what a worker's dispatch job does
