"""SMS and WhatsApp through Twilio's Messages API, against a local server that speaks it."""
from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from relance.engine.channels import OutboundMessage
from relance.plugins.builtins.twilio_channel import (
    TwilioChannel,
    status_event,
    verify_twilio_signature,
)

from .fake_providers import SLOW_NUMBER, Recorded, free_port, serving, twilio_app

SID = "AC0123456789abcdef0123456789abcdef"
TOKEN_ENV = "RELANCE_TEST_TWILIO_TOKEN"


@pytest.fixture(scope="module")
def twilio_server() -> Iterator[tuple[str, Recorded]]:
    recorded = Recorded()
    with serving(twilio_app(recorded)) as base:
        yield base, recorded


@pytest.fixture
def twilio(twilio_server: tuple[str, Recorded], monkeypatch: pytest.MonkeyPatch) -> tuple[str, Recorded]:
    """The fake Twilio's base URL and what it received in this test; the token in the environment."""
    monkeypatch.setenv(TOKEN_ENV, "tok3n")
    twilio_server[1].requests.clear()
    return twilio_server


def message(base: str, phone: str | None = "+33611111111", key: str = "1:r/steps/0:1", **settings: Any) -> OutboundMessage:
    return OutboundMessage(key, "sms", "ping", None, "Votre panier vous attend", None, phone, 1, "r",
                           settings={"account_sid": SID, "auth_token_env": TOKEN_ENV, "from": "+33700000000",
                                     "base_url": base} | settings)


@pytest.mark.parametrize("kind, to, sender", [
    ("sms", "+33611111111", "+33700000000"),
    ("whatsapp", "whatsapp:+33611111111", "whatsapp:+33700000000"),
])
async def test_a_message_reaches_the_messages_api_with_auth_form_and_key(twilio, kind, to, sender) -> None:
    base, recorded = twilio
    channel = TwilioChannel(kind)
    result = await channel.send(message(base, status_callback="https://relance.test/v1/providers/twilio/shop"))
    await channel.close()
    [request] = recorded.requests
    assert (channel.name, result.status, result.provider_id) == (f"twilio_{kind}", "delivered", request["sid"])
    assert result.provider_id.startswith("SM")
    assert (request["method"], request["path"], request["auth"]) == (
        "POST", f"/2010-04-01/Accounts/{SID}/Messages.json", (SID, "tok3n"))
    assert request["form"] == {"To": to, "From": sender, "Body": "Votre panier vous attend",
                               "StatusCallback": "https://relance.test/v1/providers/twilio/shop"}
    assert request["headers"]["idempotency-key"] == "1:r/steps/0:1"


async def test_a_whatsapp_sender_written_with_its_prefix_is_not_prefixed_twice(twilio) -> None:
    base, recorded = twilio
    channel = TwilioChannel("whatsapp")
    await channel.send(message(base, **{"from": "whatsapp:+14155238886"}))
    await channel.close()
    assert recorded.requests[0]["form"]["From"] == "whatsapp:+14155238886"
    assert "StatusCallback" not in recorded.requests[0]["form"]


async def test_messages_share_one_connection(twilio) -> None:
    base, recorded = twilio
    channel = TwilioChannel("sms")
    for n in range(3):
        assert (await channel.send(message(base, key=str(n)))).status == "delivered"
    await channel.close()
    assert len({r["client_port"] for r in recorded.requests}) == 1


async def test_answers_map_to_delivered_deferred_failed_and_bounced(twilio) -> None:
    base, recorded = twilio
    channel = TwilioChannel("sms")
    phones = ["+33600000400", "+33600021610", "+33600000401", "+33600000429", "+33600000500", "+33600000503",
              "+33622222222"]
    results = [await channel.send(message(base, phone, key=phone)) for phone in phones]
    await channel.close()
    assert [(r.status, r.bounced, r.retry_after) for r in results] == [
        ("failed", True, None),  # 21211 invalid 'To'
        ("failed", True, None),  # 21610 unsubscribed recipient
        ("failed", False, None),  # 20003: the account, not the number
        ("deferred", False, timedelta(seconds=7)),
        ("deferred", False, None),
        ("deferred", False, None),
        ("delivered", False, None)]
    assert results[0].detail == "Twilio answered 400, error 21211: The 'To' number +33600000400 is not a valid phone number."
    assert results[-1].provider_id == recorded.requests[-1]["sid"] and results[0].provider_id is None
    assert [r["form"]["To"] for r in recorded.requests] == phones  # a bad number held back no one


async def test_a_slow_provider_is_deferred(twilio) -> None:
    base, _ = twilio
    channel = TwilioChannel("sms")
    result = await channel.send(message(base, SLOW_NUMBER, timeout=0.05))
    await channel.close()
    assert result.status == "deferred" and "Timeout" in result.detail


async def test_an_unreachable_provider_is_deferred(monkeypatch) -> None:
    monkeypatch.setenv(TOKEN_ENV, "tok3n")
    channel = TwilioChannel("sms")
    result = await channel.send(message(f"http://127.0.0.1:{free_port()}"))
    await channel.close()
    assert result.status == "deferred" and "ConnectError" in result.detail


