"""The rules of the trade at their edges: quiet hours, frequency caps, duplicate offers, consent, retries."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from relance.engine.channels import DeliveryResult, OutboundMessage

from .conftest import T0

PARIS = timezone(timedelta(hours=1))  # Europe/Paris in March before the change to summer time


def workspace(policy: str, steps: str,
              channels: str = "{email: {plugin: log, address: email}, sms: {plugin: log, address: phone}}") -> str:
    return f"""\
workspace: shop
timezone: Europe/Paris
channels: {channels}
templates:
  a: {{email: {{subject: "A", body: "a"}}, sms: "a"}}
  b: {{email: {{subject: "B", body: "b"}}, sms: "b"}}
policy:
{policy}
rules:
  - id: r
    when: checkout.started
    entry: always
    steps: {steps}
"""


async def sent_at(shop) -> list[tuple[str, datetime]]:
    return [(m.template, m.sent_at.astimezone(PARIS)) for m in await shop.engine.store.messages("shop")
            if m.status == "sent"]


async def test_quiet_hours_edges_a_message_at_20_59_leaves_at_21_00_waits(open_shop) -> None:
    shop = await open_shop(workspace('  quiet_hours: {email: "21:00-09:00"}', "[send email a]"))
    contact = {"email": "alice@example.test"}
    await shop.event("checkout.started", contact, at=datetime(2026, 3, 2, 20, 59, tzinfo=PARIS), id="c1")
    await shop.event("checkout.started", contact, at=datetime(2026, 3, 2, 21, 0, tzinfo=PARIS), id="c2")
    assert await sent_at(shop) == [("a", datetime(2026, 3, 2, 20, 59, tzinfo=PARIS))]
    [deferred] = shop.kinds("message.deferred")
    assert deferred.details["reason"] == "quiet hours 21:00-09:00 for email"
    await shop.wait(timedelta(hours=13))
    assert [t for _, t in await sent_at(shop)] == [datetime(2026, 3, 2, 20, 59, tzinfo=PARIS),
                                                   datetime(2026, 3, 3, 9, 0, tzinfo=PARIS)]  # waited, not dropped


async def test_quiet_hours_follow_the_contact_timezone(open_shop) -> None:
    shop = await open_shop(workspace('  quiet_hours: {email: "21:00-09:00"}', "[send email a]"))
    # 21:30 in Paris is 15:30 in Montreal: not quiet there
    contact = {"email": "zoe@example.test", "timezone": "America/Montreal"}
    await shop.event("checkout.started", contact, at=datetime(2026, 3, 2, 21, 30, tzinfo=PARIS))
    assert len(await sent_at(shop)) == 1


async def test_frequency_cap_the_last_allowed_message_and_the_next(open_shop) -> None:
    shop = await open_shop(workspace("  frequency: {max: 2, per: 24h}", "[send email a]"))
    for n in range(3):
        await shop.event("checkout.started", at=T0 + timedelta(hours=n), id=f"c{n}")
    assert [t for _, t in await sent_at(shop)] == [T0.astimezone(PARIS), (T0 + timedelta(hours=1)).astimezone(PARIS)]
    runs = await shop.engine.store.runs("shop")
    assert runs[2].trace[-1]["why"] == ("message 3:r/steps/0:1 pending: frequency cap reached (2 messages per 1d), "
                                        "until 2026-03-03T09:00:00+00:00")
    await shop.wait(timedelta(days=1))
    assert len(await sent_at(shop)) == 3  # deferred until the first one left the window


async def test_over_the_cap_skip_drops_the_message_and_says_why(open_shop) -> None:
    shop = await open_shop(workspace("  frequency:\n    email: {max: 1, per: 24h, over: skip}", "[send email a]"))
    await shop.event("checkout.started", id="c1")
    await shop.event("checkout.started", id="c2")
    messages = await shop.engine.store.messages("shop")
    assert [(m.status, m.error) for m in messages] == [
        ("sent", None), ("skipped", "frequency cap reached (1 message per 1d on email)")]


async def test_an_offer_is_not_sent_again_on_another_channel(open_shop) -> None:
    shop = await open_shop(workspace("  consent: {sms: none}",
                                     '[send email a offer "PANIER10", send sms b offer "PANIER10", send sms a]'))
    await shop.event("checkout.started", {"email": "alice@example.test", "phone": "+33600000001"})
    messages = await shop.engine.store.messages("shop")
    assert [(m.channel, m.template, m.status) for m in messages] == [
        ("email", "a", "sent"), ("sms", "b", "skipped"), ("sms", "a", "sent")]
    assert messages[1].error == "offer PANIER10 already sent on email within 7d"


async def test_consent_sms_needs_an_opt_in_email_goes_out_until_opted_out(open_shop) -> None:
    shop = await open_shop(workspace("  offers: {window: 7d}", "[send email a, send sms b]"))
    contact = {"email": "alice@example.test", "phone": "+33600000001"}
    await shop.event("checkout.started", contact, id="c1")
    await shop.event("contact.subscribed", contact, channel="sms", source="checkout checkbox")
    await shop.event("contact.unsubscribed", contact, channel="email")
    await shop.event("checkout.started", contact, id="c2")
    messages = await shop.engine.store.messages("shop")
    assert [(m.channel, m.status, m.error) for m in messages] == [
        ("email", "sent", None),
        ("sms", "skipped", "no consent: sms needs an opt-in and the contact has not given one"),
        ("email", "skipped", "no consent: the contact opted out of email"),
        ("sms", "sent", None)]


async def test_a_transactional_send_needs_only_an_address(open_shop) -> None:
    shop = await open_shop(workspace("  offers: {window: 7d}", "[send email a transactional, send sms b transactional]"))
    await shop.event("contact.unsubscribed", {"email": "alice@example.test"})
    await shop.event("checkout.started")
    messages = await shop.engine.store.messages("shop")
    assert [(m.channel, m.status, m.error) for m in messages] == [
        ("email", "sent", None), ("sms", "skipped", "no phone number for this contact")]


async def test_an_unsubscribe_between_queueing_and_sending_stops_the_message(open_shop) -> None:
    shop = await open_shop(workspace('  quiet_hours: {email: "21:00-09:00"}', "[send email a]"))
    await shop.event("checkout.started", at=datetime(2026, 3, 2, 22, 0, tzinfo=PARIS))  # waits for 09:00
    await shop.event("contact.unsubscribed", at=datetime(2026, 3, 2, 23, 0, tzinfo=PARIS))
    await shop.wait(timedelta(hours=12))
    [message] = await shop.engine.store.messages("shop")
    assert (message.status, message.error) == ("skipped", "no consent: the contact opted out of email")


class Flaky:
    """A channel answering deferred twice, then delivered; or always failing with a bounce."""

    name = "log"

    def __init__(self, bounce: bool = False) -> None:
        self.calls: list[datetime] = []
        self.bounce = bounce

    async def send(self, message: OutboundMessage) -> DeliveryResult:
        self.calls.append(message.key)
        if self.bounce:
            return DeliveryResult("failed", "550 no such user", bounced=True)
        if len(self.calls) <= 2:
            return DeliveryResult("deferred", "451 try later")
        return DeliveryResult("delivered", provider_id="p-1")


async def test_deferred_answers_are_retried_with_backoff(open_shop) -> None:
    shop = await open_shop(workspace("  offers: {window: 7d}", "[send email a]"))
    flaky = Flaky()
    shop.engine.dispatcher.channels = {"log": flaky}
    await shop.event("checkout.started")
    assert len(flaky.calls) == 1
    await shop.wait(timedelta(seconds=59))
    assert len(flaky.calls) == 1  # the first retry comes after a minute
    await shop.wait(timedelta(minutes=4))
    [message] = await shop.engine.store.messages("shop")
    assert (len(flaky.calls), message.status, message.attempts, message.provider_id) == (3, "sent", 3, "p-1")
    assert message.sent_at == T0 + timedelta(minutes=3)  # 1 min, then 2 min of backoff


async def test_a_bounce_marks_the_address_and_later_messages_skip_it(open_shop) -> None:
    shop = await open_shop(workspace("  offers: {window: 7d}", "[send email a, wait 1d, send email b]"))
    shop.engine.dispatcher.channels = {"log": Flaky(bounce=True)}
    await shop.event("checkout.started")
    await shop.wait(timedelta(days=1))
    messages = await shop.engine.store.messages("shop")
    assert [(m.status, m.error) for m in messages] == [
        ("failed", "550 no such user"), ("skipped", "the contact's email address bounced")]


FALLBACK = workspace("  consent: {sms: opt_in}", "[send email a, wait until email.opened within 24h, "
                                                  "{if not waited: [send sms b]}]")


async def test_email_then_sms_when_not_opened_within_a_day(open_shop) -> None:
    shop = await open_shop(FALLBACK)
    contact = {"email": "alice@example.test", "phone": "+33600000001"}
    await shop.event("contact.subscribed", contact, channel="sms")
    await shop.event("checkout.started", contact)
    await shop.wait(timedelta(hours=23, minutes=59))
    assert [m.channel for m in shop.channel.sent] == ["email"]
    await shop.wait(timedelta(minutes=1))
    assert [m.channel for m in shop.channel.sent] == ["email", "sms"]


async def test_no_sms_when_the_email_was_opened(open_shop) -> None:
    shop = await open_shop(FALLBACK)
    contact = {"email": "alice@example.test", "phone": "+33600000001"}
    await shop.event("contact.subscribed", contact, channel="sms")
    await shop.event("checkout.started", contact)
    await shop.event("email.opened", contact, at=T0 + timedelta(hours=2))
    await shop.wait(timedelta(days=2))
    assert [m.channel for m in shop.channel.sent] == ["email"]


async def test_the_sms_fallback_reaches_a_local_twilio_only_when_the_email_was_not_opened(open_shop, monkeypatch) -> None:
    from relance.plugins.builtins.twilio_channel import TwilioChannel

    from ..plugins.fake_providers import Recorded, serving, twilio_app

    monkeypatch.setenv("RELANCE_TEST_TWILIO_TOKEN", "tok3n")
    recorded = Recorded()
    with serving(twilio_app(recorded)) as base:
        channels = ("{email: {plugin: log, address: email}, sms: {plugin: twilio_sms, account_sid: AC1, "
                    f"auth_token_env: RELANCE_TEST_TWILIO_TOKEN, from: '+33700000000', base_url: '{base}'}}}}")
        shop = await open_shop(workspace("  consent: {sms: none}", "[send email a, wait until email.opened within 24h, "
                                         "{if not waited: [send sms b]}]", channels))
        twilio = TwilioChannel("sms")
        shop.engine.dispatcher.channels = {**shop.engine.dispatcher.channels, "twilio_sms": twilio}
        opener = {"email": "ana@example.test", "phone": "+33611111111"}
        silent = {"email": "bob@example.test", "phone": "+33622222222"}
        await shop.event("checkout.started", opener, id="c1")
        await shop.event("checkout.started", silent, id="c2")
        await shop.event("email.opened", opener, at=T0 + timedelta(hours=3))
        await shop.wait(timedelta(days=2))
        await twilio.close()
    assert [r["form"]["To"] for r in recorded.requests] == ["+33622222222"]


async def test_a_slow_channel_hands_back_the_rest_of_its_group_instead_of_holding_it(open_shop) -> None:
    from relance.engine.inbox import Received

    shop = await open_shop(workspace("  offers: {window: 7d}", "[send email a]"))
    sent: list[str] = []

    class Slow:
        name = "log"

        async def send(self, message: OutboundMessage) -> DeliveryResult:
            sent.append(message.email or "")
            shop.clock.advance(timedelta(seconds=61))  # a provider taking its time
            return DeliveryResult("delivered")

    shop.engine.dispatcher.channels = {"log": Slow()}
    await shop.engine.accept([Received(shop.make_event("checkout.started", {"email": f"c{n}@example.test"}))
                              for n in range(3)])
    await shop.engine.process_inbox()
    await shop.engine.dispatch()  # intake queues; the outbox sends
    messages = await shop.engine.store.messages("shop")
    assert [m.status for m in messages] == ["sent", "pending", "pending"]  # not left claimed ("sending")
    await shop.engine.dispatch()
    await shop.engine.dispatch()
    assert sent == ["c0@example.test", "c1@example.test", "c2@example.test"]  # each once
