"""Reading a request: its key's workspace, and a JSON body read no further than the limit."""
from __future__ import annotations

import base64
import json
import zlib
from typing import Any

from starlette.requests import Request

from relance.engine.engine import Engine
from relance.engine.events import EventError, check_values, loads

from .problems import HttpProblem
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


async def key_engine(request: Request) -> Engine:
    """The engine of the workspace the request's API key belongs to; 401 otherwise."""
    key = _key(request)
    if key is None:
        raise HttpProblem(401, "missing API key: send 'Authorization: Bearer <key>'")
    workspace = await runtime(request).workspace_for_key(key)
    if workspace is None or workspace not in runtime(request).engines:
        raise HttpProblem(401, "unknown API key")
    return runtime(request).engines[workspace]


def _decoder(request: Request) -> Any:
    """A zlib decompressor for the body's Content-Encoding (gzip or deflate), None for identity; 415 otherwise."""
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding in ("", "identity"):
        return None
    if encoding in ("gzip", "x-gzip"):
        return zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    if encoding == "deflate":  # the zlib format, as RFC 9110 says
        return zlib.decompressobj(wbits=zlib.MAX_WBITS)
    raise HttpProblem(415, f"Content-Encoding '{encoding}' is not supported; send gzip, deflate or none",
                  pointer="/headers/content-encoding")


async def body_bytes(request: Request, limit: int = MAX_BODY) -> bytes:
    """The body, decompressed (gzip, deflate); 413 as soon as it passes `limit` bytes, sent or decompressed,
    before it is read whole: a small compressed bomb stops at the limit."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise HttpProblem(413, f"the body is {int(declared):,} bytes; the limit is {limit:,} (send smaller batches)")
    decoder = _decoder(request)
    chunks, size, sent = [], 0, 0
    too_big = HttpProblem(413, f"the body passes the limit of {limit:,} bytes{' decompressed' if decoder else ''} "
                           "(send smaller batches)")
    async for chunk in request.stream():
        sent += len(chunk)
        if sent > limit:
            raise too_big
        if decoder is not None:
            try:
                chunk = decoder.decompress(chunk, limit + 1 - size)
            except zlib.error:
                raise HttpProblem(400, "the body is not valid gzip or deflate data, as its Content-Encoding says") from None
            if decoder.unconsumed_tail:
                raise too_big
        size += len(chunk)
        if size > limit:
            raise too_big
        chunks.append(chunk)
    if decoder is not None and not decoder.eof:
        raise HttpProblem(400, "the compressed body ends before its end of stream")
    return b"".join(chunks)


async def json_body(request: Request, limit: int = MAX_BODY) -> Any:
    """The parsed body (see `body_bytes`); numbers no database keeps are left for the event checks to name."""
    body = await body_bytes(request, limit)
    try:
        return loads(body)
    except UnicodeDecodeError:
        raise HttpProblem(400, "the body is not UTF-8 JSON") from None
    except json.JSONDecodeError as error:
        raise HttpProblem(400, f"the body is not JSON: {error.msg} at line {error.lineno} column {error.colno}") from None
    except RecursionError:
        raise HttpProblem(400, "the body is nested too deeply to be read (events are at most 32 levels deep)") from None


async def checked_body(request: Request) -> Any:
    """A JSON body that is not a batch of events: any value the store cannot keep is a 422 naming it."""
    body = await json_body(request)
    try:
        check_values(body, "")
    except EventError as error:
        raise HttpProblem(422, error.message, pointer=error.pointer) from None
    return body


def limit_param(request: Request, default: int = 100, maximum: int = 1000) -> int:
    raw = request.query_params.get("limit", str(default))
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= maximum:
        raise HttpProblem(400, f"limit must be a whole number from 1 to {maximum}", pointer="/query/limit")
    return int(raw)