async def test_a_missing_token_variable_is_named_and_nothing_is_sent(twilio, monkeypatch) -> None:
    base, recorded = twilio
    monkeypatch.delenv("RELANCE_TEST_NOT_SET", raising=False)
    channel = TwilioChannel("sms")
    result = await channel.send(message(base, auth_token_env="RELANCE_TEST_NOT_SET"))
    await channel.close()
    assert (result.status, result.detail) == (
        "failed", "environment variable RELANCE_TEST_NOT_SET (the Twilio auth token) is not set")
    assert recorded.requests == []


async def test_a_contact_without_phone_fails_and_nothing_is_sent(twilio) -> None:
    base, recorded = twilio
    channel = TwilioChannel("sms")
    result = await channel.send(message(base, phone=None))
    await channel.close()
    assert (result.status, result.detail, recorded.requests) == ("failed", "contact has no phone number", [])


async def test_an_unusable_base_url_fails_instead_of_raising(monkeypatch) -> None:
    monkeypatch.setenv(TOKEN_ENV, "tok3n")
    channel = TwilioChannel("sms")
    result = await channel.send(message("api.twilio.com"))
    await channel.close()
    assert result.status == "failed" and "base_url 'api.twilio.com'" in result.detail


@pytest.mark.parametrize("form, event", [
    ({"MessageSid": "SM1", "MessageStatus": "delivered", "To": "+33611111111"},
     {"id": "twilio:SM1:delivered", "type": "sms.delivered", "contact": {"phone": "+33611111111"},
      "properties": {"provider_id": "SM1", "status": "delivered"}}),
    ({"MessageSid": "SM2", "MessageStatus": "failed", "To": "+33611111111", "ErrorCode": "30008"},
     {"id": "twilio:SM2:failed", "type": "sms.failed", "contact": {"phone": "+33611111111"},
      "properties": {"provider_id": "SM2", "status": "failed", "error_code": "30008"}}),
    ({"MessageSid": "SM3", "MessageStatus": "undelivered", "To": "+33611111111", "ErrorCode": "30003"},
     {"id": "twilio:SM3:undelivered", "type": "sms.undelivered", "contact": {"phone": "+33611111111"},
      "properties": {"provider_id": "SM3", "status": "undelivered", "error_code": "30003"}}),
    ({"MessageSid": "SM4", "MessageStatus": "read", "To": "whatsapp:+33611111111", "ErrorCode": ""},
     {"id": "twilio:SM4:read", "type": "whatsapp.read", "contact": {"phone": "+33611111111"},
      "properties": {"provider_id": "SM4", "status": "read"}}),
    ({"MessageSid": "SM5", "MessageStatus": "sent", "To": "whatsapp:+33611111111"},
     {"id": "twilio:SM5:sent", "type": "whatsapp.sent", "contact": {"phone": "+33611111111"},
      "properties": {"provider_id": "SM5", "status": "sent"}}),
    ({"MessageSid": "SM6", "MessageStatus": "queued", "To": "+33611111111"}, None),
    ({"MessageSid": "SM6", "MessageStatus": "sending", "To": "+33611111111"}, None),
    ({"MessageSid": "SM6", "MessageStatus": "accepted", "To": "+33611111111"}, None),
    ({"MessageSid": "SM7", "MessageStatus": "delivered"}, None),  # no recipient to attach it to
    ({"MessageStatus": "delivered", "To": "+33611111111"}, None),
])
def test_status_callbacks_become_events(form: dict[str, str], event: dict | None) -> None:
    assert status_event(form) == event


def test_twilio_signatures_are_checked() -> None:
    url = "https://relance.test/v1/providers/twilio/maison-demo"
    form = {"To": "+33611111111", "MessageStatus": "delivered", "MessageSid": "SM1", "ErrorCode": ""}
    # Twilio's scheme: the URL, then each POST field's name and value, sorted by name; HMAC-SHA1, base64
    data = url + "ErrorCode" + "MessageSidSM1" + "MessageStatusdelivered" + "To+33611111111"
    signature = base64.b64encode(hmac.new(b"tok3n", data.encode(), hashlib.sha1).digest()).decode()
    assert verify_twilio_signature(url, form, signature, "tok3n")
    assert not verify_twilio_signature(url, {**form, "MessageStatus": "read"}, signature, "tok3n")
    assert not verify_twilio_signature(url, {k: v for k, v in form.items() if v}, signature, "tok3n")
    assert not verify_twilio_signature(url + "?x=1", form, signature, "tok3n")
    assert not verify_twilio_signature(url, form, signature, "other-token")
    assert not verify_twilio_signature(url, form, "é" + signature, "tok3n")  # a forged header, not an exception


def test_twilio_signatures_match_the_example_in_twilios_documentation() -> None:
    params = {"CallSid": "CA1234567890ABCDE", "Caller": "+12349013030", "Digits": "1234", "From": "+12349013030",
              "To": "+18005551212"}
    assert verify_twilio_signature("https://mycompany.com/myapp.php?foo=1&bar=2", params,
                                   "0/KCTR6DLpKmkAf8muzZqo1nDgQ=", "12345")
