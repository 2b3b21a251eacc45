"""Segment's HTTP Tracking API shape (track, identify, page, batch), translated at the door.

Existing Segment or RudderStack clients point at Relance with the API key as write key.
"""
from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from relance.engine.events import EventError, check_values, parse_time
from relance.engine.traits import TraitError, checked_traits

from .ingest import MAX_BATCH, count_outcomes, ingest_items, unheard_counter, wants_effects
from .problems import AsciiJSONResponse, HttpProblem
from .requests import key_engine, json_body, runtime

CALL_TYPES = ("track", "identify", "page", "screen")
_TRAIT_NAMES = {"firstName": "first_name", "lastName": "last_name", "first_name": "first_name",
                "last_name": "last_name", "name": "name", "birthday": "birthday", "timezone": "timezone"}


def _snake(name: str) -> str:
    return _TRAIT_NAMES.get(name) or re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _object(call: Mapping[str, Any], key: str, pointer: str) -> Mapping[str, Any]:
    value = call.get(key)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise EventError(f"{pointer}/{key}", "expected an object")
    return value


def _identifier(call: Mapping[str, Any], key: str, pointer: str) -> str | None:
    value = call.get(key)
    if value in (None, ""):
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise EventError(f"{pointer}/{key}", "expected a string (or a whole number)")
    return str(value)


def _traits(call: Mapping[str, Any], pointer: str) -> dict[str, Any]:
    """The call's traits (context.traits, then traits), known ones checked under their Segment names."""
    context = _object(call, "context", pointer)
    inner = context.get("traits")
    if inner is not None and not isinstance(inner, Mapping):
        raise EventError(f"{pointer}/context/traits", "expected an object")
    traits: dict[str, Any] = {}
    for where, given in ((f"{pointer}/context/traits", inner or {}), (f"{pointer}/traits",
                                                                      _object(call, "traits", pointer))):
        for key, value in given.items():
            if key in ("email", "phone") and value is not None and not isinstance(value, str):
                raise EventError(f"{where}/{key}", "expected a string")
            try:
                checked_traits({_snake(key): value}, where)
            except TraitError as error:
                raise EventError(f"{where}/{key}", error.message) from None
            traits[key] = value
    return traits


def translate(call: Any, kind: str | None = None, pointer: str = "") -> dict[str, Any]:
    """A Segment call as a Relance event; `kind` is the endpoint's type when the call has none.

    Every field is checked here under its Segment name, so that an error names the call's own field."""
    if not isinstance(call, Mapping):
        raise EventError(pointer, "expected a Segment call object (track, identify, page)")
    check_values(call, pointer)
    kind = call.get("type", kind)
    if kind not in CALL_TYPES:
        raise EventError(f"{pointer}/type", f"expected one of {', '.join(CALL_TYPES)}")
    message_id = call.get("messageId")
    if not isinstance(message_id, str) or not message_id:
        raise EventError(f"{pointer}/messageId", "expected the call's messageId, a non-empty string")
    traits = _traits(call, pointer)
    properties = dict(_object(call, "properties", pointer))
    contact: dict[str, Any] = {}
    external: dict[str, str] = {}
    for key, source in (("userId", "segment"), ("anonymousId", "segment_anonymous")):
        identifier = _identifier(call, key, pointer)
        if identifier is not None:
            external[source] = identifier
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
        event_type = name
    elif kind == "identify":
        event_type, properties = "contact.identified", dict(traits)
    else:
        name = call.get("name")
        if name is not None and not isinstance(name, str):
            raise EventError(f"{pointer}/name", "expected the page's name, a string")
        event_type, properties = "page.viewed", {**properties, "name": name}
    event: dict[str, Any] = {"id": message_id, "type": event_type, "contact": contact, "properties": properties}
    if call.get("timestamp") is not None:
        parse_time(call["timestamp"], f"{pointer}/timestamp")
        event["at"] = call["timestamp"]
    return event


def answer(results: list[dict[str, Any]], effects: list[dict[str, Any]] | None) -> JSONResponse:
    """As Segment's tracking API answers: 200 `{"success": true}` when every call was stored (or was
    a repeat), which its client libraries require; 400 naming the refused calls (the others are
    stored: a client does not send again what it was told is bad); 503 when the database could not
    store some call now (clients send the batch again; what was stored is recognised by messageId)."""
    rejected = [r for r in results if r["status"] == "rejected"]
    if not rejected:
        body: dict[str, Any] = {"success": True}
        if effects is not None:
            body["effects"] = effects
        return AsciiJSONResponse(body, status_code=200)
    retry = any(r["problem"]["status"] >= 500 for r in rejected)
    first = rejected[0]["problem"]
    detail = f"{len(rejected)} of {len(results)} calls refused; first: {first['pointer'] or '/'}: {first['detail']}"
    extra: dict[str, Any] = {"results": results} if len(results) > 1 else {}
    raise HttpProblem(503 if retry else 400, detail, pointer=first["pointer"], success=False,
                  code="server_error" if retry else "invalid_request", message=detail, **extra)


def _endpoint(kind: str | None) -> Callable[[Request], Awaitable[JSONResponse]]:
    """The endpoint for one call type, or for /v1/batch when `kind` is None."""

    async def endpoint(request: Request) -> JSONResponse:
        try:
            engine = await key_engine(request)
            body = await json_body(request)
            wait = wants_effects(request)
            if kind is None:  # /v1/batch
                calls = body.get("batch") if isinstance(body, Mapping) else None
                if not isinstance(calls, list):
                    raise HttpProblem(400, "expected {\"batch\": [calls…]}", pointer="/batch")
                if len(calls) > MAX_BATCH:
                    raise HttpProblem(413, f"a batch holds at most {MAX_BATCH} calls, not {len(calls)}")
                pointers = [f"/batch/{i}" for i in range(len(calls))]
            else:
                calls, pointers = [body], [""]
            results, effects = await ingest_items(engine, calls, pointers,
                                                  lambda call, pointer: translate(call, kind, pointer), wait,
                                                  unheard_counter(request, engine), runtime(request).hand_off)
            count_outcomes(request, engine.workspace.name, results)
            return answer(results, effects if wait else None)
        except HttpProblem as problem:  # Segment's clients read `code` and `message` from every error
            problem.extra.setdefault("success", False)
            problem.extra.setdefault("code", {401: "unauthorized", 413: "payload_too_large"}.get(
                problem.status, "server_error" if problem.status >= 500 else "invalid_request"))
            problem.extra.setdefault("message", problem.detail)
            raise

    return endpoint


track, identify, page, batch = _endpoint("track"), _endpoint("identify"), _endpoint("page"), _endpoint(None)
