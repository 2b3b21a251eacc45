"""SMS and WhatsApp through Twilio's Messages API, against a local server that speaks it."""
from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterator
from datetime import timedelta

import pytest

from relance.engine.channels import OutboundMessage
from relance.plugins.builtins.twilio_channel import TwilioChannel, status_event, verify_twilio_signature

from .fake_providers import Recorded, free_port, serving, twilio_app

SID = "AC0123456789abcdef0123456789abcdef"


@pytest.fixture
def twilio(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, Recorded]]:
    monkeypatch.setenv("RELANCE_TEST_TWILIO_TOKEN", "tok3n")
    recorded = Recorded()
    with serving(twilio_app(recorded)) as base:
        yield base, recorded


def message(base: str, phone: str | None = "+33611111111", key: str = "1:r/steps/0:1", **settings: str) -> OutboundMessage:
    return OutboundMessage(key, "sms", "ping", None, "Votre panier vous attend", None, phone, 1, "r",
                           settings={"account_sid": SID, "auth_token_env": "RELANCE_TEST_TWILIO_TOKEN",
                                     "from": "+33700000000", "base_url": base} | settings)


async def test_an_sms_reaches_the_messages_api_with_auth_and_form(twilio) -> None:
    base, recorded = twilio
    channel = TwilioChannel("sms")
    result = await channel.send(message(base, status_callback="https://relance.test/v1/providers/twilio"))
    await channel.close()
    assert (result.status, result.provider_id) == ("delivered", "SM" + "0" * 31 + "1")
    [request] = recorded.requests
    assert request["path"] == f"/2010-04-01/Accounts/{SID}/Messages.json"
    assert request["form"] == {"To": "+33611111111", "From": "+33700000000", "Body": "Votre panier vous attend",
                               "StatusCallback": "https://relance.test/v1/providers/twilio"}
    assert request["headers"]["authorization"] == "Basic " + base64.b64encode(f"{SID}:tok3n".encode()).decode()
    assert request["headers"]["x-relance-message-key"] == "1:r/steps/0:1"


async def test_whatsapp_numbers_carry_the_prefix(twilio) -> None:
    base, recorded = twilio
    channel = TwilioChannel("whatsapp")
    assert (await channel.send(message(base))).status == "delivered"
    await channel.close()
    form = recorded.requests[0]["form"]
    assert (form["To"], form["From"]) == ("whatsapp:+33611111111", "whatsapp:+33700000000")


async def test_answers_map_to_delivered_deferred_failed_and_bounced(twilio) -> None:
    base, recorded = twilio
    channel = TwilioChannel("sms")
    results = [await channel.send(message(base, phone, key=phone)) for phone in
               ("+33600000400", "+33600000429", "+33600000500", "+33622222222")]
    await channel.close()
    assert [(r.status, r.bounced, r.retry_after) for r in results] == [
        ("failed", True, None), ("deferred", False, timedelta(seconds=7)), ("deferred", False, None),
        ("delivered", False, None)]
    assert results[0].detail == "400 21211 The 'To' number is not a valid phone number."
    assert len(recorded.requests) == 4  # a bad number held back no one


async def test_missing_token_no_phone_and_no_server() -> None:
    channel = TwilioChannel("sms")
    missing = await channel.send(message("http://127.0.0.1:9", auth_token_env="RELANCE_TEST_NOT_SET"))
    no_phone = await channel.send(message("http://127.0.0.1:9", phone=None))
    assert (missing.status, missing.detail) == (
        "failed", "environment variable RELANCE_TEST_NOT_SET (the Twilio auth token) is not set")
    assert (no_phone.status, no_phone.detail) == ("failed", "contact has no phone number")


async def test_an_unreachable_provider_is_deferred(monkeypatch) -> None:
    monkeypatch.setenv("RELANCE_TEST_TWILIO_TOKEN", "tok3n")
    channel = TwilioChannel("sms")
    result = await channel.send(message(f"http://127.0.0.1:{free_port()}"))
    await channel.close()
    assert result.status == "deferred" and "ConnectError" in result.detail


@pytest.mark.parametrize("form, event", [
    ({"MessageSid": "SM1", "MessageStatus": "delivered", "To": "+33611111111"},
     {"id": "twilio:SM1:delivered", "type": "sms.delivered", "contact": {"phone": "+33611111111"},
      "properties": {"provider_id": "SM1", "status": "delivered"}}),
    ({"MessageSid": "SM2", "MessageStatus": "undelivered", "To": "+33611111111", "ErrorCode": "30003"},
     {"id": "twilio:SM2:undelivered", "type": "sms.undelivered", "contact": {"phone": "+33611111111"},
      "properties": {"provider_id": "SM2", "status": "undelivered", "error_code": "30003"}}),
    ({"MessageSid": "SM3", "MessageStatus": "read", "To": "whatsapp:+33611111111"},
     {"id": "twilio:SM3:read", "type": "whatsapp.read", "contact": {"phone": "+33611111111"},
      "properties": {"provider_id": "SM3", "status": "read"}}),
    ({"MessageSid": "SM4", "MessageStatus": "queued", "To": "+33611111111"}, None),
])
def test_status_callbacks_become_events(form: dict[str, str], event: dict | None) -> None:
    assert status_event(form) == event


def test_twilio_signatures_are_checked() -> None:
    url = "https://relance.test/v1/providers/twilio/maison-demo"
    form = {"MessageSid": "SM1", "MessageStatus": "delivered", "To": "+33611111111"}
    # Twilio's scheme: the URL, then each POST field name and value, sorted by name; HMAC-SHA1, base64
    data = url + "MessageSidSM1MessageStatusdeliveredTo+33611111111"
    signature = base64.b64encode(hmac.new(b"tok3n", data.encode(), hashlib.sha1).digest()).decode()
    assert verify_twilio_signature(url, form, signature, "tok3n")
    assert not verify_twilio_signature(url, {**form, "MessageStatus": "read"}, signature, "tok3n")
    assert not verify_twilio_signature(url, form, signature, "other-token")
