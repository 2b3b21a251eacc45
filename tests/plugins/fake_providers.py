"""Small local servers speaking providers' APIs on 127.0.0.1: Twilio's Messages API, a webhook receiver."""
from __future__ import annotations

import itertools
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

# Numbers the fake Twilio answers with an error: To -> (status, body, headers)
TWILIO_ERRORS: dict[str, tuple[int, dict[str, Any], dict[str, str]]] = {
    "+33600000400": (400, {"code": 21211, "message": "The 'To' number is not a valid phone number."}, {}),
    "+33600000429": (429, {"code": 20429, "message": "Too Many Requests"}, {"Retry-After": "7"}),
    "+33600000500": (500, {"code": 20500, "message": "Internal Server Error"}, {}),
}


@dataclass
class Recorded:
    """What the fake server received, and what the webhook receiver should answer next."""

    requests: list[dict[str, Any]] = field(default_factory=list)
    answers: list[int] = field(default_factory=list)


def twilio_app(recorded: Recorded) -> Starlette:
    sids = itertools.count(1)

    async def messages(request: Request) -> Response:
        form = dict(parse_qsl((await request.body()).decode()))  # Twilio's API takes form-encoded bodies
        recorded.requests.append({"path": request.url.path, "form": form, "headers": dict(request.headers)})
        to = str(form.get("To", "")).removeprefix("whatsapp:")
        if to in TWILIO_ERRORS:
            status, body, headers = TWILIO_ERRORS[to]
            return JSONResponse(body, status_code=status, headers=headers)
        return JSONResponse({"sid": f"SM{next(sids):032d}", "status": "queued", "to": form.get("To")}, status_code=201)

    return Starlette(routes=[Route("/2010-04-01/Accounts/{sid}/Messages.json", messages, methods=["POST"])])


def receiver_app(recorded: Recorded) -> Starlette:
    async def hook(request: Request) -> Response:
        recorded.requests.append({"body": await request.body(), "headers": dict(request.headers)})
        status = recorded.answers.pop(0) if recorded.answers else 200
        return Response("ok" if status < 300 else "no", status_code=status,
                        headers={"Retry-After": "3"} if status == 429 else {})

    return Starlette(routes=[Route("/hook", hook, methods=["POST"])])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def serving(app: Starlette) -> Iterator[str]:
    """Run `app` with uvicorn on a free port in a thread; yields its base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "the fake provider did not start"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
