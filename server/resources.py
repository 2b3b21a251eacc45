"""Reading a workspace: contacts, runs with their trace, messages, tasks. Another workspace's are 404."""
from __future__ import annotations

import dataclasses
from datetime import datetime
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from starlette.requests import Request
from starlette.responses import JSONResponse

from relance.engine.engine import Engine
from relance.engine.records import ContactRecord
from relance.engine.store import Transaction

from .problems import HttpProblem
from .requests import key_engine, limit_param

R = TypeVar("R")


def as_json(record: Any) -> dict[str, Any]:
    data = dataclasses.asdict(record)
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in data.items()}


def identifier(request: Request, name: str) -> int:
    """A numeric path parameter; anything else is a 404 (no such thing)."""
    raw = request.path_params[name]
    if not (raw.isascii() and raw.isdigit()):
        raise HttpProblem(404, f"no {name.removesuffix('_id')} '{raw}'")
    return int(raw)


def owned(record: R | None, engine: Engine, what: str, record_id: int) -> R:
    """The record if it belongs to the key's workspace; another shop's data answers 404 as if absent."""
    if record is None or getattr(record, "workspace", None) != engine.workspace.name:
        raise HttpProblem(404, f"no {what} {record_id} in this workspace")
    return record


async def contact_in(engine: Engine, tx: Transaction, contact_id: int) -> ContactRecord:
    contact = owned(await tx.get_contact(contact_id), engine, "contact", contact_id)
    if contact.merged_into is not None:
        raise HttpProblem(404, f"contact {contact_id} was merged into {contact.merged_into}", merged_into=contact.merged_into)
    return contact


async def get_contact(request: Request) -> JSONResponse:
    engine = await key_engine(request)
    async with engine.store.transaction() as tx:
        contact = await contact_in(engine, tx, identifier(request, "contact_id"))
    return JSONResponse(as_json(contact))


async def find_contacts(request: Request) -> JSONResponse:
    """By identity: ?email=, ?phone= or ?external_id=SOURCE:ID; or the members of ?segment=NAME."""
    engine = await key_engine(request)
    query = request.query_params
    if "segment" in query:
        return await _segment_members(engine, query["segment"], limit_param(request),
                                      cursor_param(request, "after") or 0)
    identities = [(kind, query[kind].strip().lower() if kind == "email" else query[kind].strip())
                  for kind in ("email", "phone") if kind in query]
    if "external_id" in query:
        source, _, value = query["external_id"].partition(":")
        if not value:
            raise HttpProblem(400, "external_id is SOURCE:ID, such as shopify:7301", pointer="/query/external_id")
        identities.append((f"ext:{source}", value))
    if not identities:
        raise HttpProblem(400, "give ?email=, ?phone= or ?external_id=SOURCE:ID", pointer="/query")
    async with engine.store.transaction() as tx:
        contacts = await tx.find_contacts(engine.workspace.name, identities)
    return JSONResponse({"contacts": [as_json(c) for c in contacts]})


async def get_run(request: Request) -> JSONResponse:
    engine = await key_engine(request)
    run_id = identifier(request, "run_id")
    async with engine.store.transaction() as tx:
        run = owned(await tx.get_run(run_id), engine, "run", run_id)
    return JSONResponse(as_json(run))


def cursor_param(request: Request, name: str) -> int | None:
    raw = request.query_params.get(name)
    if raw is None:
        return None
    if not (raw.isascii() and raw.isdigit()):
        raise HttpProblem(400, f"{name} is the id a previous page gave as '{name}', a whole number",
                      pointer=f"/query/{name}")
    return int(raw)


async def paged(request: Request, key: str, read: Callable[..., Awaitable[list[Any]]]) -> JSONResponse:
    """A page of records by id, oldest first, with the cursors of the pages around it.

    Without a cursor: the newest `limit`. `?before=ID`: the `limit` before that id (older);
    `?after=ID`: the `limit` after it (newer). The answer's `before` is the cursor of the older
    page (null when there is none), `after` the cursor of the newer one (the last id: pages made
    later may have more). One extra row is read to know whether there are more.
    """
    limit = limit_param(request)
    before, after = cursor_param(request, "before"), cursor_param(request, "after")
    if before is not None and after is not None:
        raise HttpProblem(400, "give before or after, not both", pointer="/query/after")
    rows = await read(limit=limit + 1, before=before, after=after)
    older = newer = False
    if len(rows) > limit:
        if after is not None:
            rows, newer = rows[:limit], True
        else:
            rows, older = rows[1:], True
    if after is not None and rows:
        older = True  # the page after a cursor has that cursor's row before it
    ids = [row.id for row in rows]
    return JSONResponse({key: [as_json(r) for r in rows],
                         "before": ids[0] if ids and older else None,
                         "after": ids[-1] if ids else after,
                         "more_after": newer})


async def list_runs(request: Request) -> JSONResponse:
    """?rule=RULE_ID, ?contact=CONTACT_ID, ?limit=N, ?before= / ?after= (see `paged`)."""
    engine = await key_engine(request)
    contact = request.query_params.get("contact")
    if contact is not None and not (contact.isascii() and contact.isdigit()):
        raise HttpProblem(400, "contact is a contact id, a whole number", pointer="/query/contact")
    rule = request.query_params.get("rule")
    return await paged(request, "runs", lambda **page: engine.store.run_page(
        engine.workspace.name, rule, int(contact) if contact else None, **page))


async def list_messages(request: Request) -> JSONResponse:
    """?status=pending|sent|failed|draft|advised, ?limit=N, ?before= / ?after= (see `paged`)."""
    engine = await key_engine(request)
    status = request.query_params.get("status")
    return await paged(request, "messages", lambda **page: engine.store.message_page(engine.workspace.name, status, **page))


async def list_tasks(request: Request) -> JSONResponse:
    engine = await key_engine(request)
    return await paged(request, "tasks", lambda **page: engine.store.task_page(engine.workspace.name, **page))


SEGMENT_SCAN = 5000  # contacts read at most by one request for a segment's members: the answer says where to go on


async def _segment_members(engine: Engine, segment: str, limit: int, after: int) -> JSONResponse:
    """Members of a segment, by id after `after`: a bounded scan of profiles (segments live in each
    contact's profile), `after` in the answer to go on from where it stopped."""
    if segment not in engine.workspace.segments:
        raise HttpProblem(404, f"no segment '{segment}' in this workspace", pointer="/query/segment")
    members: list[dict[str, Any]] = []
    scanned, done = 0, False
    while len(members) < limit and scanned < SEGMENT_SCAN:
        async with engine.store.transaction() as tx:
            page = await tx.contacts(engine.workspace.name, after, min(500, SEGMENT_SCAN - scanned))
        if not page:
            done = True
            break
        scanned += len(page)
        for contact in page:
            after = contact.id
            if segment in contact.segments:
                members.append(as_json(contact))
                if len(members) == limit:
                    break
    return JSONResponse({"contacts": members, "after": None if done else after})


async def stats(request: Request) -> JSONResponse:
    """Per rule: runs by status, conversions and their revenue, messages by status (counted in the database)."""
    engine = await key_engine(request)
    counts = await engine.store.rule_counts(engine.workspace.name)
    rules = {rule_id: counts.get(rule_id) or {"runs": {}, "conversions": 0, "revenue": 0.0, "messages": {}}
             for rule_id in engine.workspace.rules}
    rules.update(counts)
    return JSONResponse({"workspace": engine.workspace.name, "rules": rules})
