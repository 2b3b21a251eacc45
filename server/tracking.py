"""Links in messages, reached without an API key: one-click unsubscribe, open pixel, click redirect.

Each carries a signed token (engine/links.py): a forged or altered one is refused. Opening
the unsubscribe link only shows a page with a button (mail scanners open links); the
POST, from that button or from a mail client's one-click (RFC 8058), unsubscribes.
"""
from __future__ import annotations

import base64
import hashlib
import html
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from relance.engine.events import parse_event
from relance.engine.inbox import Received

from .problems import HttpProblem
from .requests import runtime

PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
PAGE = """<!doctype html><html lang="fr"><head><meta charset="utf-8"><title>{title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body style="font-family: sans-serif; max-width: 32em; margin: 3em auto"><h1>{title}</h1>{body}</body></html>"""


def _payload(request: Request, kind: str) -> dict[str, Any]:
    links = runtime(request).links
    payload = links.verify(request.path_params["token"], kind) if links else None
    if payload is None or payload.get("w") not in runtime(request).engines:
        raise HttpProblem(404, "this link is not valid: it was altered, or it belongs to another server")
    return payload


async def _record(request: Request, payload: dict[str, Any], event_id: str, event_type: str,
                  properties: dict[str, Any]) -> None:
    engine = runtime(request).engines[payload["w"]]
    event = parse_event({"id": event_id, "type": event_type, "contact": {"id": payload["c"]},
                         "properties": properties}, now=engine.clock.now())
    await engine.accept([Received(event, at_given=False)])


async def unsubscribe_page(request: Request) -> HTMLResponse:
    """GET: a confirmation page with a button; opening the link changes nothing."""
    payload = _payload(request, "unsubscribe")
    channel = html.escape(str(payload.get("ch", "email")))
    body = (f"<p>Vous ne recevrez plus nos messages marketing par {channel}.</p>"
            f'<form method="post"><button type="submit">Confirmer la désinscription</button></form>')
    return HTMLResponse(PAGE.format(title="Se désinscrire", body=body))


async def unsubscribe(request: Request) -> HTMLResponse:
    """POST: unsubscribe from the link's channel (the page's button, or RFC 8058 one-click)."""
    payload = _payload(request, "unsubscribe")
    channel = str(payload.get("ch", "email"))
    await _record(request, payload, f"unsubscribe:{payload['c']}:{channel}:{request.path_params['token'][-12:]}",
                  "contact.unsubscribed", {"channel": channel, "source": "one-click link"})
    return HTMLResponse(PAGE.format(title="Désinscription enregistrée",
                                    body=f"<p>Vous ne recevrez plus nos messages marketing par {html.escape(channel)}.</p>"))


async def opened(request: Request) -> Response:
    """The open pixel: records `email.opened` once per message, answers a 1x1 GIF."""
    payload = _payload(request, "open")
    await _record(request, payload, f"opened:{payload['k']}", f"{payload.get('ch', 'email')}.opened",
                  {"message": payload["k"]})
    return Response(PIXEL, media_type="image/gif", headers={"Cache-Control": "no-store"})


async def clicked(request: Request) -> RedirectResponse:
    """A tracked link: records `email.clicked`, and `email.opened` if the pixel did not (a click is an
    open: a text email has no pixel, images may be blocked), then redirects to the URL signed in
    the token (only that one)."""
    payload = _payload(request, "click")
    url = str(payload["u"])
    digest = hashlib.sha256(url.encode()).hexdigest()[:12]
    channel = payload.get("ch", "email")
    await _record(request, payload, f"opened:{payload['k']}", f"{channel}.opened", {"message": payload["k"]})
    await _record(request, payload, f"clicked:{payload['k']}:{digest}", f"{channel}.clicked",
                  {"message": payload["k"], "url": url})
    return RedirectResponse(url, status_code=302)
