"""What a person does through the API: approve, edit or reject drafts; complete tasks; cancel runs; GDPR."""
from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from relance.engine.engine import Engine
from relance.engine.events import parse_event
from relance.engine.inbox import Received
from relance.engine.message_links import unlink_unsafe
from relance.engine.records import ACTIVE_STATUSES, MessageRecord
from relance.engine.store import Transaction
from relance.engine import runs

from .problems import HttpProblem
from .requests import checked_body, key_engine
from .resources import as_json, contact_in, identifier, owned


async def _draft(engine: Engine, tx: Transaction, message_id: int) -> MessageRecord:
    message = owned(await tx.get_message(message_id), engine, "message", message_id)
    if message.status != "draft":
        raise HttpProblem(409, f"message {message_id} is {message.status}, not a draft")
    return message


async def approve_message(request: Request) -> JSONResponse:
    """A draft (mode assist) goes out as it is, or as edited."""
    engine = await key_engine(request)
    async with engine.store.transaction() as tx:
        message = await _draft(engine, tx, identifier(request, "message_id"))
        message.status = "pending"
        await tx.save_message(message)
    await engine.dispatch()
    async with engine.store.transaction() as tx:
        return JSONResponse(as_json(await tx.get_message(message.id)))


async def edit_message(request: Request) -> JSONResponse:
    """Change a draft's subject, text or HTML before approving it.

    The HTML part is what most mail clients show, so an edit never leaves it behind: a new
    `html` replaces it and the text part is derived from it again (unless `body` comes too);
    a new `body` alone on a draft with HTML is refused; `html: null` sends the text alone.
    """
    engine = await key_engine(request)
    changes = await checked_body(request)
    if not isinstance(changes, dict) or not changes or set(changes) - {"subject", "body", "html"}:
        raise HttpProblem(422, "send {\"subject\": …, \"body\": …, \"html\": …} (any of them)", pointer="")
    for key, value in changes.items():
        if not (isinstance(value, str) and (key == "subject" or value.strip())) and not (key == "html" and value is None):
            raise HttpProblem(422, "expected a non-empty string" + (" (or null: no HTML part)" if key == "html" else ""),
                          pointer=f"/{key}")
    async with engine.store.transaction() as tx:
        message = await _draft(engine, tx, identifier(request, "message_id"))
        if message.html is not None and "body" in changes and "html" not in changes:
            raise HttpProblem(422, "this draft has an HTML part, which is what most mail clients show: edit html too "
                               "(the text part is derived from it), or send html: null to send the text alone",
                          pointer="/html")
        if "html" in changes:
            message.html = unlink_unsafe(changes["html"]) if changes["html"] is not None else None
            message.body = changes.get("body", "" if message.html is not None else message.body)
        message.subject = changes.get("subject", message.subject)
        message.body = changes.get("body", message.body)
        await tx.save_message(message)
    return JSONResponse(as_json(message))


async def reject_message(request: Request) -> JSONResponse:
    engine = await key_engine(request)
    async with engine.store.transaction() as tx:
        message = await _draft(engine, tx, identifier(request, "message_id"))
        message.status = "rejected"
        await tx.save_message(message)
    return JSONResponse(as_json(message))


async def complete_task(request: Request) -> JSONResponse:
    engine = await key_engine(request)
    task_id = identifier(request, "task_id")
    async with engine.store.transaction() as tx:
        task = owned(await tx.get_task(task_id), engine, "task", task_id)
        task.status = "done"
        await tx.save_task(task)
    return JSONResponse(as_json(task))


async def cancel_run(request: Request) -> JSONResponse:
    """End a run now; it takes no further step."""
    engine = await key_engine(request)
    run_id = identifier(request, "run_id")
    async with engine.store.transaction() as tx:
        run = owned(await tx.get_run(run_id), engine, "run", run_id)
        if run.status not in ACTIVE_STATUSES:
            raise HttpProblem(409, f"run {run_id} has already ended ({run.status})")
        runs.cancel(run, engine.clock.now(), "cancelled by the API")
        await tx.save_run(run)
    return JSONResponse(as_json(run))


CONSENT_EVENTS = {"opted_in": "contact.subscribed", "opted_out": "contact.unsubscribed"}


async def set_consent(request: Request) -> JSONResponse:
    """Record a contact's yes or no for a channel (`{"channel", "status", "source"}`), as an event."""
    engine = await key_engine(request)
    contact_id = identifier(request, "contact_id")
    body = await checked_body(request)
    if not isinstance(body, dict):
        raise HttpProblem(422, 'expected {"channel": "sms", "status": "opted_in", "source": "…"}', pointer="")
    channel, status, source = body.get("channel"), body.get("status"), body.get("source", "api")
    if not isinstance(channel, str) or channel not in engine.workspace.channels:
        raise HttpProblem(422, f"channel should be one of the workspace's: {', '.join(engine.workspace.channels)}",
                      pointer="/channel")
    if status not in CONSENT_EVENTS:
        raise HttpProblem(422, "status should be opted_in or opted_out", pointer="/status")
    if not isinstance(source, str):
        raise HttpProblem(422, "source should be a string saying where the consent comes from", pointer="/source")
    async with engine.store.transaction() as tx:
        await contact_in(engine, tx, contact_id)
    now = engine.clock.now()
    event = parse_event({"id": f"consent:{contact_id}:{channel}:{now.isoformat()}", "type": CONSENT_EVENTS[status],
                         "contact": {"id": contact_id}, "properties": {"channel": channel, "source": source}}, now=now)
    await engine.accept([Received(event)], wait=True)
    async with engine.store.transaction() as tx:
        return JSONResponse(as_json(await contact_in(engine, tx, contact_id)))


async def export_contact(request: Request) -> JSONResponse:
    """GDPR access: everything kept about one contact."""
    engine = await key_engine(request)
    contact_id = identifier(request, "contact_id")
    async with engine.store.transaction() as tx:
        contact = await contact_in(engine, tx, contact_id)
        events, runs, messages, tasks = await tx.contact_data(contact_id)
    return JSONResponse({"contact": as_json(contact), "events": [as_json(e) for e in events],
                         "runs": [as_json(r) for r in runs], "messages": [as_json(m) for m in messages],
                         "tasks": [as_json(t) for t in tasks]})


async def erase_contact(request: Request) -> Response:
    """GDPR erasure: the contact, its identities, events, runs, messages and tasks are deleted; its
    addresses go on the suppression list, as keyed hashes."""
    engine = await key_engine(request)
    contact_id = identifier(request, "contact_id")
    async with engine.store.transaction() as tx:
        contact = await contact_in(engine, tx, contact_id)
        if engine.suppressions is not None:  # its addresses must not come back to life by an import or a link
            await engine.suppressions.add_erased(tx, contact, engine.clock.now())
        await tx.erase_contact(contact_id)
    return Response(status_code=204)
