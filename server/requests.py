"""Reading a request: its key's workspace, and a JSON body read no further than the limit."""
from __future__ import annotations

import base64
import json
from typing import Any

from starlette.requests import Request

from relance.engine.engine import Engine

from .problems import Problem
from .runtime import Runtime

MAX_BODY = 1024 * 1024


def runtime(request: Request) -> Runtime:
    return request.app.state.runtime


def _key(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    if scheme.lower() == "basic" and value.strip():  # Segment's write key is the basic-auth user
        try:
            return base64.b64decode(value.strip()).decode().partition(":")[0] or None
        except (ValueError, UnicodeDecodeError):
            return None
    return None


async def engine(request: Request) -> Engine:
    """The engine of the workspace the request's API key belongs to; 401 otherwise."""
    key = _key(request)
    if key is None:
        raise Problem(401, "missing API key: send 'Authorization: Bearer <key>'")
    workspace = await runtime(request).workspace_for_key(key)
    if workspace is None or workspace not in runtime(request).engines:
        raise Problem(401, "unknown API key")
    return runtime(request).engines[workspace]


async def read_body(request: Request, limit: int = MAX_BODY) -> bytes:
    """The body; 413 by its Content-Length before reading it, or as soon as it passes `limit` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise Problem(413, f"the body is {int(declared):,} bytes; the limit is {limit:,} (send smaller batches)")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise Problem(413, f"the body passes the limit of {limit:,} bytes (send smaller batches)")
        chunks.append(chunk)
    return b"".join(chunks)


async def json_body(request: Request, limit: int = MAX_BODY) -> Any:
    """The parsed body; 413 as soon as it passes `limit` bytes, before it is read whole."""
    body = await read_body(request, limit)
    try:
        return json.loads(body)
    except UnicodeDecodeError:
        raise Problem(400, "the body is not UTF-8 JSON") from None
    except json.JSONDecodeError as error:
        raise Problem(400, f"the body is not JSON: {error.msg} at line {error.lineno} column {error.colno}") from None


def limit_param(request: Request, default: int = 100, maximum: int = 1000) -> int:
    raw = request.query_params.get("limit", str(default))
    if not raw.isdigit() or not 1 <= int(raw) <= maximum:
        raise Problem(400, f"limit must be a whole number from 1 to {maximum}", pointer="/query/limit")
    return int(raw)
