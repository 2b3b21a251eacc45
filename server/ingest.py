"""POST /v1/events: one event or a batch, each stored and processed once."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from relance.engine.engine import Engine
from relance.engine.events import Event, EventConflict, EventError, parse_event
from relance.engine.inbox import Received
from relance.engine.scheduler import HandOff

from .problems import AsciiJSONResponse, HttpProblem
from .requests import key_engine, json_body, runtime

MAX_BATCH = 500
REFUSALS = {  # statuses of the store that refuse an event: (HTTP status, field, detail)
    "conflict": (409, "/id", ""),
    "unknown_contact": (422, "/contact/id", "no contact {} in this workspace (erased, or never known): name the "
                                            "contact by email, phone or external_ids instead"),
    "failed": (503, "", "the database could not store this event now; the others were stored: send it again"),
}


def _items(body: Any) -> tuple[list[Any], bool, str]:
    """The events of a body, whether it is a batch, and the JSON pointer of its list."""
    if isinstance(body, list):
        return body, True, ""
    if isinstance(body, dict) and set(body) == {"events"}:
        if not isinstance(body["events"], list):
            raise HttpProblem(422, "expected a list of events", pointer="/events")
        return body["events"], True, "/events"
    return [body], False, ""


async def ingest_items(engine: Engine, items: list[Any], pointers: list[str],
                       translate: Callable[[Any, str], Any] | None = None,
                       wait: bool = False, on_accepted: Callable[[Event], None] | None = None,
                       hand_off: HandOff | None = None) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Validate each item, store the good ones together: (results by index, effects when `wait`).

    A bad item is rejected on its own; the others are stored in one group commit and
    processed after the answer, or before it with `wait`, the messages they queued then
    handed off (`hand_off`: sent by this process, or by a worker when workers run).
    `on_accepted` hears each event stored.
    """
    retry_after = await engine.inbox_full()
    if retry_after is not None:  # nothing is taken: the sender keeps its events and sends them again
        raise HttpProblem(429, f"{engine.inbox_limit:,} events are waiting to be processed in this workspace; "
                           f"send these again in {retry_after} s", retry_after=retry_after)
    results: list[dict[str, Any]] = []
    received: list[tuple[int, Received]] = []
    for index, (item, pointer) in enumerate(zip(items, pointers)):
        try:
            data = translate(item, pointer) if translate else item
            event = parse_event(data, now=engine.clock.now(), pointer=pointer)
        except EventError as error:
            given = item.get("id") if isinstance(item, dict) else None
            results.append({"index": index, "id": given if isinstance(given, str) else None,
                            "status": "rejected",
                            "problem": {"status": 422, "pointer": error.pointer, "detail": error.message}})
            continue
        received.append((len(results), Received(event, at_given=isinstance(data, dict) and "at" in data)))
        results.append({"index": index, "id": event.id})
    effects: list[dict[str, Any]] = []
    accepted = await engine.accept([r for _, r in received], wait=wait) if received else []
    if wait and received and hand_off is not None:
        await hand_off(engine)
    for (position, item), answer in zip(received, accepted):
        result = results[position]
        pointer = pointers[result["index"]]
        if answer.status in REFUSALS:
            status, field, detail = REFUSALS[answer.status]
            if answer.status == "conflict":
                detail = EventConflict(answer.event_id).message
            elif answer.status == "unknown_contact":
                detail = detail.format(item.event.contact.id)
            result.update(status="rejected", problem={"status": status, "pointer": pointer + field, "detail": detail})
            continue
        result["status"] = answer.status
        if answer.status == "accepted" and on_accepted is not None:
            on_accepted(item.event)
        if answer.outcome is not None:
            effects += [e.as_json() for e in answer.outcome.effects]
    return results, effects


def single_response(result: dict[str, Any], effects: list[dict[str, Any]] | None) -> JSONResponse:
    """202 for an accepted or duplicate event; the rejection's problem otherwise."""
    if result["status"] == "rejected":
        problem = result["problem"]
        raise HttpProblem(problem["status"], problem["detail"], pointer=problem["pointer"])
    body: dict[str, Any] = {"id": result["id"], "status": result["status"]}
    if effects is not None:
        body["effects"] = effects
    return AsciiJSONResponse(body, status_code=202)


def batch_response(results: list[dict[str, Any]], effects: list[dict[str, Any]] | None) -> JSONResponse:
    """202 when every event was taken, 207 when some were rejected (each by its index)."""
    rejected = sum(r["status"] == "rejected" for r in results)
    summary: dict[str, Any] = {
        "accepted": sum(r["status"] == "accepted" for r in results),
        "duplicates": sum(r["status"] == "duplicate" for r in results),
        "rejected": rejected, "results": results,
    }
    if effects is not None:
        summary["effects"] = effects
    return AsciiJSONResponse(summary, status_code=207 if rejected else 202)


def count_outcomes(request: Request, workspace: str, results: list[dict[str, Any]]) -> None:
    for result in results:
        request.app.state.metrics.events.labels(workspace, result["status"]).inc()


def unheard_counter(request: Request, engine: Engine) -> Callable[[Event], None]:
    """Counts the accepted events of a type that does nothing in the shop's workspace."""
    return lambda event: request.app.state.metrics.count_unheard(engine.workspace, event)


def wants_effects(request: Request) -> bool:
    return request.query_params.get("wait", "false").lower() in ("1", "true", "yes")


async def post_events(request: Request) -> JSONResponse:
    """Store and process events. `?wait=true` answers with the effects they had (runs, messages, …)."""
    engine = await key_engine(request)
    items, batch, base = _items(await json_body(request))
    if len(items) > MAX_BATCH:
        raise HttpProblem(413, f"a batch holds at most {MAX_BATCH} events, not {len(items)}")
    pointers = [f"{base}/{index}" for index in range(len(items))] if batch else [""]
    wait = wants_effects(request)
    results, effects = await ingest_items(engine, items, pointers, wait=wait, on_accepted=unheard_counter(request, engine),
                                         hand_off=runtime(request).hand_off)
    count_outcomes(request, engine.workspace.name, results)
    shown = effects if wait else None
    return batch_response(results, shown) if batch else single_response(results[0], shown)
