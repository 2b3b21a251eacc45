"""A webhook receiver run as a process of its own (`python -m uvicorn receiver:app`), fast enough for
thousands of messages: it writes the Idempotency-Key of each request it gets, one a line, to the
file named by RELANCE_TEST_RECEIVED, and answers 200.
"""
from __future__ import annotations

import os

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

_received = open(os.environ["RELANCE_TEST_RECEIVED"], "a", encoding="utf-8", buffering=1)  # noqa: SIM115


async def hook(request: Request) -> Response:
    await request.body()
    _received.write(request.headers.get("idempotency-key", "") + "\n")
    return Response("ok")


app = Starlette(routes=[Route("/hook", hook, methods=["POST"])])
