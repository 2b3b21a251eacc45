"""Callbacks from providers, authenticated by their own signature instead of an API key."""
from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import Response

from relance.dsl.graph import ChannelConfig
from relance.dsl.settings import with_defaults
from relance.engine.engine import Engine
from relance.engine.events import EventError, parse_event
from relance.engine.inbox import Received
from relance.plugins.builtins.twilio_channel import (
    SETTINGS, WHATSAPP, TwilioChannel, auth_token, status_event, verify_twilio_signature,
)
from relance.plugins.builtins.twilio_inbound import inbound_event, kind, twiml

from .problems import Problem
from .requests import body_bytes, runtime


async def _twilio_form(request: Request) -> tuple[Engine, dict[str, str]]:
    """The workspace and the form of a request Twilio signed for one of its Twilio channels (else 401)."""
    shop = runtime(request).engines.get(request.path_params["workspace"])
    if shop is None:
        raise Problem(404, f"no workspace '{request.path_params['workspace']}'")
    tokens = [auth_token(c.settings) for c in _twilio_channels(request, shop)]
    form = dict(parse_qsl((await body_bytes(request)).decode(errors="replace"), keep_blank_values=True))  # all signed
    url = runtime(request).settings.base_url().rstrip("/") + request.url.path \
        + (f"?{request.url.query}" if request.url.query else "")  # the URL Twilio was given, as it signed it
    signature = request.headers.get("x-twilio-signature", "")
    if not any(token and verify_twilio_signature(url, form, signature, token) for token in tokens):
        raise Problem(401, "missing or wrong X-Twilio-Signature for this workspace's Twilio channels")
    return shop, form


def _twilio_channels(request: Request, shop: Engine) -> list[ChannelConfig]:
    plugins = runtime(request).channels
    return [c for c in shop.workspace.channels.values() if isinstance(plugins.get(c.plugin), TwilioChannel)]


async def twilio_status(request: Request) -> Response:
    """Twilio's delivery statuses (StatusCallback) become events: sms.delivered, whatsapp.read, …"""
    shop, form = await _twilio_form(request)
    event = status_event(form)
    if event is not None:
        await shop.accept([Received(parse_event(event, now=shop.clock.now()), at_given=False)])
    return Response(status_code=204)


async def twilio_inbound(request: Request) -> Response:
    """A text to one of the shop's Twilio numbers: a STOP opts the contact out of that channel
    before the answer, which is TwiML with the channel's stop_reply; any other text becomes a
    message.received event."""
    shop, form = await _twilio_form(request)
    for field in ("From", "MessageSid"):
        if not form.get(field):
            raise Problem(422, f"an inbound message names its {field}", pointer=f"/{field}")
    channel = _inbound_channel(_twilio_channels(request, shop), request, form)
    data = inbound_event(form, channel.name if channel else kind(form))
    try:
        event = parse_event(data, now=shop.clock.now())
    except EventError as error:
        raise Problem(422, error.message, pointer="/From") from None  # the one field the event checks
    stop = data["type"] == "contact.unsubscribed"
    await shop.accept([Received(event, at_given=False)], wait=stop)
    reply = str(with_defaults(SETTINGS, channel.settings if channel else {})["stop_reply"]) if stop else None
    return Response(twiml(reply), media_type="application/xml")


def _inbound_channel(channels: list[ChannelConfig], request: Request, form: dict[str, str]) -> ChannelConfig | None:
    """The workspace's channel the text came in on: the Twilio channel of that kind sending from the
    number written to, else the first of that kind."""
    plugins = runtime(request).channels
    same_kind = [c for c in channels if getattr(plugins[c.plugin], "kind", None) == kind(form)]
    to = form.get("To", "").removeprefix(WHATSAPP)
    return next((c for c in same_kind if str(c.settings.get("from", "")).removeprefix(WHATSAPP) == to),
                same_kind[0] if same_kind else None)
