"""The inbox: events stored in group commits, answered at once, processed in order, never lost."""
from __future__ import annotations

import asyncio
import dataclasses
import sqlite3
from pathlib import Path

from relance.engine.inbox import Received
from relance.plugins.builtins import tortoise_migrations
from relance.plugins.builtins.tortoise_store import TortoiseStore

WORKSPACE = """\
workspace: shop
channels: {chat: {plugin: log}}
templates: {ping: {chat: "ping {{ event.n }}"}}
rules:
  - id: ping
    when: checkout.started
    steps: [send chat ping]
"""


async def test_accepted_events_wait_in_the_inbox_until_processed(open_shop) -> None:
    shop = await open_shop(WORKSPACE)
    statuses = await shop.engine.accept([Received(shop.make_event("checkout.started", n=1))])
    assert [a.status for a in statuses] == ["accepted"]
    assert shop.channel.sent == []  # stored, not processed yet
    assert await shop.engine.process_inbox() == 1
    await shop.engine.dispatch()  # intake queues; the outbox sends
    assert [m.body for m in shop.channel.sent] == ["ping 1"]
    assert await shop.engine.process_inbox() == 0  # processed once


async def test_events_stored_before_a_crash_are_processed_at_restart(open_shop) -> None:
    shop = await open_shop(WORKSPACE)
    await shop.engine.accept([Received(shop.make_event("checkout.started", n=n)) for n in (1, 2)])
    await shop.engine.store.close()  # the process stops before processing them
    restarted = await open_shop(WORKSPACE)  # a new process on the same database
    assert await restarted.engine.process_inbox() == 2
    await restarted.engine.dispatch()  # intake queues; the outbox sends
    assert [m.body for m in restarted.channel.sent] == ["ping 1", "ping 2"]


async def test_concurrent_callers_share_one_commit(open_shop) -> None:
    shop = await open_shop(WORKSPACE)
    store = shop.engine.store
    opened = 0
    real = store.transaction

    def counting():  # type: ignore[no-untyped-def]
        nonlocal opened
        opened += 1
        return real()

    store.transaction = counting  # type: ignore[method-assign]
    answers = await asyncio.gather(*(shop.engine.accept([Received(shop.make_event("page.viewed", id=f"p{n}"))])
                                     for n in range(50)))
    store.transaction = real  # type: ignore[method-assign]
    assert [a.status for [a] in answers] == ["accepted"] * 50
    assert opened <= 3  # the first caller's commit, then one for everyone who arrived meanwhile
    assert await shop.engine.process_inbox() == 50
    await shop.engine.dispatch()  # intake queues; the outbox sends


async def test_duplicates_and_conflicts_inside_one_group(open_shop) -> None:
    shop = await open_shop(WORKSPACE)
    first = shop.make_event("checkout.started", id="same", n=1)
    other_body = shop.make_event("checkout.started", id="same", n=2)
    answers = await shop.engine.accept([Received(first), Received(first), Received(other_body)])
    assert [a.status for a in answers] == ["accepted", "duplicate", "conflict"]
    await shop.engine.process_inbox()
    await shop.engine.dispatch()  # intake queues; the outbox sends
    assert [m.body for m in shop.channel.sent] == ["ping 1"]


async def test_an_event_that_cannot_be_processed_is_set_aside_and_the_rest_goes_on(open_shop) -> None:
    shop = await open_shop(WORKSPACE)
    real = shop.engine.intake.take_event

    async def failing(tx, event, *rest):  # type: ignore[no-untyped-def]
        if event.id == "bad":  # its group fails, then it fails alone
            raise RuntimeError("a plugin bug")
        return await real(tx, event, *rest)

    shop.engine.intake.take_event = failing  # type: ignore[method-assign]
    await shop.engine.accept([Received(shop.make_event("checkout.started", id=i, n=i)) for i in ("a", "bad", "c")])
    assert await shop.engine.process_inbox() == 3
    await shop.engine.dispatch()  # intake queues; the outbox sends
    assert [m.body for m in shop.channel.sent] == ["ping a", "ping c"]
    [failed] = shop.kinds("event.failed")
    assert failed.details["error"] == "RuntimeError: a plugin bug"
    assert await shop.engine.process_inbox() == 0  # set aside, not retried for ever


