"""The store protocol as the engine relies on it, held to by the built-in store on SQLite and PostgreSQL."""
from __future__ import annotations

from datetime import timedelta

import pytest

from relance.engine.records import ContactRecord, EventRecord, MessageRecord

from .conftest import T0
from .test_runs import CHANNELS

WAITS = CHANNELS + """\
rules:
  - id: soon
    when: checkout.started
    steps: [wait 1d, send chat ping]
  - id: later
    when: checkout.started
    steps: [wait 2d, send chat ping]
"""


async def test_waiting_runs_are_found_by_their_wake_time_earliest_first(open_shop) -> None:
    shop = await open_shop(WAITS)
    await shop.event("checkout.started")
    store = shop.engine.store
    soon, later = sorted(await store.runs("shop"), key=lambda run: run.wake_at)
    assert (soon.rule_id, later.rule_id) == ("soon", "later")
    assert await store.next_wake("shop") == T0 + timedelta(days=1)
    assert await store.due_runs("shop", T0 + timedelta(hours=23), 10) == []
    assert await store.due_runs("shop", T0 + timedelta(days=2), 10) == [(soon.id, soon.version), (later.id, later.version)]
    assert await store.due_runs("shop", T0 + timedelta(days=2), 1) == [(soon.id, soon.version)]
    assert await store.upcoming_runs("shop", T0 + timedelta(days=3), 10, after=(soon.wake_at, soon.id)) == [
        (later.id, later.version, later.wake_at)]  # paging goes on after the last one read
    assert (await store.contact_id_bounds("shop"), await store.contact_id_bounds("other")) == ((1, 1), None)
    assert await store.next_send("shop") is None


async def test_ids_and_keys_are_kept_once_and_a_failed_transaction_keeps_nothing(open_shop) -> None:
    shop = await open_shop(CHANNELS + "rules: []\n")
    store = shop.engine.store
    event = EventRecord("shop", "e1", "page.viewed", T0, T0, {"id": "e1"})
    async with store.transaction() as tx:
        contact = await tx.create_contact(ContactRecord(0, "shop", T0, email="alice@example.test"))
        message = MessageRecord("shop", "k1", contact.id, None, "r", "n", "chat", "ping", None, "ping", T0)
        assert await tx.insert_event(event) is True
        assert (await tx.insert_message(message), await tx.insert_message(message)) == (True, False)
        assert await tx.insert_event(event) is False  # refused, and the transaction goes on
        assert await tx.get_events("shop", ["e1"]) != {}
    assert [m.key for m in await store.messages("shop")] == ["k1"]
    with pytest.raises(RuntimeError):
        async with store.transaction() as tx:
            await tx.insert_message(MessageRecord("shop", "k2", contact.id, None, "r", "n", "chat", "ping", None,
                                                  "ping", T0))
            raise RuntimeError("a step fails")
    assert [m.key for m in await store.messages("shop")] == ["k1"]  # rolled back
    assert await store.kept_value("secret", lambda: "first") == "first"
    assert await store.kept_value("secret", lambda: "second") == "first"  # the first caller's wins
    assert (await store.swap_value("seen", "a"), await store.swap_value("seen", "b")) == (None, "a")
