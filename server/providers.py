"""Callbacks from providers, authenticated by their own signature instead of an API key."""
from __future__ import annotations

import os
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import Response

from relance.engine.events import parse_event
from relance.engine.inbox import Received
from relance.plugins.builtins.twilio_channel import status_event, verify_twilio_signature

from .problems import Problem
from .requests import read_body, runtime


async def twilio_status(request: Request) -> Response:
    """Twilio's delivery statuses (StatusCallback) become events: sms.delivered, whatsapp.read, …"""
    shop = runtime(request).engines.get(request.path_params["workspace"])
    if shop is None:
        raise Problem(404, f"no workspace '{request.path_params['workspace']}'")
    tokens = [os.environ.get(str(c.settings.get("auth_token_env"))) for c in shop.workspace.channels.values()
              if c.plugin.startswith("twilio_")]
    form = dict(parse_qsl((await read_body(request)).decode(errors="replace"), keep_blank_values=True))  # all signed
    url = runtime(request).settings.base_url().rstrip("/") + request.url.path \
        + (f"?{request.url.query}" if request.url.query else "")  # the URL Twilio was given, as it signed it
    signature = request.headers.get("x-twilio-signature", "")
    if not any(token and verify_twilio_signature(url, form, signature, token) for token in tokens):
        raise Problem(401, "missing or wrong X-Twilio-Signature for this workspace's Twilio channels")
    event = status_event(form)
    if event is not None:
        await shop.accept([Received(parse_event(event, now=shop.clock.now()), at_given=False)])
    return Response(status_code=204)