OLD_EVENTS_TABLE = """CREATE TABLE relance_events (id INTEGER PRIMARY KEY AUTOINCREMENT, workspace VARCHAR(100) NOT NULL,
event_id VARCHAR(200) NOT NULL, type VARCHAR(200) NOT NULL, at TIMESTAMP NOT NULL, received_at TIMESTAMP NOT NULL,
payload JSON NOT NULL, contact_id BIGINT, UNIQUE (workspace, event_id))"""


async def test_a_database_from_before_the_inbox_is_migrated(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute(OLD_EVENTS_TABLE)
        db.execute("INSERT INTO relance_events (workspace, event_id, type, at, received_at, payload) VALUES "
                   "('shop', 'old-1', 'page.viewed', '2026-01-01 00:00:00+00:00', '2026-01-01 00:00:00+00:00', '{}')")
    store = TortoiseStore(f"sqlite://{path}")
    await store.open()
    try:
        assert await store.inbox("shop", 10) == []  # events of the old schema were all processed
        async with store.transaction() as tx:
            assert (await tx.get_events("shop", ["old-1"]))["old-1"].processed
    finally:
        await store.close()
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT version FROM relance_schema").fetchall() == [(tortoise_migrations.LATEST,)]
    reopened = TortoiseStore(f"sqlite://{path}")
    await reopened.open()  # nothing left to migrate: opening again changes nothing
    await reopened.close()


async def test_an_event_the_store_refuses_fails_alone_not_its_group(open_shop) -> None:
    """A value that slipped past the checks (here a set, which JSON cannot write) fails the group's
    statement: the group is stored again one event at a time, and each caller hears its own outcome."""
    shop = await open_shop(WORKSPACE)
    poison = dataclasses.replace(shop.make_event("checkout.started", id="poison"), properties={"n": {1, 2}})
    events = [shop.make_event("checkout.started", id=f"c{n}", n=n) for n in range(30)]
    events[17] = poison
    answers = await asyncio.gather(*(shop.engine.accept([Received(event)]) for event in events))
    statuses = {a.event_id: a.status for [a] in answers}
    assert statuses.pop("poison") == "failed"
    assert set(statuses.values()) == {"accepted"} and len(statuses) == 29
    assert await shop.engine.process_inbox() == 29
    await shop.engine.dispatch()  # intake queues; the outbox sends
    assert len(shop.channel.sent) == 29


async def test_an_event_naming_an_unknown_contact_id_is_refused_and_creates_no_one(open_shop) -> None:
    shop = await open_shop(WORKSPACE)
    [answer] = await shop.engine.accept([Received(shop.make_event("checkout.started", {"id": 4242}, n=1))])
    assert answer.status == "unknown_contact"
    assert await shop.engine.process_inbox() == 0
    async with shop.engine.store.transaction() as tx:
        assert await tx.contacts("shop", 0, 10) == []


async def test_intake_queues_and_only_the_outbox_sends(open_shop) -> None:
    """Processing the inbox sends nothing (an HTTP request waiting for its events, or a server whose
    workers send, never runs a channel): the message waits, pending, for the outbox."""
    shop = await open_shop(WORKSPACE)
    await shop.engine.accept([Received(shop.make_event("checkout.started", n=1))])
    assert await shop.engine.process_inbox() == 1
    assert shop.channel.sent == []
    assert [m.status for m in await shop.engine.store.messages("shop")] == ["pending"]
    assert await shop.engine.dispatch() == 1
    assert [m.body for m in shop.channel.sent] == ["ping 1"]
