"""The `webhook` channel: each message POSTed as JSON to a URL, signed, for CRMs, Slack bridges or n8n.

Settings: `url`, `secret_env` (the NAME of the environment variable holding the signing
secret), `timeout`. Each request carries `X-Relance-Timestamp` (Unix seconds),
`X-Relance-Signature: sha256=HEX` (HMAC-SHA256 of "TIMESTAMP.BODY" under the secret) and
`Idempotency-Key` (the message key: a receiver drops a repeat after a crash). A receiver
checks them with `verify_signature`.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import os
import time
from collections.abc import Callable
import httpx

from relance.dsl.settings import Setting, with_defaults
from relance.engine.channels import DeliveryResult, OutboundMessage, retry_after

from .. import hookimpl

SETTINGS = {
    "url": Setting(str, required=True),
    "secret_env": Setting(str, required=True, help="the environment variable holding the signing secret"),
    "timeout": Setting((int, float), default=10),
}
RETRY = {408, 425, 429, 500, 502, 503, 504}


def sign(secret: str, timestamp: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def verify_signature(secret: str, timestamp: str, body: bytes, signature: str, now: float,
                     tolerance: float = 300) -> bool:
    """For receivers: the signature is ours and the timestamp recent (a replayed request is refused)."""
    try:
        fresh = abs(now - float(timestamp)) <= tolerance
    except ValueError:
        return False
    return fresh and hmac.compare_digest(sign(secret, timestamp, body), signature)


class WebhookChannel:
    name = "webhook"
    settings_schema = SETTINGS
    capabilities = frozenset({"subject", "html"})

    def __init__(self, now: Callable[[], float] = time.time) -> None:
        self.now = now
        self._client: httpx.AsyncClient | None = None

    async def send(self, message: OutboundMessage) -> DeliveryResult:
        settings = with_defaults(SETTINGS, message.settings)
        secret = os.environ.get(str(settings["secret_env"]))
        if secret is None:
            return DeliveryResult("failed", f"environment variable {settings['secret_env']} "
                                            "(the webhook signing secret) is not set")
        body = json.dumps({"key": message.key, "workspace": message.workspace, "channel": message.channel,
                           "template": message.template, "rule": message.rule_id, "subject": message.subject,
                           "body": message.body, "html": message.html,
                           "contact": {"id": message.contact_id, "email": message.email, "phone": message.phone}},
                          ensure_ascii=False).encode()
        timestamp = str(int(self.now()))
        headers = {"Content-Type": "application/json", "X-Relance-Timestamp": timestamp,
                   "X-Relance-Signature": sign(secret, timestamp, body), "Idempotency-Key": message.key}
        if self._client is None:
            self._client = httpx.AsyncClient()
        try:
            response = await self._client.post(str(settings["url"]), content=body, headers=headers,
                                               timeout=float(settings["timeout"]))
        except httpx.HTTPError as error:
            return DeliveryResult("deferred", f"{settings['url']}: {type(error).__name__}: {error}")
        detail = f"{response.status_code} {response.text[:200]}".strip()
        if response.is_success:
            return DeliveryResult("delivered", detail)
        if response.status_code in RETRY:
            return DeliveryResult("deferred", detail, retry_after=retry_after(response.headers.get("Retry-After")))
        return DeliveryResult("failed", detail)

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None


@hookimpl
def relance_channels() -> list[WebhookChannel]:
    return [WebhookChannel()]
