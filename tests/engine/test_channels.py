"""What a channel is comes from its plugin's traits, never from its name: address, consent, headers."""
from __future__ import annotations

import pytest

from relance.engine.links import Links

from .conftest import RecordingChannel

SMTP = "{plugin: smtp, host: mail.test, from: 'Shop <news@shop.test>'}"
TWILIO = "{plugin: twilio_sms, account_sid: AC1, auth_token_env: T, from: '+33700000000'}"
WEBHOOK = "{plugin: webhook, url: 'https://crm.test/hook', secret_env: S}"


def workspace(channel: str, config: str) -> str:
    return f"""\
workspace: shop
channels: {{{channel}: {config}}}
templates:
  a: {{{channel}: {{subject: "A", body: "a"}}}}
rules:
  - id: r
    when: checkout.started
    entry: always
    steps: [send {channel} a]
"""


async def sent(open_shop, channel: str, config: str, *events: tuple[str, dict, dict]) -> tuple[list, RecordingChannel]:
    """The messages (status, error) after `events`, and what the plugin was handed."""
    shop = await open_shop(workspace(channel, config))
    recorder = RecordingChannel()
    shop.engine.dispatcher.channels = {name: recorder for name in ("log", "smtp", "twilio_sms", "webhook")}
    shop.engine.dispatcher.links = Links("https://relance.test", "secret")
    for type_, contact, properties in events:
        await shop.event(type_, contact, **properties)
    return [(m.status, m.error) for m in await shop.engine.store.messages("shop")], recorder


@pytest.mark.parametrize("channel, config", [("newsletter", SMTP), ("email", SMTP), ("mail", "{plugin: log, address: email}")])
async def test_a_channel_whose_plugin_is_email_is_email_whatever_its_name(open_shop, channel, config) -> None:
    messages, recorder = await sent(open_shop, channel, config,
                                    ("checkout.started", {"email": "ana@example.test"}, {}),
                                    ("checkout.started", {"phone": "+33611111111"}, {}),
                                    ("contact.unsubscribed", {"email": "ana@example.test"}, {"channel": channel}),
                                    ("checkout.started", {"email": "ana@example.test"}, {}))
    assert messages == [("sent", None), ("skipped", "no email address for this contact"),
                        ("skipped", f"no consent: the contact opted out of {channel}")]
    [message] = recorder.sent
    assert message.headers["List-Unsubscribe"].startswith("<https://relance.test/u/")
    assert message.headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


@pytest.mark.parametrize("channel, config", [("texto", TWILIO), ("sms", TWILIO), ("relance", "{plugin: log, address: phone}")])
async def test_a_channel_whose_plugin_is_sms_needs_a_phone_and_an_opt_in(open_shop, channel, config) -> None:
    contact = {"phone": "+33611111111"}
    messages, recorder = await sent(open_shop, channel, config,
                                    ("checkout.started", contact, {}),
                                    ("contact.subscribed", contact, {"channel": channel}),
                                    ("checkout.started", contact, {}),
                                    ("checkout.started", {"email": "ana@example.test"}, {}))
    assert messages == [("skipped", f"no consent: {channel} needs an opt-in and the contact has not given one"),
                        ("sent", None), ("skipped", "no phone number for this contact")]
    assert [m.headers for m in recorder.sent] == [{}]


@pytest.mark.parametrize("channel, config", [("email", WEBHOOK), ("sms", "{plugin: log}"), ("crm", WEBHOOK)])
async def test_a_channel_that_delivers_to_no_address_needs_none_and_no_consent(open_shop, channel, config) -> None:
    messages, recorder = await sent(open_shop, channel, config,
                                    ("contact.unsubscribed", {"external_ids": {"shop": "1"}}, {"channel": channel}),
                                    ("checkout.started", {"external_ids": {"shop": "1"}}, {}))
    assert messages == [("sent", None)]
    assert [m.headers for m in recorder.sent] == [{}]  # no unsubscribe headers on a webhook's or a log's message
