"""The `webhook` channel: each message POSTed as JSON to a URL, signed, for CRMs, Slack bridges or n8n.

Settings: `url`, `secret_env` (the NAME of the environment variable holding the signing
secret), `timeout` (seconds), `headers` (extra headers, not secrets: rules live in git).

The body is `{"key", "channel", "template", "subject", "body", "html", "contact": {"id",
"email", "phone"}, "rule", "workspace"}`. Each request carries:

- `X-Relance-Timestamp`: Unix seconds when it was signed;
- `X-Relance-Signature: sha256=HEX`: HMAC-SHA256 of "TIMESTAMP.BODY" (the raw bytes) under
  the secret;
- `Idempotency-Key`: the message key. After a crash between the receiver's 2xx and Relance
  recording it, the same message comes again with the same key: drop it.

A receiver checks the first two with `verify_signature` over the raw body, before parsing it.
A 2xx answer is delivered; 408, 429 and 5xx (or no answer) are retried, honouring
`Retry-After` in seconds; any other answer fails the message.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import os
import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from relance.dsl.settings import Setting, with_defaults
from relance.engine.channels import ChannelTraits, DeliveryResult, OutboundMessage, retry_after

from .. import hookimpl

SETTINGS: dict[str, Setting] = {
    "url": Setting(str, required=True, help="where each message is POSTed"),
    "secret_env": Setting(str, required=True, help="the environment variable holding the signing secret"),
    "timeout": Setting((int, float), default=10, help="seconds to wait for the receiver"),
    "headers": Setting(dict, help="extra headers sent with each request (no secrets: rules live in git)"),
}
TRAITS = ChannelTraits(None, "none", frozenset({"subject", "html"}))


def _no_secret(settings: Mapping[str, Any]) -> str:
    return f"environment variable {settings.get('secret_env')} (the webhook signing secret) is not set"


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The `X-Relance-Signature` value: `sha256=` and the hex HMAC-SHA256 of `TIMESTAMP.BODY`."""
    return "sha256=" + hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def verify_signature(secret: str, timestamp: str, body: bytes, signature: str, now: float,
                     tolerance: float = 300) -> bool:
    """For receivers: whether the request is Relance's, unaltered and recent.

    `timestamp` and `signature` are the `X-Relance-Timestamp` and `X-Relance-Signature`
    headers, `body` the raw request body, `now` the receiver's Unix time. A timestamp more
    than `tolerance` seconds away from `now` is refused, so a captured request cannot be
    replayed later. The comparison takes the same time whatever the signature.

    Example: ``verify_signature(os.environ["HOOK_SECRET"], request.headers["x-relance-timestamp"],
    await request.body(), request.headers["x-relance-signature"], now=time.time())``
    """
    try:
        fresh = abs(now - int(timestamp)) <= tolerance
    except ValueError:
        return False
    return fresh and hmac.compare_digest(sign(secret, timestamp, body).encode(), signature.encode())


class WebhookChannel:
    """POSTs signed JSON; `now` gives the signing time (Unix seconds), pinned in tests."""

    name = "webhook"
    settings_schema = SETTINGS

    def __init__(self, now: Callable[[], float] = time.time) -> None:
        self.now = now
        self._client: httpx.AsyncClient | None = None

    def traits(self, settings: Mapping[str, Any]) -> ChannelTraits:
        """To a system, not to a contact's address: no address needed, no consent asked."""
        return TRAITS

    def check_environment(self, settings: Mapping[str, Any]) -> list[str]:
        """The signing secret's variable."""
        return [] if os.environ.get(str(settings.get("secret_env"))) else [_no_secret(settings)]

    async def send(self, message: OutboundMessage) -> DeliveryResult:
        settings = with_defaults(SETTINGS, message.settings)
        secret = os.environ.get(str(settings["secret_env"]))
        if not secret:
            return DeliveryResult("failed", _no_secret(settings))
        body = json.dumps({"key": message.key, "channel": message.channel, "template": message.template,
                           "subject": message.subject, "body": message.body, "html": message.html,
                           "contact": {"id": message.contact_id, "email": message.email, "phone": message.phone},
                           "rule": message.rule_id, "workspace": message.workspace},
                          ensure_ascii=False).encode()
        timestamp = str(int(self.now()))
        headers = {**{str(k): str(v) for k, v in (settings.get("headers") or {}).items()},
                   "Content-Type": "application/json", "X-Relance-Timestamp": timestamp,
                   "X-Relance-Signature": sign(secret, timestamp, body), "Idempotency-Key": message.key}
        if self._client is None:
            self._client = httpx.AsyncClient()
        url = str(settings["url"])
        try:
            response = await self._client.post(url, content=body, headers=headers, timeout=float(settings["timeout"]))
        except (httpx.InvalidURL, httpx.UnsupportedProtocol) as error:
            return DeliveryResult("failed", f"url {url!r} is not usable: {error}")
        except httpx.HTTPError as error:  # refused, reset, timed out: the receiver may be back soon
            return DeliveryResult("deferred", f"{url}: {type(error).__name__}: {error}")
        detail = f"{response.status_code} {response.text[:200]}".strip()
        if response.is_success:
            return DeliveryResult("delivered", detail)
        if response.status_code in (408, 429) or response.status_code >= 500:
            return DeliveryResult("deferred", detail, retry_after=retry_after(response.headers.get("Retry-After")))
        return DeliveryResult("failed", detail)

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None


@hookimpl
def relance_channels() -> list[WebhookChannel]:
    return [WebhookChannel()]
