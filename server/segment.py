"""Segment's HTTP Tracking API shape (track, identify, page, batch), translated at the door.

Existing Segment or RudderStack clients point at Relance with the API key as write key.
"""
from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from relance.engine.events import EventError

from .ingest import (
    MAX_BATCH, batch_response, count_outcomes, ingest_items, single_response, unheard_counter, wants_effects,
)
from .problems import Problem
from .requests import engine, json_body

CALL_TYPES = ("track", "identify", "page", "screen")
_TRAIT_NAMES = {"firstName": "first_name", "lastName": "last_name", "first_name": "first_name",
                "last_name": "last_name", "name": "name", "birthday": "birthday", "timezone": "timezone"}


def _snake(name: str) -> str:
    return _TRAIT_NAMES.get(name) or re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def translate(call: Any, kind: str | None = None, pointer: str = "") -> dict[str, Any]:
    """A Segment call as a Relance event; `kind` is the endpoint's type when the call has none."""
    if not isinstance(call, Mapping):
        raise EventError(pointer, "expected a Segment call object (track, identify, page)")
    kind = call.get("type", kind)
    if kind not in CALL_TYPES:
        raise EventError(f"{pointer}/type", f"expected one of {', '.join(CALL_TYPES)}")
    message_id = call.get("messageId")
    if not isinstance(message_id, str) or not message_id:
        raise EventError(f"{pointer}/messageId", "expected the call's messageId, a non-empty string")
    traits = {**(call.get("context") or {}).get("traits", {}), **(call.get("traits") or {})}
    contact: dict[str, Any] = {}
    external: dict[str, str] = {}
    if call.get("userId") not in (None, ""):
        external["segment"] = str(call["userId"])
    if call.get("anonymousId") not in (None, ""):
        external["segment_anonymous"] = str(call["anonymousId"])
    for key, value in traits.items():
        if key in ("email", "phone"):
            contact[key] = value
        elif key not in ("id", "userId", "anonymousId"):
            contact[_snake(key)] = value
    if external:
        contact["external_ids"] = external
    if kind == "track":
        name = call.get("event")
        if not isinstance(name, str) or not name.strip():
            raise EventError(f"{pointer}/event", "expected the event's name, such as \"Order Completed\"")
        event_type, properties = name, dict(call.get("properties") or {})
    elif kind == "identify":
        event_type, properties = "contact.identified", dict(traits)
    else:
        event_type, properties = "page.viewed", {**(call.get("properties") or {}), "name": call.get("name")}
    event: dict[str, Any] = {"id": message_id, "type": event_type, "contact": contact, "properties": properties}
    if call.get("timestamp") is not None:
        event["at"] = call["timestamp"]
    return event


def _endpoint(kind: str | None) -> Callable[[Request], Awaitable[JSONResponse]]:
    """The endpoint for one call type, or for /v1/batch when `kind` is None."""

    async def endpoint(request: Request) -> JSONResponse:
        shop = await engine(request)
        body = await json_body(request)
        wait = wants_effects(request)
        if kind is None:  # /v1/batch
            calls = body.get("batch") if isinstance(body, Mapping) else None
            if not isinstance(calls, list):
                raise Problem(422, "expected {\"batch\": [calls…]}", pointer="/batch")
            if len(calls) > MAX_BATCH:
                raise Problem(413, f"a batch holds at most {MAX_BATCH} calls, not {len(calls)}")
            results, effects = await ingest_items(shop, calls, [f"/batch/{i}" for i in range(len(calls))],
                                                  lambda call, pointer: translate(call, None, pointer), wait,
                                                  unheard_counter(request, shop))
            count_outcomes(request, shop.workspace.name, results)
            return batch_response(results, effects if wait else None)
        results, effects = await ingest_items(shop, [body], [""], lambda call, pointer: translate(call, kind, pointer),
                                              wait, unheard_counter(request, shop))
        count_outcomes(request, shop.workspace.name, results)
        return single_response(results[0], effects if wait else None)

    return endpoint


track, identify, page, batch = _endpoint("track"), _endpoint("identify"), _endpoint("page"), _endpoint(None)
