"""Intake: events accepted (duplicates and conflicts told apart), processed with their outcome, the inbox kept in bounds."""
from __future__ import annotations

import asyncio
import contextvars
from dataclasses import replace
from datetime import timedelta
from types import SimpleNamespace

import pytest

from relance.engine.clock import VirtualClock
from relance.engine.events import ContactRef, Event
from relance.engine.inbox import Received
from relance.engine.intake import Intake

from .conftest import T0, contact_record

WORKSPACE = """\
workspace: shop
channels: {chat: {plugin: log}}
segments: {vip: contact.score >= 100, pro: contact.plan == 'pro'}
templates: {ping: {chat: "ping"}}
rules:
  - id: ping
    when: checkout.started
    steps: [send chat ping]
"""


def intake_of(compiled, store=None) -> Intake:  # type: ignore[no-untyped-def]
    """An Intake for an engine at T0 that has only the rules, a clock and (maybe) a store."""
    return Intake(SimpleNamespace(workspace=compiled(WORKSPACE), store=store, clock=VirtualClock(T0)))  # type: ignore[arg-type]


async def test_accept_tells_new_repeated_and_conflicting_events_apart(open_shop) -> None:
    shop = await open_shop(WORKSPACE)
    event = shop.make_event("checkout.started", id="e1", n=1)
    [accepted] = await shop.engine.accept([Received(event)], wait=True)
    assert (accepted.event_id, accepted.status, accepted.outcome.contact_id) == ("e1", "accepted", 1)  # type: ignore[union-attr]
    assert [e.kind for e in accepted.outcome.effects] == ["run.started", "message.queued", "run.ended"]  # type: ignore[union-attr]
    again, changed = await shop.engine.accept([Received(event), Received(replace(event, properties={"n": 2}))])
    assert [(a.status, a.outcome) for a in (again, changed)] == [("duplicate", None), ("conflict", None)]
    assert shop.engine.intake.waiting == {}  # no caller left waiting


async def test_a_full_inbox_asks_senders_to_come_back_then_has_room_again(open_shop) -> None:
    shop = await open_shop(WORKSPACE)
    assert await shop.engine.inbox_full() is None  # no limit
    shop.engine.inbox_limit = 2
    await shop.engine.accept([Received(shop.make_event("page.viewed", id=f"p{n}")) for n in range(3)])
    seconds = await shop.engine.inbox_full()
    assert seconds is not None and 1 <= seconds <= 60
    assert await shop.engine.process_inbox() == 3
    assert await shop.engine.inbox_full() is None


def test_segment_events_say_what_the_contact_enters_and_leaves(compiled) -> None:
    intake = intake_of(compiled)
    cause = Event("e7", "order.completed", T0, ContactRef(email="alice@example.test"), {})
    derived = intake.segment_events(contact_record(3, score=150, segments=["pro"]), cause, T0)
    assert [(e.id, e.type, e.at, e.contact.id, dict(e.properties)) for e in derived] == [
        ("segment.entered:vip:3:e7", "segment.entered", T0, 3, {"segment": "vip", "derived_from": "e7"}),
        ("segment.left:pro:3:e7", "segment.left", T0, 3, {"segment": "pro", "derived_from": "e7"})]
    assert intake.segment_events(contact_record(3, score=150, segments=["vip"]), cause, T0) == []


def test_an_accepted_event_is_recorded_unprocessed_as_json(compiled) -> None:
    event = Event("e1", "page.viewed", T0, ContactRef(email="a@x.test"), {"url": "/"})
    record = intake_of(compiled).record(event, T0 + timedelta(seconds=1))
    assert (record.workspace, record.event_id, record.at, record.received_at, record.processed) == (
        "shop", "e1", T0, T0 + timedelta(seconds=1), False)
    assert record.payload == event.as_json()


async def test_old_decisions_are_pruned_at_most_once_an_hour(compiled) -> None:
    pruned: list[object] = []

    async def prune_decisions(workspace: str, before: object) -> int:
        pruned.append((workspace, before))
        return 4

    intake = intake_of(compiled, SimpleNamespace(prune_decisions=prune_decisions))
    assert await intake.forget_old_decisions() == 4
    assert await intake.forget_old_decisions() == 0
    intake.clock.advance(timedelta(hours=1))  # type: ignore[attr-defined]
    assert await intake.forget_old_decisions() == 4
    assert pruned == [("shop", T0 - timedelta(days=30)), ("shop", T0 + timedelta(hours=1) - timedelta(days=30))]


@pytest.mark.parametrize("database", ["postgres"], indirect=True)  # where other processes write at once
async def test_a_group_reads_its_contacts_only_once_it_holds_them(open_shop) -> None:
    """A step elsewhere (a worker) that holds a contact and tags it while an inbox group waits for the
    contact: the group reads the contact after it gets it, so the tag is kept (it was lost: the
    contact was read before its lock, then written back with the group's score)."""
    shop = await open_shop("workspace: shop\nchannels: {chat: {plugin: log}}\nscoring: {page.viewed: 1}\nrules: []\n")
    await shop.engine.ingest(shop.make_event("page.viewed", {"email": "a@x.test"}))
    async with shop.engine.store.transaction() as tx:
        [contact] = await tx.contacts("shop", 0, 10)
    await shop.engine.accept([Received(shop.make_event("page.viewed", {"email": "a@x.test"}))])
    async with shop.engine.store.transaction() as tx:  # the worker's step
        assert await tx.lock_contact(contact.id)
        processing = asyncio.create_task(shop.engine.process_inbox(), context=contextvars.Context())  # its own
        # connection, as in another process (a task copies the context, and with it this transaction)
        await asyncio.sleep(0.3)  # the group has claimed its event and waits for the contact
        assert not processing.done()
        held = await tx.get_contact(contact.id)
        held.tags = ["done"]
        await tx.save_contact(held)
    assert await processing == 1
    async with shop.engine.store.transaction() as tx:
        [after] = await tx.contacts("shop", 0, 10)
    assert (after.score, after.tags) == (2, ["done"])
