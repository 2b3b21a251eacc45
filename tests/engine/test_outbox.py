"""The outbox: messages claimed once, handed to their channel after commit, retried with backoff, never sent twice."""
from __future__ import annotations

from datetime import timedelta

from relance.engine.channels import DeliveryResult, OutboundMessage
from relance.engine.inbox import Received
from relance.engine.outbox import FIRST_RETRY, LONGEST_RETRY, MAX_ATTEMPTS, Dispatcher, backoff
from relance.engine.timeline import Effect

from .conftest import T0

WORKSPACE = """\
workspace: shop
channels: {chat: {plugin: log}}
templates: {ping: {chat: "ping {{ event.n }}"}}
rules:
  - id: ping
    when: checkout.started
    entry: always
    steps: [send chat ping]
"""


class AnsweringChannel:
    """A channel that answers each message with the next of `answers` (the last one again after them)."""

    name = "log"

    def __init__(self, *answers: DeliveryResult) -> None:
        self.answers = list(answers)
        self.sent: list[OutboundMessage] = []

    async def send(self, message: OutboundMessage) -> DeliveryResult:
        self.sent.append(message)
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]


async def queued(open_shop, count: int = 1):  # type: ignore[no-untyped-def]
    """A shop whose inbox was processed (messages queued, none sent) and the effects a dispatcher reports."""
    shop = await open_shop(WORKSPACE)
    await shop.engine.accept([Received(shop.make_event("checkout.started", n=n)) for n in range(1, count + 1)])
    await shop.engine.process_inbox()
    assert shop.channel.sent == []
    return shop


def dispatcher_for(shop, channel: AnsweringChannel, effects: list[Effect]) -> Dispatcher:  # type: ignore[no-untyped-def]
    return Dispatcher(shop.engine.store, shop.clock, {"log": channel}, None, effects.extend)


def test_backoff_doubles_from_a_minute_up_to_six_hours() -> None:
    assert [backoff(n) for n in (1, 2, 3)] == [FIRST_RETRY, 2 * FIRST_RETRY, 4 * FIRST_RETRY]
    assert backoff(20) == LONGEST_RETRY == timedelta(hours=6)


async def test_each_pending_message_is_sent_once_with_its_key(open_shop) -> None:
    shop = await queued(open_shop, 2)
    channel, effects = AnsweringChannel(DeliveryResult("delivered", provider_id="p-1")), []
    dispatcher = dispatcher_for(shop, channel, effects)
    assert await dispatcher.dispatch(shop.engine.workspace) == 2
    assert await dispatcher.dispatch(shop.engine.workspace) == 0  # nothing claimed twice
    stored = await shop.engine.store.messages("shop")
    assert [m.key for m in channel.sent] == [m.key for m in stored]
    assert [(m.status, m.attempts, m.sent_at, m.provider_id) for m in stored] == [("sent", 1, T0, "p-1")] * 2
    assert [m.body for m in channel.sent] == ["ping 1", "ping 2"]
    assert [(e.kind, e.rule, e.details) for e in effects] == [
        ("message.sent", "ping", {"channel": "chat", "template": "ping"})] * 2


async def test_a_deferred_answer_comes_back_after_backoff_then_is_sent(open_shop) -> None:
    shop = await queued(open_shop)
    channel = AnsweringChannel(DeliveryResult("deferred", "busy"), DeliveryResult("delivered"))
    effects: list[Effect] = []
    dispatcher = dispatcher_for(shop, channel, effects)
    assert await dispatcher.dispatch(shop.engine.workspace) == 0
    [message] = await shop.engine.store.messages("shop")
    assert (message.status, message.send_at, message.error, message.attempts) == (
        "pending", T0 + FIRST_RETRY, "deferred: busy", 1)
    assert effects[-1].details["until"] == (T0 + FIRST_RETRY).isoformat()
    assert await dispatcher.dispatch(shop.engine.workspace) == 0  # not before its time
    shop.clock.advance(FIRST_RETRY)
    assert await dispatcher.dispatch(shop.engine.workspace) == 1
    assert len(channel.sent) == 2 and channel.sent[0].key == channel.sent[1].key  # the same key: one delivery


async def test_a_message_deferred_too_often_fails(open_shop) -> None:
    shop = await queued(open_shop)
    [message] = await shop.engine.store.messages("shop")
    message.attempts = MAX_ATTEMPTS - 1  # deferred every time so far
    async with shop.engine.store.transaction() as tx:
        await tx.save_message(message)
    await dispatcher_for(shop, AnsweringChannel(DeliveryResult("deferred", "busy")), []).dispatch(shop.engine.workspace)
    [message] = await shop.engine.store.messages("shop")
    assert (message.status, message.attempts, message.error) == (
        "failed", MAX_ATTEMPTS, f"gave up after {MAX_ATTEMPTS} attempts: busy")


async def test_a_bounce_fails_the_message_and_marks_the_address(open_shop) -> None:
    shop = await queued(open_shop)
    effects: list[Effect] = []
    dispatcher = dispatcher_for(shop, AnsweringChannel(DeliveryResult("failed", "550 no such user", bounced=True)),
                                effects)
    assert await dispatcher.dispatch(shop.engine.workspace) == 0
    [message] = await shop.engine.store.messages("shop")
    assert (message.status, message.error) == ("failed", "550 no such user")
    assert (effects[-1].kind, effects[-1].details["reason"]) == ("message.failed", "550 no such user")
    async with shop.engine.store.transaction() as tx:
        contact = await tx.get_contact(message.contact_id)
    assert contact is not None and contact.consent["chat"] == {"status": "bounced", "at": T0.isoformat(),
                                                               "source": "550 no such user"}


async def test_a_message_for_a_channel_without_its_plugin_fails_without_a_send(open_shop) -> None:
    shop = await queued(open_shop)
    channel = AnsweringChannel(DeliveryResult("delivered"))
    dispatcher = Dispatcher(shop.engine.store, shop.clock, {"other": channel})
    assert await dispatcher.dispatch(shop.engine.workspace) == 0
    [message] = await shop.engine.store.messages("shop")
    assert (message.status, message.error, channel.sent) == ("failed", "no channel plugin for 'chat'", [])


async def test_a_stopping_dispatcher_claims_nothing_and_recover_hands_dead_claims_back(open_shop) -> None:
    shop = await queued(open_shop)
    stopping = dispatcher_for(shop, AnsweringChannel(DeliveryResult("delivered")), [])
    stopping.stop()
    assert await stopping.dispatch(shop.engine.workspace) == 0
    assert [m.status for m in await shop.engine.store.messages("shop")] == ["pending"]
    async with shop.engine.store.transaction() as tx:  # a process claims, then dies before sending
        await tx.claim_due_messages("shop", T0, 10)
    dispatcher = dispatcher_for(shop, AnsweringChannel(DeliveryResult("delivered")), [])
    assert await dispatcher.dispatch(shop.engine.workspace) == 0  # claimed: not anyone else's
    assert await dispatcher.recover("shop") == 1
    assert await dispatcher.dispatch(shop.engine.workspace) == 1
