"""SMS and WhatsApp over Twilio's Messages API (`twilio_sms`, `twilio_whatsapp`), and its status callbacks.

Settings: `account_sid`, `auth_token_env` (the NAME of the environment variable holding the
auth token), `from`, `base_url` (default https://api.twilio.com; a local server in tests),
`status_callback` (where Twilio reports delivery), `timeout` (seconds), `stop_reply` (the
answer to an inbound STOP; twilio_inbound.py). Twilio's callbacks reach the server through
twilio_routes.py.

Twilio's Messages API takes no idempotency key (its `I-Twilio-Idempotency-Token` is a
header Twilio adds to the webhooks it sends, not one its API reads). The message key still
goes out as `Idempotency-Key`, for proxies and Twilio-compatible providers that honour it,
but Twilio ignores it: if the process dies after Twilio accepted a message and before
Relance recorded it, the message is handed over again at restart and sent twice. That is
at most one repeat per message in flight at the moment of the crash.
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
from relance.engine.channels import ChannelTraits, DeliveryResult, OutboundMessage, retry_after

from .. import hookimpl

STOP_REPLY = "Vous ne recevrez plus nos messages ici. You will receive no more messages here."
SETTINGS: dict[str, Setting] = {
    "account_sid": Setting(str, required=True, help="the Twilio account, AC…"),
    "auth_token_env": Setting(str, required=True, help="the environment variable holding the auth token"),
    "from": Setting(str, required=True, help="the sender number, such as +33612345678"),
    "base_url": Setting(str, default="https://api.twilio.com"),
    "status_callback": Setting(str, help="the URL Twilio posts delivery statuses to"),
    "timeout": Setting((int, float), default=15, help="seconds to wait for Twilio"),
    "stop_reply": Setting(str, default=STOP_REPLY, help='the answer to a STOP ("" for none: Twilio may send its own)'),
}
# Twilio error codes that say the recipient itself is bad: invalid, not reachable by this
# channel, not a mobile, unsubscribed (STOP), no WhatsApp account. Account-side refusals
# (21408 geo permissions, 21606 sender) fail without marking the contact.
BAD_NUMBER = frozenset({21211, 21214, 21217, 21407, 21610, 21614, 63003})
# Statuses after the carrier took over; queued, sending, accepted and scheduled are Twilio's own.
EVENT_STATUSES = frozenset({"sent", "delivered", "undelivered", "failed", "read"})
WHATSAPP = "whatsapp:"
TRAITS = ChannelTraits("phone", "opt_in", frozenset({"status_callbacks"}))


class TwilioChannel:
    """One class for both kinds: `twilio_sms` sends plain numbers, `twilio_whatsapp` prefixes them `whatsapp:`."""

    settings_schema = SETTINGS

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.name = f"twilio_{kind}"
        self._client: httpx.AsyncClient | None = None

    def traits(self, settings: Mapping[str, Any]) -> ChannelTraits:
        """To the contact's phone number, with its opt-in (SMS and WhatsApp marketing need one)."""
        return TRAITS

    def check_environment(self, settings: Mapping[str, Any]) -> list[str]:
        """The auth token's variable."""
        return [] if auth_token(settings) else [_no_token(settings)]

    async def send(self, message: OutboundMessage) -> DeliveryResult:
        if not message.phone:
            return DeliveryResult("failed", "contact has no phone number")
        settings = with_defaults(SETTINGS, message.settings)
        token = auth_token(settings)
        if not token:
            return DeliveryResult("failed", _no_token(settings))
        form = {"To": self._address(message.phone), "From": self._address(str(settings["from"])),
                "Body": message.body}
        if settings.get("status_callback"):
            form["StatusCallback"] = str(settings["status_callback"])
        sid = str(settings["account_sid"])
        url = f"{str(settings['base_url']).rstrip('/')}/2010-04-01/Accounts/{sid}/Messages.json"
        if self._client is None:
            self._client = httpx.AsyncClient()
        try:
            response = await self._client.post(url, data=form, auth=(sid, token),
                                               headers={"Idempotency-Key": message.key},
                                               timeout=float(settings["timeout"]))
        except (httpx.InvalidURL, httpx.UnsupportedProtocol) as error:
            return DeliveryResult("failed", f"base_url {settings['base_url']!r} is not usable: {error}")
        except httpx.HTTPError as error:  # connection refused, reset, timeout: Twilio may be back soon
            return DeliveryResult("deferred", f"{url}: {type(error).__name__}: {error}")
        return _result(response)

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def _address(self, number: str) -> str:
        return WHATSAPP + number.removeprefix(WHATSAPP) if self.kind == "whatsapp" else number


def auth_token(settings: Mapping[str, Any]) -> str | None:
    """The auth token of a Twilio channel with these settings, from the environment variable they name."""
    return os.environ.get(str(settings.get("auth_token_env"))) or None


def _no_token(settings: Mapping[str, Any]) -> str:
    return f"environment variable {settings.get('auth_token_env')} (the Twilio auth token) is not set"


def _result(response: httpx.Response) -> DeliveryResult:
    try:
        body: Any = response.json()
    except ValueError:
        body = None
    body = body if isinstance(body, dict) else {}
    if response.is_success:
        return DeliveryResult("delivered", str(body.get("status", "")), provider_id=body.get("sid"))
    code = body.get("code")
    detail = f"Twilio answered {response.status_code}{f', error {code}' if code else ''}: " \
             f"{body.get('message') or response.text[:200] or response.reason_phrase}"
    if response.status_code == 429 or response.status_code >= 500:
        return DeliveryResult("deferred", detail, retry_after=retry_after(response.headers.get("Retry-After")))
    return DeliveryResult("failed", detail, bounced=code in BAD_NUMBER)


def status_event(form: Mapping[str, str]) -> dict[str, Any] | None:
    """A Relance event from a Twilio status callback's form (`sms.delivered`, `whatsapp.read`, …).

    The id is `twilio:SID:STATUS`, so a callback Twilio repeats is stored once. None when the
    status is not worth an event (queued, sending, accepted…) or the form names no message
    or recipient.
    """
    sid, status, to = form.get("MessageSid"), form.get("MessageStatus"), form.get("To", "")
    phone = to.removeprefix(WHATSAPP)
    if not sid or status not in EVENT_STATUSES or not phone:
        return None
    properties: dict[str, Any] = {"provider_id": sid, "status": status}
    if form.get("ErrorCode"):
        properties["error_code"] = form["ErrorCode"]
    channel = "whatsapp" if to.startswith(WHATSAPP) else "sms"
    return {"id": f"twilio:{sid}:{status}", "type": f"{channel}.{status}", "contact": {"phone": phone},
            "properties": properties}


def verify_twilio_signature(url: str, form: Mapping[str, str], signature: str, token: str) -> bool:
    """Whether `signature` (the X-Twilio-Signature header) is Twilio's for this request.

    Twilio signs the full URL it called (query string included) followed by every POST
    field, sorted by name, as name then value with no separator, with HMAC-SHA1 under the
    auth token, base64-encoded. `form` must hold every field, blank ones included.
    """
    data = url + "".join(f"{key}{form[key]}" for key in sorted(form))
    expected = base64.b64encode(hmac.new(token.encode(), data.encode(), hashlib.sha1).digest())
    return hmac.compare_digest(expected, signature.encode())


@hookimpl
def relance_channels() -> list[TwilioChannel]:
    return [TwilioChannel("sms"), TwilioChannel("whatsapp")]
