"""Twilio's callbacks to the server, signed with X-Twilio-Signature instead of an API key.

POST /v1/providers/twilio/{workspace}: delivery statuses (StatusCallback) become events;
POST /v1/providers/twilio/{workspace}/inbound: texts to the shop's numbers (twilio_inbound.py).
"""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from relance.dsl.graph import ChannelConfig
from relance.dsl.settings import with_defaults
from relance.engine.engine import Engine
from relance.engine.events import EventError

from .. import hookimpl
from ..routes import PROBLEM, RouteHost, documented
from .twilio_channel import SETTINGS, WHATSAPP, TwilioChannel, auth_token, status_event, verify_twilio_signature
from .twilio_inbound import inbound_event, kind, twiml

WORKSPACE = {"name": "workspace", "in": "path", "required": True, "schema": {"type": "string"}}
FORM = {"required": True, "content": {"application/x-www-form-urlencoded": {"schema": {"type": "object"}}}}
Endpoint = Callable[[Request], Awaitable[Response]]


def _problem(description: str) -> dict[str, object]:
    return {"description": description, "content": {"application/problem+json": {"schema": PROBLEM}}}


def _twilio_channels(host: RouteHost, workspace: str) -> list[ChannelConfig]:
    return [c for c in host.channel_configs(workspace) if isinstance(host.channels.get(c.plugin), TwilioChannel)]


async def _signed_form(host: RouteHost, request: Request) -> tuple[Engine, dict[str, str]]:
    """The workspace and the form of a request Twilio signed for one of its Twilio channels (else 401)."""
    workspace = request.path_params["workspace"]
    shop = host.engine(workspace)
    tokens = [auth_token(c.settings) for c in _twilio_channels(host, workspace)]
    form = dict(parse_qsl((await host.body(request)).decode(errors="replace"), keep_blank_values=True))  # all signed
    url = host.base_url + request.url.path \
        + (f"?{request.url.query}" if request.url.query else "")  # the URL Twilio was given, as it signed it
    signature = request.headers.get("x-twilio-signature", "")
    if not any(token and verify_twilio_signature(url, form, signature, token) for token in tokens):
        raise host.problem(401, "missing or wrong X-Twilio-Signature for this workspace's Twilio channels")
    return shop, form


def status_endpoint(host: RouteHost) -> Endpoint:
    @documented({"post": {
        "summary": "Twilio delivery statuses (StatusCallback), signed with X-Twilio-Signature; become events",
        "security": [], "parameters": [WORKSPACE], "requestBody": FORM,
        "responses": {"204": {"description": "recorded"}, "401": _problem("a missing or wrong signature"),
                      "404": _problem("no such workspace")}}})
    async def twilio_status(request: Request) -> Response:
        """Twilio's delivery statuses (StatusCallback) become events: sms.delivered, whatsapp.read, …"""
        shop, form = await _signed_form(host, request)
        event = status_event(form)
        if event is not None:
            await host.accept(shop, event)
        return Response(status_code=204)
    return twilio_status


def inbound_endpoint(host: RouteHost) -> Endpoint:
    @documented({"post": {
        "summary": "Texts to the shop's Twilio numbers (SMS, WhatsApp), signed with X-Twilio-Signature: a STOP "
                   "opts the contact out of that channel, other texts become message.received events",
        "security": [], "parameters": [WORKSPACE], "requestBody": FORM,
        "responses": {"200": {"description": "TwiML: the reply to a STOP, or nothing",
                              "content": {"application/xml": {"schema": {"type": "string"}}}},
                      "401": _problem("a missing or wrong signature"), "404": _problem("no such workspace"),
                      "422": _problem("a message without its sender")}}})
    async def twilio_inbound(request: Request) -> Response:
        """A text to one of the shop's Twilio numbers: a STOP opts the contact out of that channel
        before the answer, which is TwiML with the channel's stop_reply; any other text becomes a
        message.received event."""
        shop, form = await _signed_form(host, request)
        for field in ("From", "MessageSid"):
            if not form.get(field):
                raise host.problem(422, f"an inbound message names its {field}", pointer=f"/{field}")
        channel = _inbound_channel(host, _twilio_channels(host, request.path_params["workspace"]), form)
        data = inbound_event(form, channel.name if channel else kind(form))
        stop = data["type"] == "contact.unsubscribed"
        try:
            await host.accept(shop, data, wait=stop)
        except EventError as error:
            raise host.problem(422, error.message, pointer="/From") from None  # the one field the event checks
        reply = str(with_defaults(SETTINGS, channel.settings if channel else {})["stop_reply"]) if stop else None
        return Response(twiml(reply), media_type="application/xml")
    return twilio_inbound


def _inbound_channel(host: RouteHost, channels: list[ChannelConfig], form: dict[str, str]) -> ChannelConfig | None:
    """The workspace's channel the text came in on: the Twilio channel of that kind sending from the
    number written to, else the first of that kind."""
    same_kind = [c for c in channels if getattr(host.channels[c.plugin], "kind", None) == kind(form)]
    to = form.get("To", "").removeprefix(WHATSAPP)
    return next((c for c in same_kind if str(c.settings.get("from", "")).removeprefix(WHATSAPP) == to),
                same_kind[0] if same_kind else None)


@hookimpl
def relance_routes(host: RouteHost) -> list[BaseRoute]:
    return [Route("/v1/providers/twilio/{workspace}", status_endpoint(host), methods=["POST"]),
            Route("/v1/providers/twilio/{workspace}/inbound", inbound_endpoint(host), methods=["POST"])]
