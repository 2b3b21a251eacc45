"""The signed webhook channel, against a local receiver that checks what a real one would."""
from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from relance.engine.channels import OutboundMessage
from relance.plugins.builtins.webhook_channel import (
    WebhookChannel,
    sign,
    verify_signature,
)

from .fake_providers import Recorded, free_port, receiver_app, serving

NOW = 1_772_442_000.0
SECRET_ENV = "RELANCE_TEST_HOOK_SECRET"


@pytest.fixture(scope="module")
def receiver_server() -> Iterator[tuple[str, Recorded]]:
    """A receiver holding the secret "s3cret", whose clock is ten seconds after the sender's."""
    recorded = Recorded()
    with serving(receiver_app(recorded, secret="s3cret", now=lambda: NOW + 10)) as base:
        yield f"{base}/hook", recorded


@pytest.fixture
def receiver(receiver_server: tuple[str, Recorded], monkeypatch: pytest.MonkeyPatch) -> tuple[str, Recorded]:
    """The receiver's URL and what it received in this test; the sender's secret in the environment."""
    monkeypatch.setenv(SECRET_ENV, "s3cret")
    receiver_server[1].requests.clear()
    receiver_server[1].answers.clear()
    return receiver_server


def message(url: str, key: str = "4:r/steps/1:1", **settings: Any) -> OutboundMessage:
    return OutboundMessage(key, "crm", "lead-chaud", "Lead chaud", "Léa veut commander", "lea@example.test", None, 9,
                           "ecom-01", settings={"url": url, "secret_env": SECRET_ENV} | settings,
                           html="<p>Léa</p>", workspace="maison-demo")


async def test_a_signed_post_the_receiver_verifies(receiver) -> None:
    url, recorded = receiver
    channel = WebhookChannel(now=lambda: NOW)
    result = await channel.send(message(url, headers={"X-Crm-Source": "relance"}))
    await channel.close()
    assert result.status == "delivered"
    [request] = recorded.requests
    assert request["verified"]
    headers = request["headers"]
    assert (headers["idempotency-key"], headers["x-relance-timestamp"], headers["content-type"],
            headers["x-crm-source"]) == ("4:r/steps/1:1", "1772442000", "application/json", "relance")
    assert json.loads(request["body"]) == {
        "key": "4:r/steps/1:1", "channel": "crm", "template": "lead-chaud", "subject": "Lead chaud",
        "body": "Léa veut commander", "html": "<p>Léa</p>",
        "contact": {"id": 9, "email": "lea@example.test", "phone": None}, "rule": "ecom-01",
        "workspace": "maison-demo"}


async def test_extra_headers_cannot_replace_the_signature(receiver) -> None:
    url, recorded = receiver
    channel = WebhookChannel(now=lambda: NOW)
    forged = {"X-Relance-Signature": "sha256=00", "Idempotency-Key": "other"}
    assert (await channel.send(message(url, headers=forged))).status == "delivered"
    await channel.close()
    assert recorded.requests[0]["verified"] and recorded.requests[0]["headers"]["idempotency-key"] == "4:r/steps/1:1"


async def test_a_sender_with_another_secret_is_refused(receiver, monkeypatch) -> None:
    url, recorded = receiver
    monkeypatch.setenv(SECRET_ENV, "not-the-receivers")
    channel = WebhookChannel(now=lambda: NOW)
    result = await channel.send(message(url))
    await channel.close()
    assert (result.status, result.detail) == ("failed", "401 bad signature")
    assert recorded.requests[0]["verified"] is False


async def test_a_stale_timestamp_is_refused_by_the_receiver(receiver) -> None:
    url, _ = receiver
    channel = WebhookChannel(now=lambda: NOW - 600)  # the sender's clock ten minutes behind
    result = await channel.send(message(url))
    await channel.close()
    assert result.status == "failed"


@pytest.mark.parametrize("answer, status, retry_after", [
    (503, "deferred", None),
    (500, "deferred", None),
    (429, "deferred", timedelta(seconds=3)),
    (408, "deferred", None),
    (400, "failed", None),
    (410, "failed", None),
    (204, "delivered", None),
])
async def test_answers_map_to_delivered_deferred_failed(receiver, answer, status, retry_after) -> None:
    url, recorded = receiver
    recorded.answers[:] = [answer]
    channel = WebhookChannel(now=lambda: NOW)
    first, second = [await channel.send(message(url, key=str(n))) for n in range(2)]
    await channel.close()
    assert (first.status, first.retry_after) == (status, retry_after)
    assert second.status == "delivered"  # a refusal held back no one


async def test_an_unreachable_receiver_is_deferred(monkeypatch) -> None:
    monkeypatch.setenv(SECRET_ENV, "s3cret")
    channel = WebhookChannel(now=lambda: NOW)
    result = await channel.send(message(f"http://127.0.0.1:{free_port()}/hook"))
    await channel.close()
    assert result.status == "deferred" and "ConnectError" in result.detail


async def test_a_missing_secret_names_its_variable(monkeypatch) -> None:
    monkeypatch.delenv("RELANCE_TEST_NOT_SET", raising=False)
    channel = WebhookChannel(now=lambda: NOW)
    result = await channel.send(message("http://127.0.0.1:9/hook", secret_env="RELANCE_TEST_NOT_SET"))
    await channel.close()
    assert (result.status, result.detail) == (
        "failed", "environment variable RELANCE_TEST_NOT_SET (the webhook signing secret) is not set")


def test_the_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    import hashlib
    import hmac

    body = '{"key": "1", "body": "Léa"}'.encode()
    expected = hmac.new(b"s3cret", b"1772442000." + body, hashlib.sha256).hexdigest()
    assert sign("s3cret", "1772442000", body) == f"sha256={expected}"


def test_altered_bodies_other_secrets_and_stale_timestamps_are_refused() -> None:
    body = b'{"key": "1"}'
    signature = sign("s3cret", "1772442000", body)
    assert verify_signature("s3cret", "1772442000", body, signature, now=NOW)
    assert verify_signature("s3cret", "1772442000", body, signature, now=NOW + 300)  # at the edge of the tolerance
    assert not verify_signature("s3cret", "1772442000", b'{"key": "2"}', signature, now=NOW)
    assert not verify_signature("other", "1772442000", body, signature, now=NOW)
    assert not verify_signature("s3cret", "1772442001", body, signature, now=NOW)  # the timestamp is signed too
    assert not verify_signature("s3cret", "1772442000", body, signature, now=NOW + 301)  # a replay, later
    assert not verify_signature("s3cret", "1772442000", body, signature, now=NOW - 301)  # from the future
    assert not verify_signature("s3cret", "soon", body, signature, now=NOW)
    assert not verify_signature("s3cret", "1772442000", body, "é" + signature, now=NOW)  # not an exception
