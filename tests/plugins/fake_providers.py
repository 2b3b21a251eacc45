"""Small local servers speaking providers' APIs on 127.0.0.1: Twilio's Messages API, a webhook receiver."""
from __future__ import annotations

import asyncio
import base64
import itertools
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import uvicorn

from relance.plugins.builtins.webhook_channel import verify_signature
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

SLOW_NUMBER = "+33600000999"  # the fake Twilio answers it after SLOW_SECONDS
SLOW_SECONDS = 0.5


def _twilio_error(status: int, code: int, message: str) -> dict[str, Any]:
    """An error body as Twilio's API answers it."""
    return {"code": code, "message": message, "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status}


# Numbers the fake Twilio answers with an error: To -> (status, body, headers)
TWILIO_ERRORS: dict[str, tuple[int, dict[str, Any], dict[str, str]]] = {
    "+33600000400": (400, _twilio_error(400, 21211, "The 'To' number +33600000400 is not a valid phone number."), {}),
    "+33600021610": (400, _twilio_error(400, 21610, "Attempt to send to unsubscribed recipient"), {}),
    "+33600000401": (401, _twilio_error(401, 20003, "Authenticate"), {}),
    "+33600000429": (429, _twilio_error(429, 20429, "Too Many Requests"), {"Retry-After": "7"}),
    "+33600000500": (500, _twilio_error(500, 20500, "Internal Server Error"), {}),
    "+33600000503": (503, _twilio_error(503, 20503, "Service Unavailable"), {}),
}


@dataclass
class Recorded:
    """What a fake server received, and the statuses the webhook receiver answers next (then 200)."""

    requests: list[dict[str, Any]] = field(default_factory=list)
    answers: list[int] = field(default_factory=list)
    delay: float = 0.0  # seconds the webhook receiver takes to answer: a slow provider


def _basic_auth(header: str) -> tuple[str, str] | None:
    if not header.startswith("Basic "):
        return None
    user, _, password = base64.b64decode(header.removeprefix("Basic ")).decode().partition(":")
    return user, password


def twilio_app(recorded: Recorded) -> Starlette:
    """Twilio's `POST /2010-04-01/Accounts/{sid}/Messages.json`: form in, JSON out, errors by number."""
    sids = itertools.count(1)

    async def messages(request: Request) -> Response:
        form = dict(parse_qsl((await request.body()).decode(), keep_blank_values=True))
        received = {"method": request.method, "path": request.url.path, "form": form,
                    "auth": _basic_auth(request.headers.get("authorization", "")), "headers": dict(request.headers),
                    "client_port": request.client.port if request.client else None, "sid": None}
        recorded.requests.append(received)
        if request.headers.get("content-type") != "application/x-www-form-urlencoded":
            return JSONResponse(_twilio_error(400, 21604, "A 'To' phone number is required."), status_code=400)
        to = form.get("To", "").removeprefix("whatsapp:")
        if to == SLOW_NUMBER:
            await asyncio.sleep(SLOW_SECONDS)
        if to in TWILIO_ERRORS:
            status, body, headers = TWILIO_ERRORS[to]
            return JSONResponse(body, status_code=status, headers=headers)
        sid = received["sid"] = f"SM{next(sids):032x}"
        return JSONResponse({"sid": sid, "account_sid": request.path_params["sid"], "status": "queued",
                             "to": form.get("To"), "from": form.get("From"), "body": form.get("Body")},
                            status_code=201)

    return Starlette(routes=[Route("/2010-04-01/Accounts/{sid}/Messages.json", messages, methods=["POST"])])


def receiver_app(recorded: Recorded, secret: str | None = None,
                 now: Callable[[], float] = time.time) -> Starlette:
    """A webhook receiver at `/hook`; given the secret, it refuses (401) what `verify_signature` refuses."""

    async def hook(request: Request) -> Response:
        body = await request.body()
        headers = dict(request.headers)
        verified = secret is None or verify_signature(secret, headers.get("x-relance-timestamp", ""), body,
                                                      headers.get("x-relance-signature", ""), now=now())
        await asyncio.sleep(recorded.delay)
        recorded.requests.append({"body": body, "headers": headers, "verified": verified})
        if not verified:
            return Response("bad signature", status_code=401)
        status = recorded.answers.pop(0) if recorded.answers else 200
        return Response(None if status == 204 else "ok" if status < 300 else "no", status_code=status,
                        headers={"Retry-After": "3"} if status == 429 else {})

    return Starlette(routes=[Route("/hook", hook, methods=["POST"])])


def free_port() -> int:
    """A port nothing listens on (for a refused connection)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def serving(app: Starlette) -> Iterator[str]:
    """Run `app` with uvicorn on a free port of 127.0.0.1 in a thread; yields its base URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))  # bound before the thread starts: no other process can take the port
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=2))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the fake provider did not start"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
