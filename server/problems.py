"""Every 4xx and 5xx as application/problem+json (RFC 9457), built here and only here."""
from __future__ import annotations

import json
import sqlite3
from typing import Any

from redis.exceptions import RedisError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse
from tortoise.exceptions import BaseORMException

from relance.engine.faults import is_transient

MEDIA_TYPE = "application/problem+json"
RETRY_AFTER = 2  # seconds a client waits before trying again when the database or Redis is away
TITLES = {400: "Bad request", 401: "Unauthorized", 404: "Not found", 405: "Method not allowed",
          409: "Conflict", 413: "Payload too large", 415: "Unsupported media type", 422: "Invalid event",
          429: "Too many requests", 500: "Internal error", 503: "Not ready"}


class AsciiJSONResponse(JSONResponse):
    """JSON with every non-ASCII character escaped: an answer that echoes what a client sent (an id,
    a value in a message) stays valid UTF-8 even when that held a lone surrogate."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=True, allow_nan=False, separators=(",", ":")).encode("ascii")


class HttpProblem(Exception):
    """Raised anywhere in a request: becomes a problem+json response."""

    def __init__(self, status: int, detail: str, pointer: str | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.status, self.detail, self.pointer, self.extra = status, detail, pointer, extra


def problem_response(status: int, detail: str, pointer: str | None = None, **extra: Any) -> JSONResponse:
    body: dict[str, Any] = {"type": "about:blank", "title": TITLES.get(status, "Error"), "status": status,
                            "detail": detail}
    if pointer is not None:
        body["pointer"] = pointer
    body.update(extra)
    headers = {"WWW-Authenticate": 'Bearer realm="relance"'} if status == 401 else None
    return AsciiJSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


async def on_problem(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, HttpProblem)
    extra = dict(error.extra)
    retry_after = extra.pop("retry_after", None)
    response = problem_response(error.status, error.detail, error.pointer, **extra)
    if retry_after is not None:  # 429 and 503: when to send again (Segment's and RudderStack's clients read it)
        response.headers["Retry-After"] = str(retry_after)
    return response


async def on_http_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, HTTPException)
    detail = {404: f"no route {request.url.path}",
              405: f"{request.method} is not allowed on {request.url.path}"}.get(error.status_code, str(error.detail))
    response = problem_response(error.status_code, detail)
    if error.headers:
        response.headers.update(error.headers)
    return response


async def on_fault(request: Request, error: Exception) -> JSONResponse:
    """The database or Redis away for a moment: 503, the client tries again (nothing was kept).
    Answered here, not logged with a traceback per request; any other error goes on to `on_error`."""
    if not is_transient(error):
        raise error
    response = problem_response(503, "the database or Redis is unavailable for a moment; try again")
    response.headers["Retry-After"] = str(RETRY_AFTER)
    return response


async def on_error(request: Request, error: Exception) -> JSONResponse:
    return problem_response(500, "the server failed on this request; it is logged")


def _fault_types() -> tuple[type[Exception], ...]:
    """The errors a transient fault reaches a request as: network errors, and the drivers' and the ORM's own."""
    found: list[type[Exception]] = [OSError, sqlite3.Error, RedisError, BaseORMException]
    try:
        import asyncpg  # installed with PostgreSQL support only
    except ImportError:
        return tuple(found)
    return (*found, asyncpg.PostgresError, asyncpg.InterfaceError)


HANDLERS = {HttpProblem: on_problem, HTTPException: on_http_error, **{kind: on_fault for kind in _fault_types()},
            Exception: on_error}
