"""Contract test suites a store or channel plugin runs against itself: subclass, give the fixtures, run pytest.

    from relance.plugins.testing import ChannelContract, Delivery

    class TestMyChannel(ChannelContract):
        @pytest.fixture
        def channel(self):
            return MyChannel()
        ...

Needs pytest and pytest-asyncio (the tests are async and marked for it). The built-in
stores and channels run these same suites (tests/plugins/test_contracts.py).
"""
from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from relance.dsl import check_workspace
from relance.engine.channels import CAPABILITIES, Channel, OutboundMessage
from relance.engine.records import ContactRecord, EventRecord, MessageRecord, RunRecord
from relance.engine.store import Store

from .registry import CHANNEL_MEMBERS, function_registry, plugin_manager

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
WORKSPACE = "contract"


class _RolledBack(Exception):
    """Raised inside a transaction to roll it back."""


class StoreContract:
    """What the engine counts on from a `relance.engine.store.Store`, on its public methods.

    Give a fixture ``store``: an opened store on an empty database, closed after the test.
    """

    pytestmark = pytest.mark.asyncio

    @pytest.fixture
    async def store(self) -> AsyncIterator[Store]:
        raise NotImplementedError("a StoreContract subclass gives the `store` fixture: an opened, empty store")
        yield  # pragma: no cover

    async def _contact(self, store: Store, email: str, workspace: str = WORKSPACE) -> ContactRecord:
        async with store.transaction() as tx:
            contact = await tx.create_contact(ContactRecord(id=0, workspace=workspace, created_at=T0, email=email))
            await tx.add_identities(contact, [("email", email)])
        return contact

    async def _run(self, store: Store, contact: ContactRecord, **fields: Any) -> RunRecord:
        async with store.transaction() as tx:
            return await tx.create_run(RunRecord(WORKSPACE, contact.id, "panier", "v1", T0, T0, {}, **fields))

    def _message(self, contact: ContactRecord, key: str, **fields: Any) -> MessageRecord:
        return MessageRecord(WORKSPACE, key, contact.id, None, "panier", "n1", "email", "rappel", "Panier",
                             f"message {key}", T0, **fields)

    async def test_a_contact_is_found_by_its_identities_in_its_workspace_only(self, store: Store) -> None:
        lea = await self._contact(store, "lea@example.test")
        await self._contact(store, "lea@example.test", workspace="elsewhere")
        async with store.transaction() as tx:
            await tx.add_identities(lea, [("ext:shopify", "7301")])
            found = await tx.find_contacts(WORKSPACE, [("email", "lea@example.test")])
            by_external = await tx.find_contacts(WORKSPACE, [("ext:shopify", "7301")])
            nobody = await tx.find_contacts(WORKSPACE, [("email", "noone@example.test")])
            owners = await tx.identity_owners(WORKSPACE, [("email", "lea@example.test"), ("phone", "+33600000000")])
            read = await tx.get_contact(lea.id)
        assert [c.id for c in found] == [c.id for c in by_external] == [lea.id]
        assert nobody == []
        assert owners == {("email", "lea@example.test"): lea.id}
        assert read is not None and (read.workspace, read.email) == (WORKSPACE, "lea@example.test")

    async def test_a_contact_saved_keeps_its_fields_and_a_merged_one_is_not_found(self, store: Store) -> None:
        lea, other = await self._contact(store, "lea@example.test"), await self._contact(store, "l@example.test")
        lea.attributes, lea.tags, lea.score = {"first_name": "Léa", "orders_count": 2}, ["vip"], 40
        async with store.transaction() as tx:
            await tx.save_contact(lea)
            await tx.merge_contacts(lea, other)
        async with store.transaction() as tx:
            read = await tx.get_contact(lea.id)
            found = await tx.find_contacts(WORKSPACE, [("email", "l@example.test")])
        assert read is not None and (read.attributes, read.tags, read.score) == (lea.attributes, ["vip"], 40)
        assert [c.id for c in found] == [lea.id]  # the merged contact's identity now leads to the survivor

    async def test_a_run_is_saved_read_and_woken_when_due(self, store: Store) -> None:
        contact = await self._contact(store, "lea@example.test")
        run = await self._run(store, contact, status="waiting", node_id="n2", wake_at=T0 + timedelta(days=1))
        assert run.id is not None
        assert await store.due_runs(WORKSPACE, T0, 10) == []
        assert await store.due_runs(WORKSPACE, T0 + timedelta(days=1), 10) == [(run.id, run.version)]
        async with store.transaction() as tx:
            locked = await tx.locked_run(run.id)
            assert locked is not None
            locked.status, locked.version, locked.wake_at = "finished", locked.version + 1, None
            await tx.save_run(locked)
        async with store.transaction() as tx:
            read = await tx.get_run(run.id)
        assert read is not None and (read.status, read.version, read.node_id) == ("finished", 2, "n2")
        assert await store.due_runs(WORKSPACE, T0 + timedelta(days=2), 10) == []

    async def test_the_inbox_gives_each_event_to_one_claim_and_takes_back_a_rolled_back_one(self, store: Store) -> None:
        events = [EventRecord(WORKSPACE, f"e{i}", "checkout.started", T0, T0, {"id": f"e{i}"}, processed=False)
                  for i in range(3)]
        async with store.transaction() as tx:
            assert [await tx.insert_event(e) for e in events] == [True, True, True]
        assert [e.event_id for e in await store.inbox(WORKSPACE, 10)] == ["e0", "e1", "e2"]
        with pytest.raises(_RolledBack):
            async with store.transaction() as tx:
                assert [e.event_id for e in await tx.claim_inbox(WORKSPACE, 2)] == ["e0", "e1"]
                raise _RolledBack
        async with store.transaction() as tx:
            first = await tx.claim_inbox(WORKSPACE, 2)
        async with store.transaction() as tx:
            second = await tx.claim_inbox(WORKSPACE, 2)
        assert ([e.event_id for e in first], [e.event_id for e in second]) == (["e0", "e1"], ["e2"])
        assert await store.inbox(WORKSPACE, 10) == []

    async def test_an_event_or_message_stored_twice_is_kept_once(self, store: Store) -> None:
        contact = await self._contact(store, "lea@example.test")
        event = EventRecord(WORKSPACE, "o1", "order.completed", T0, T0, {"id": "o1"}, contact.id)
        async with store.transaction() as tx:
            assert await tx.insert_event(event) is True
            assert await tx.insert_message(self._message(contact, "r1:n1:1")) is True
        async with store.transaction() as tx:  # each in its own transaction: a refused insert may end it
            assert await tx.insert_event(replace(event, id=None)) is False
        async with store.transaction() as tx:
            assert await tx.insert_message(self._message(contact, "r1:n1:1")) is False
        async with store.transaction() as tx:
            assert list(await tx.get_events(WORKSPACE, ["o1", "o2"])) == ["o1"]
        assert [m.key for m in await store.messages(WORKSPACE)] == ["r1:n1:1"]
        assert await store.kept_value("secret", lambda: "first") == "first"
        assert await store.kept_value("secret", lambda: "second") == "first"

    async def test_a_due_message_is_claimed_once_and_kept_as_sent(self, store: Store) -> None:
        contact = await self._contact(store, "lea@example.test")
        async with store.transaction() as tx:
            await tx.insert_message(self._message(contact, "r1:n1:1"))
            await tx.insert_message(self._message(contact, "r1:n2:1", send_at=T0 + timedelta(hours=1)))
        async with store.transaction() as tx:
            claimed = await tx.claim_due_messages(WORKSPACE, T0, 10)
        async with store.transaction() as tx:
            again = await tx.claim_due_messages(WORKSPACE, T0, 10)
        assert ([m.key for m in claimed], again) == (["r1:n1:1"], [])
        [message] = claimed
        message.status, message.sent_at, message.provider_id = "sent", T0, "p-1"
        async with store.transaction() as tx:
            await tx.save_message(message)
        [sent] = await store.messages(WORKSPACE, "sent")
        assert (sent.key, sent.provider_id, sent.body) == ("r1:n1:1", "p-1", "message r1:n1:1")
        assert await store.next_send(WORKSPACE) == T0 + timedelta(hours=1)

    async def test_pages_go_back_and_forth_by_id(self, store: Store) -> None:
        contact = await self._contact(store, "lea@example.test")
        async with store.transaction() as tx:
            for i in range(5):
                await tx.insert_message(self._message(contact, f"r1:n1:{i}"))
        for _ in range(3):
            await self._run(store, contact)
        newest = await store.message_page(WORKSPACE, limit=2)
        older = await store.message_page(WORKSPACE, limit=2, before=newest[0].id)
        newer = await store.message_page(WORKSPACE, limit=2, after=older[-1].id)
        assert [m.key for m in newest] == ["r1:n1:3", "r1:n1:4"]
        assert [m.key for m in older] == ["r1:n1:1", "r1:n1:2"]
        assert [m.key for m in newer] == ["r1:n1:3", "r1:n1:4"]
        runs = await store.run_page(WORKSPACE, limit=2)
        assert len(runs) == 2 and runs[0].id is not None and runs[0].id < runs[1].id  # type: ignore[operator]
        assert [r.id for r in await store.run_page(WORKSPACE, limit=2, before=runs[0].id)] != []


