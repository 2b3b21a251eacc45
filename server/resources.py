"""Reading a workspace: contacts, runs with their trace, messages, tasks. Another workspace's are 404."""
from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any, TypeVar

from starlette.requests import Request
from starlette.responses import JSONResponse

from relance.engine.engine import Engine
from relance.engine.records import ContactRecord
from relance.engine.store import Transaction

from .problems import Problem
from .requests import engine, limit_param

R = TypeVar("R")


def as_json(record: Any) -> dict[str, Any]:
    data = dataclasses.asdict(record)
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in data.items()}


def identifier(request: Request, name: str) -> int:
    """A numeric path parameter; anything else is a 404 (no such thing)."""
    raw = request.path_params[name]
    if not raw.isdigit():
        raise Problem(404, f"no {name.removesuffix('_id')} '{raw}'")
    return int(raw)


def owned(record: R | None, shop: Engine, what: str, record_id: int) -> R:
    """The record if it belongs to the key's workspace; another shop's data answers 404 as if absent."""
    if record is None or getattr(record, "workspace", None) != shop.workspace.name:
        raise Problem(404, f"no {what} {record_id} in this workspace")
    return record


async def contact_in(shop: Engine, tx: Transaction, contact_id: int) -> ContactRecord:
    contact = owned(await tx.get_contact(contact_id), shop, "contact", contact_id)
    if contact.merged_into is not None:
        raise Problem(404, f"contact {contact_id} was merged into {contact.merged_into}", merged_into=contact.merged_into)
    return contact


async def get_contact(request: Request) -> JSONResponse:
    shop = await engine(request)
    async with shop.store.transaction() as tx:
        contact = await contact_in(shop, tx, identifier(request, "contact_id"))
    return JSONResponse(as_json(contact))


async def find_contacts(request: Request) -> JSONResponse:
    """By identity: ?email=, ?phone= or ?external_id=SOURCE:ID; or the members of ?segment=NAME."""
    shop = await engine(request)
    query = request.query_params
    if "segment" in query:
        return await _segment_members(shop, query["segment"], limit_param(request))
    identities = [(kind, query[kind].strip().lower() if kind == "email" else query[kind].strip())
                  for kind in ("email", "phone") if kind in query]
    if "external_id" in query:
        source, _, value = query["external_id"].partition(":")
        if not value:
            raise Problem(400, "external_id is SOURCE:ID, such as shopify:7301", pointer="/query/external_id")
        identities.append((f"ext:{source}", value))
    if not identities:
        raise Problem(400, "give ?email=, ?phone= or ?external_id=SOURCE:ID", pointer="/query")
    async with shop.store.transaction() as tx:
        contacts = await tx.find_contacts(shop.workspace.name, identities)
    return JSONResponse({"contacts": [as_json(c) for c in contacts]})


async def get_run(request: Request) -> JSONResponse:
    shop = await engine(request)
    run_id = identifier(request, "run_id")
    async with shop.store.transaction() as tx:
        run = owned(await tx.get_run(run_id), shop, "run", run_id)
    return JSONResponse(as_json(run))


async def list_runs(request: Request) -> JSONResponse:
    """?rule=RULE_ID, ?contact=CONTACT_ID, ?limit=N (newest first)."""
    shop = await engine(request)
    contact = request.query_params.get("contact")
    if contact is not None and not contact.isdigit():
        raise Problem(400, "contact is a contact id, a whole number", pointer="/query/contact")
    runs = await shop.store.runs(shop.workspace.name, request.query_params.get("rule"),
                                 int(contact) if contact else None, limit_param(request))
    return JSONResponse({"runs": [as_json(r) for r in runs]})


async def list_messages(request: Request) -> JSONResponse:
    """?status=pending|sent|failed|draft|advised."""
    shop = await engine(request)
    messages = await shop.store.messages(shop.workspace.name, request.query_params.get("status"))
    return JSONResponse({"messages": [as_json(m) for m in messages[-limit_param(request):]]})


async def list_tasks(request: Request) -> JSONResponse:
    shop = await engine(request)
    tasks = await shop.store.tasks(shop.workspace.name)
    return JSONResponse({"tasks": [as_json(t) for t in tasks[-limit_param(request):]]})


async def _segment_members(shop: Engine, segment: str, limit: int) -> JSONResponse:
    if segment not in shop.workspace.segments:
        raise Problem(404, f"no segment '{segment}' in this workspace", pointer="/query/segment")
    members: list[dict[str, Any]] = []
    after = 0
    while len(members) < limit:  # a scan, in pages: segments live in each contact's profile
        async with shop.store.transaction() as tx:
            page = await tx.contacts(shop.workspace.name, after, 500)
        if not page:
            break
        after = page[-1].id
        members += [as_json(c) for c in page if segment in c.segments]
    return JSONResponse({"contacts": members[:limit]})


async def stats(request: Request) -> JSONResponse:
    """Per rule: runs by status, conversions and their revenue, messages by status."""
    shop = await engine(request)
    rules: dict[str, dict[str, Any]] = {
        rule_id: {"runs": {}, "conversions": 0, "revenue": 0.0, "messages": {}} for rule_id in shop.workspace.rules}
    for run in await shop.store.runs(shop.workspace.name):
        entry = rules.setdefault(run.rule_id, {"runs": {}, "conversions": 0, "revenue": 0.0, "messages": {}})
        entry["runs"][run.status] = entry["runs"].get(run.status, 0) + 1
        if run.status == "goal":
            entry["conversions"] += 1
            entry["revenue"] = round(entry["revenue"] + (run.revenue or 0), 2)
    for message in await shop.store.messages(shop.workspace.name):
        entry = rules.setdefault(message.rule_id, {"runs": {}, "conversions": 0, "revenue": 0.0, "messages": {}})
        entry["messages"][message.status] = entry["messages"].get(message.status, 0) + 1
    return JSONResponse({"workspace": shop.workspace.name, "rules": rules})
