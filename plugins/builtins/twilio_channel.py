"""SMS and WhatsApp over Twilio's Messages API (`twilio_sms`, `twilio_whatsapp`), and its status callbacks.

Settings: `account_sid`, `auth_token_env` (the NAME of the environment variable holding the
auth token), `from`, `base_url` (default https://api.twilio.com; a local server in tests),
`status_callback` (where Twilio reports delivery), `timeout`.

Twilio's Messages API takes no idempotency key: the message key is sent in a header for
the record, but if the process dies after Twilio accepted a message and before Relance
recorded it, the message is handed over again at restart and Twilio sends it twice. That
is at most one repeat per message in flight at the moment of the crash.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import os
from collections.abc import Mapping
from typing import Any

import httpx

from relance.dsl.settings import Setting, with_defaults
from relance.engine.channels import DeliveryResult, OutboundMessage, retry_after

from .. import hookimpl

SETTINGS = {
    "account_sid": Setting(str, required=True),
    "auth_token_env": Setting(str, required=True, help="the environment variable holding the auth token"),
    "from": Setting(str, required=True, help="the sender number, such as +33612345678"),
    "base_url": Setting(str, default="https://api.twilio.com"),
    "status_callback": Setting(str, help="the URL Twilio posts delivery statuses to"),
    "timeout": Setting((int, float), default=15),
}
BAD_NUMBER = {21211, 21214, 21217, 21407, 21408, 21610, 21612, 21614, 63003}  # invalid, unreachable, unsubscribed
RETRY = {429, 500, 502, 503, 504}
EVENTS = {"delivered": "delivered", "undelivered": "undelivered", "failed": "failed", "read": "read"}


class TwilioChannel:
    """One channel per kind: `twilio_sms` sends plain numbers, `twilio_whatsapp` prefixes them `whatsapp:`."""

    settings_schema = SETTINGS
    capabilities = frozenset({"status_callbacks"})

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.name = f"twilio_{kind}"
        self._client: httpx.AsyncClient | None = None

    async def send(self, message: OutboundMessage) -> DeliveryResult:
        if not message.phone:
            return DeliveryResult("failed", "contact has no phone number")
        settings = with_defaults(SETTINGS, message.settings)
        token = os.environ.get(str(settings["auth_token_env"]))
        if token is None:
            return DeliveryResult("failed", f"environment variable {settings['auth_token_env']} "
                                            "(the Twilio auth token) is not set")
        prefix = "whatsapp:" if self.kind == "whatsapp" else ""
        form = {"To": prefix + message.phone, "From": prefix + str(settings["from"]), "Body": message.body}
        if settings.get("status_callback"):
            form["StatusCallback"] = str(settings["status_callback"])
        url = f"{str(settings['base_url']).rstrip('/')}/2010-04-01/Accounts/{settings['account_sid']}/Messages.json"
        if self._client is None:
            self._client = httpx.AsyncClient()
        try:
            response = await self._client.post(url, data=form, auth=(str(settings["account_sid"]), token),
                                               headers={"X-Relance-Message-Key": message.key},
                                               timeout=float(settings["timeout"]))
        except httpx.HTTPError as error:
            return DeliveryResult("deferred", f"{url}: {type(error).__name__}: {error}")
        return _result(response)

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None


def _result(response: httpx.Response) -> DeliveryResult:
    try:
        body: Any = response.json()
    except ValueError:
        body = {}
    body = body if isinstance(body, dict) else {}
    if response.status_code in (200, 201):
        return DeliveryResult("delivered", str(body.get("status", "")), provider_id=body.get("sid"))
    detail = f"{response.status_code} {body.get('code', '')} {body.get('message', response.text[:200])}".strip()
    if response.status_code in RETRY:
        return DeliveryResult("deferred", detail, retry_after=retry_after(response.headers.get("Retry-After")))
    return DeliveryResult("failed", detail, bounced=body.get("code") in BAD_NUMBER)


def status_event(form: Mapping[str, str]) -> dict[str, Any] | None:
    """A Relance event from a Twilio status callback (`sms.delivered`, `whatsapp.read`, …); None if not worth one."""
    sid, status, to = form.get("MessageSid"), form.get("MessageStatus"), form.get("To", "")
    if not sid or status not in EVENTS:
        return None
    channel = "whatsapp" if to.startswith("whatsapp:") else "sms"
    properties: dict[str, Any] = {"provider_id": sid, "status": status}
    if form.get("ErrorCode"):
        properties["error_code"] = form["ErrorCode"]
    return {"id": f"twilio:{sid}:{status}", "type": f"{channel}.{EVENTS[status]}",
            "contact": {"phone": to.removeprefix("whatsapp:")}, "properties": properties}


def verify_twilio_signature(url: str, form: Mapping[str, str], signature: str, token: str) -> bool:
    """Twilio's X-Twilio-Signature: base64 HMAC-SHA1 of the URL followed by the sorted form's keys and values."""
    data = url + "".join(f"{key}{form[key]}" for key in sorted(form))
    expected = base64.b64encode(hmac.new(token.encode(), data.encode(), hashlib.sha1).digest()).decode()
    return hmac.compare_digest(expected, signature)


@hookimpl
def relance_channels() -> list[TwilioChannel]:
    return [TwilioChannel("sms"), TwilioChannel("whatsapp")]
