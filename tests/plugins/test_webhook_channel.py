"""The signed webhook channel, against a local receiver that checks what a real one would."""
from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from relance.engine.channels import OutboundMessage
from relance.plugins.builtins.webhook_channel import WebhookChannel, sign, verify_signature

from .fake_providers import Recorded, receiver_app, serving

NOW = 1_772_442_000.0


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, Recorded]]:
    monkeypatch.setenv("RELANCE_TEST_HOOK_SECRET", "s3cret")
    recorded = Recorded()
    with serving(receiver_app(recorded)) as base:
        yield f"{base}/hook", recorded


def message(url: str, key: str = "4:r/steps/1:1") -> OutboundMessage:
    return OutboundMessage(key, "crm", "lead-chaud", "Lead chaud", "Léa veut commander", "lea@example.test", None, 9,
                           "ecom-01", settings={"url": url, "secret_env": "RELANCE_TEST_HOOK_SECRET"},
                           workspace="maison-demo")


async def test_a_signed_post_the_receiver_can_verify(receiver) -> None:
    url, recorded = receiver
    channel = WebhookChannel(now=lambda: NOW)
    assert (await channel.send(message(url))).status == "delivered"
    await channel.close()
    [request] = recorded.requests
    headers, body = request["headers"], request["body"]
    assert headers["idempotency-key"] == "4:r/steps/1:1" and headers["x-relance-timestamp"] == str(int(NOW))
    assert verify_signature("s3cret", headers["x-relance-timestamp"], body, headers["x-relance-signature"], now=NOW + 10)
    sent = json.loads(body)
    assert (sent["body"], sent["contact"]["email"], sent["rule"], sent["workspace"]) == (
        "Léa veut commander", "lea@example.test", "ecom-01", "maison-demo")


async def test_busy_receivers_are_retried_refusals_are_failures(receiver) -> None:
    url, recorded = receiver
    recorded.answers[:] = [503, 429, 400]
    channel = WebhookChannel(now=lambda: NOW)
    results = [await channel.send(message(url, key=str(n))) for n in range(4)]
    await channel.close()
    assert [r.status for r in results] == ["deferred", "deferred", "failed", "delivered"]
    assert results[1].retry_after is not None and results[1].retry_after.total_seconds() == 3


def test_altered_bodies_other_secrets_and_stale_timestamps_are_refused() -> None:
    body = b'{"key": "1"}'
    signature = sign("s3cret", "1772442000", body)
    assert verify_signature("s3cret", "1772442000", body, signature, now=NOW)
    assert not verify_signature("s3cret", "1772442000", b'{"key": "2"}', signature, now=NOW)
    assert not verify_signature("other", "1772442000", body, signature, now=NOW)
    assert not verify_signature("s3cret", "1772442000", body, signature, now=NOW + 301)  # a replay, later
    assert not verify_signature("s3cret", "soon", body, signature, now=NOW)


async def test_a_missing_secret_names_its_variable() -> None:
    channel = WebhookChannel()
    result = await channel.send(OutboundMessage("k", "crm", "t", None, "b", None, None, 1, "r",
                                                settings={"url": "http://127.0.0.1:9/hook", "secret_env": "NOPE_X"}))
    assert (result.status, result.detail) == ("failed", "environment variable NOPE_X (the webhook signing secret) is not set")