@dataclass(frozen=True, slots=True)
class Delivery:
    """One message as the far end received it: `text` where its body shows, and the idempotency key it
    carried as the far end sees it (a header, a Message-ID made from it; None when it carries none)."""

    text: str
    key: str | None = None


class ChannelContract:
    """What the engine counts on from a channel plugin (see docs/channel-plugins.md).

    Give three fixtures: ``channel`` (the plugin's channel object), ``settings`` (rules
    settings under which it delivers somewhere the test can read) and ``delivered`` (a
    callable answering what arrived so far, as a list of `Delivery`). Override ``message``
    for a channel that needs more of the message.
    """

    pytestmark = pytest.mark.asyncio

    @pytest.fixture
    def channel(self) -> Channel:
        raise NotImplementedError("a ChannelContract subclass gives the `channel` fixture")

    @pytest.fixture
    def settings(self) -> Mapping[str, Any]:
        raise NotImplementedError("a ChannelContract subclass gives the `settings` fixture")

    @pytest.fixture
    def delivered(self) -> Callable[[], Sequence[Delivery]]:
        raise NotImplementedError("a ChannelContract subclass gives the `delivered` fixture")

    def message(self, channel: Channel, settings: Mapping[str, Any], key: str) -> OutboundMessage:
        """A rendered marketing message to Léa, with both an email address and a phone number."""
        return OutboundMessage(key=key, channel="contract", template="rappel", subject="Your cart",
                               body=f"Your cart is waiting ({key})", email="lea@example.test",
                               phone="+33612345678", contact_id=1, rule_id="panier", settings=dict(settings),
                               workspace=WORKSPACE, at=T0)

    def _check(self, tmp_path: Path, channel: Channel, settings: Mapping[str, Any]):  # type: ignore[no-untyped-def]
        """The workspace and problems of a rules file declaring one channel `c` with these settings."""
        path = tmp_path / "rules.yaml"
        path.write_text(f"workspace: {WORKSPACE}\nchannels:\n  c: {json.dumps({'plugin': channel.name, **settings})}\n",
                        encoding="utf-8")
        functions = function_registry(plugin_manager(load_entry_points=False))
        return check_workspace([path], functions, {channel.name: channel})

    async def test_it_has_every_member_the_engine_calls(self, channel: Channel, settings: Mapping[str, Any]) -> None:
        assert [member for member in CHANNEL_MEMBERS if not hasattr(channel, member)] == []
        assert channel.check_environment(settings) == [], "the test's settings should be usable here"

    async def test_its_traits_are_declared(self, channel: Channel, settings: Mapping[str, Any], tmp_path: Path) -> None:
        traits = channel.traits(settings)
        assert traits.address in ("email", "phone", None)
        assert traits.consent in ("opt_out", "opt_in", "none")
        assert traits.capabilities <= CAPABILITIES, f"unknown capabilities {set(traits.capabilities - CAPABILITIES)}"
        workspace, problems = self._check(tmp_path, channel, settings)
        assert workspace is not None, [str(p) for p in problems]
        assert workspace.channels["c"].traits == traits  # the rules see what the channel says it is

    async def test_it_sends_a_message(self, channel: Channel, settings: Mapping[str, Any],
                                      delivered: Callable[[], Sequence[Delivery]]) -> None:
        message = self.message(channel, settings, "r1:n1:1")
        result = await channel.send(message)
        assert result.status == "delivered", result.detail
        [delivery] = delivered()
        assert message.body in delivery.text

    async def test_the_same_key_sent_again_is_one_message_to_the_receiver(
            self, channel: Channel, settings: Mapping[str, Any], delivered: Callable[[], Sequence[Delivery]]) -> None:
        """After a crash, `send` is called again with the same key: either the channel delivers once,
        or every delivery carries the same key, which the receiver drops a repeat by; another
        message carries another key."""
        first = self.message(channel, settings, "r1:n1:1")
        assert (await channel.send(first)).status == "delivered"
        assert (await channel.send(first)).status == "delivered"
        deliveries = list(delivered())
        assert len(deliveries) == 1 or (len(deliveries) == 2 and deliveries[0].key is not None
                                        and deliveries[0].key == deliveries[1].key), deliveries
        assert (await channel.send(self.message(channel, settings, "r1:n2:1"))).status == "delivered"
        last = list(delivered())[-1]
        assert last.key is None or last.key != deliveries[0].key

    async def test_bad_settings_are_refused_with_a_clear_problem(self, channel: Channel, settings: Mapping[str, Any],
                                                                 tmp_path: Path) -> None:
        def messages(given: Mapping[str, Any]) -> list[str]:
            workspace, problems = self._check(tmp_path, channel, given)
            assert workspace is None, f"{dict(given)} should be refused"
            return [p.message for p in problems if p.is_error]

        assert any("unknown setting 'no_such_setting'" in m for m in messages({**settings, "no_such_setting": 1}))
        for name, setting in channel.settings_schema.items():
            if setting.required:
                rest = {k: v for k, v in settings.items() if k != name}
                assert any(f"missing setting '{name}'" in m for m in messages(rest))
        typed = next((name for name, s in channel.settings_schema.items()
                      if list not in (s.type if isinstance(s.type, tuple) else (s.type,))), None)
        if typed is not None:
            assert any(f"setting '{typed}' should be" in m for m in messages({**settings, typed: [1, 2]}))
