"""The OpenAPI 3.1 document of the HTTP API, served at /openapi.json: a path per route of the app, each
operation's metadata by its route, the event's schema from the model that validates events."""
from __future__ import annotations

import inspect
import re
from typing import Any

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute
from starlette.schemas import EndpointInfo, SchemaGenerator

from relance.engine.event_model import EventModel
from relance.plugins.routes import OPENAPI_ATTRIBUTE

from .ingest import MAX_BATCH


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _problem(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/problem+json": {"schema": _ref("Problem")}}}


PROBLEMS = {"401": _problem("missing or unknown API key"), "404": _problem("not in this workspace"),
            "400": _problem("a bad query or body"), "405": _problem("method not allowed")}
LIMIT = {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 1000}}
PAGE = [LIMIT,
        {"name": "before", "in": "query", "schema": {"type": "integer", "minimum": 0},
         "description": "the page before this id (older): a previous answer's `before`"},
        {"name": "after", "in": "query", "schema": {"type": "integer", "minimum": 0},
         "description": "the page after this id (newer): a previous answer's `after`"}]
CURSORS = {"before": {"type": ["integer", "null"], "description": "pass as ?before= for the older page; null: none"},
           "after": {"type": ["integer", "null"], "description": "pass as ?after= for the newer page"},
           "more_after": {"type": "boolean", "description": "rows after this page exist already"}}
OBJECT = {"type": "object"}
HTML_PAGE = {"description": "a page for the contact", "content": {"text/html": {"schema": {"type": "string"}}}}
NULLABLE_TIME = {"type": ["string", "null"], "format": "date-time"}
INGEST_RESPONSES = {
    "202": _json({"oneOf": [_ref("Accepted"), _ref("BatchResult")]}, "stored and processed"),
    "207": _json(_ref("BatchResult"), "a batch where some events were rejected, each by its index"),
    "409": _problem("the same id was received with a different body"),
    "413": _problem("over 1 MiB or 500 events, sent or decompressed"),
    "415": _problem("a Content-Encoding other than gzip, deflate or none"),
    "422": _problem("an invalid event; `pointer` names the field"),
    "503": _problem("the database could not store the event now: send it again"),
    **PROBLEMS,
}
SEGMENT_RESPONSES = {
    "200": _json({"type": "object", "required": ["success"], "properties": {"success": {"const": True}}},
                 "stored, as Segment's tracking API answers"),
    "400": _problem("a refused call (in a batch, the others are stored); `code` and `message` as Segment's"),
    "413": _problem("over 1 MiB or 500 calls, sent or decompressed"),
    "415": INGEST_RESPONSES["415"], "503": INGEST_RESPONSES["503"],
    **{status: problem for status, problem in PROBLEMS.items() if status != "400"},
}
WAIT = {"name": "wait", "in": "query", "schema": {"type": "string", "enum": ["true", "false"]},
        "description": "true: answer with the effects of the events (runs, messages, …)"}


def _read(summary: str, schema: dict[str, Any], parameters: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"summary": summary, "parameters": parameters or [], "responses": {"200": _json(schema, summary), **PROBLEMS}}


def _action(summary: str, schema: dict[str, Any], conflict: str | None = None,
            body: dict[str, Any] | None = None) -> dict[str, Any]:
    responses: dict[str, Any] = {"200": _json(schema, summary), **PROBLEMS}
    if conflict:
        responses["409"] = _problem(conflict)
    operation: dict[str, Any] = {"summary": summary, "responses": responses}
    if body is not None:
        operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
        responses["422"] = _problem("an invalid body")
    return operation


def _segment(summary: str, kind: str) -> dict[str, Any]:
    schema = {"type": "object", "required": ["messageId"], "properties": {"messageId": {"type": "string"}}}
    return {"summary": summary, "parameters": [WAIT],
            "requestBody": {"required": True, "content": {"application/json": {"schema": schema}}},
            "responses": SEGMENT_RESPONSES, "x-segment-call": kind}


OPERATIONS: dict[str, dict[str, Any]] = {  # "METHOD /path" as the route says: what its code does not
    "GET /healthz": {"summary": "The process answers", "security": [],
                     "responses": {"200": _json(OBJECT, "alive")}},
    "GET /readyz": {"summary": "The database answers and the workspaces are loaded", "security": [],
                    "responses": {"200": _json(OBJECT, "ready"), "503": _problem("not ready")}},
    "GET /metrics": {"summary": "Prometheus metrics (the metrics token as bearer when RELANCE_METRICS_TOKEN is set)",
                     "security": [],
                     "responses": {"200": {"description": "text exposition format",
                                           "content": {"text/plain": {"schema": {"type": "string"}}}},
                                   "401": _problem("the metrics token is set and was not given")}},
    "GET /openapi.json": {"summary": "This document", "security": [],
                          "responses": {"200": _json(OBJECT, "OpenAPI 3.1")}},
    "POST /v1/events": {
        "summary": "Send one event, or a batch ([…] or {\"events\": […]}, up to 500 events or 1 MiB)",
        "parameters": [WAIT],
        "requestBody": {"required": True, "content": {"application/json": {"schema": {"oneOf": [
            _ref("Event"), {"type": "array", "items": _ref("Event"), "maxItems": MAX_BATCH},
            {"type": "object", "required": ["events"], "additionalProperties": False,
             "properties": {"events": {"type": "array", "items": _ref("Event"), "maxItems": MAX_BATCH}}}]}}}},
        "responses": INGEST_RESPONSES},
    "POST /v1/track": _segment("Segment track call", "track"),
    "POST /v1/identify": _segment("Segment identify call", "identify"),
    "POST /v1/page": _segment("Segment page call", "page"),
    "POST /v1/batch": {**_segment("Segment batch of calls", "batch"), "requestBody": {
        "required": True, "content": {"application/json": {"schema": {
            "type": "object", "required": ["batch"], "properties": {"batch": {"type": "array"}}}}}}},
    "GET /v1/contacts": _read("Find contacts by identity", {"type": "object", "properties": {
        "contacts": {"type": "array", "items": _ref("Contact")}}}, [
        {"name": "email", "in": "query", "schema": {"type": "string"}},
        {"name": "phone", "in": "query", "schema": {"type": "string"}},
        {"name": "external_id", "in": "query", "schema": {"type": "string"}, "description": "SOURCE:ID"},
        {"name": "segment", "in": "query", "schema": {"type": "string"}, "description": "members of a segment"},
        {"name": "after", "in": "query", "schema": {"type": "integer", "minimum": 0},
         "description": "with segment: go on after this contact id (a previous answer's `after`)"},
        LIMIT]),
    "GET /v1/contacts/{contact_id}": _read("One contact", _ref("Contact")),
    "DELETE /v1/contacts/{contact_id}": {"summary": "GDPR erasure: the contact and everything about it",
                                         "responses": {"204": {"description": "erased"}, **PROBLEMS}},
    "GET /v1/contacts/{contact_id}/export": _read("GDPR export: everything kept about a contact", OBJECT),
    "GET /v1/contacts/{contact_id}/why": _read(
        "Why the contact is where it is: its runs with their traces, the rules its recent events did not start "
        "and why, and `story`, the same in plain words", {"type": "object", "properties": {
            "contact": _ref("Contact"), "runs": {"type": "array", "items": _ref("Run")},
            "decisions": {"type": "array", "items": {"type": "object", "properties": {
                "rule_id": {"type": "string"}, "event_id": {"type": "string"}, "event_type": {"type": "string"},
                "at": {"type": "string", "format": "date-time"}, "started": {"type": "boolean"},
                "reason": {"type": "string"}}}},
            "story": {"type": "array", "items": {"type": "string"}}}},
        [{"name": "rule", "in": "query", "schema": {"type": "string"}, "description": "one rule only"}]),
    "POST /v1/contacts/{contact_id}/consent": _action(
        "Record the contact's consent for a channel (as a contact.subscribed or contact.unsubscribed event)",
        _ref("Contact"), body={"type": "object", "required": ["channel", "status"], "properties": {
            "channel": {"type": "string"}, "status": {"type": "string", "enum": ["opted_in", "opted_out"]},
            "source": {"type": "string"}}}),
    "GET /v1/runs": _read("Runs, a page by id, oldest first (the newest by default)", {
        "type": "object", "properties": {"runs": {"type": "array", "items": _ref("Run")}, **CURSORS}}, [
        {"name": "rule", "in": "query", "schema": {"type": "string"}},
        {"name": "contact", "in": "query", "schema": {"type": "string"}}, *PAGE]),
    "GET /v1/runs/{run_id}": _read("One run with its trace", _ref("Run")),
    "POST /v1/runs/{run_id}/cancel": _action("End a run now", _ref("Run"), "the run has already ended"),
    "GET /v1/messages": _read("Messages of the outbox, a page by id, oldest first (the newest by default)", {
        "type": "object", "properties": {"messages": {"type": "array", "items": _ref("Message")}, **CURSORS}}, [
        {"name": "status", "in": "query", "schema": {"type": "string"}}, *PAGE]),
    "PATCH /v1/messages/{message_id}": _action("Edit a draft", _ref("Message"), "not a draft", body={
        "type": "object", "additionalProperties": False, "minProperties": 1,
        "properties": {"subject": {"type": "string"}, "body": {"type": "string", "minLength": 1},
                       "html": {"type": ["string", "null"], "minLength": 1}}}),
    "POST /v1/messages/{message_id}/approve": _action("Send a draft", _ref("Message"), "not a draft"),
    "POST /v1/messages/{message_id}/reject": _action("Drop a draft", _ref("Message"), "not a draft"),
    "GET /v1/tasks": _read("Tasks for people, a page by id, oldest first (the newest by default)", {
        "type": "object", "properties": {"tasks": {"type": "array", "items": _ref("Task")}, **CURSORS}}, PAGE),
    "POST /v1/tasks/{task_id}/complete": _action("Mark a task done", _ref("Task")),
    "GET /v1/stats": _read("Per rule: runs by status, conversions, revenue, messages", OBJECT),
    "GET /v1/rules": _read("Rules with their versions", OBJECT),
    "POST /v1/rules/validate": {
        "summary": "Check a rules file (YAML body) without loading it",
        "requestBody": {"required": True, "content": {"application/yaml": {"schema": {"type": "string"}}}},
        "responses": {"200": _json(OBJECT, "no problem found"), **PROBLEMS,
                      "413": _problem("over 1 MiB"),
                      "422": _problem("the problems found, as `relance check` (`problems`)")}},
    "POST /v1/rules/reload": {
        "summary": "Read the workspace's rules files again",
        "responses": {"200": _json(OBJECT, "reloaded"), **PROBLEMS,
                      "422": _problem("the files have errors; the previous rules keep running")}},
    "GET /u/{token}": {"summary": "Unsubscribe link: a page with a confirmation button (opening it changes nothing)",
                       "security": [], "responses": {"200": HTML_PAGE, "404": _problem("a forged or altered link")}},
    "POST /u/{token}": {"summary": "Unsubscribe (the page's button, or RFC 8058 one-click from the mail client)",
                        "security": [], "responses": {"200": HTML_PAGE, "404": _problem("a forged or altered link")}},
    "GET /t/o/{token}": {"summary": "Open pixel: records email.opened", "security": [],
                         "responses": {"200": {"description": "a 1x1 GIF",
                                               "content": {"image/gif": {"schema": {"type": "string"}}}},
                                       "404": _problem("a forged or altered link")}},
    "GET /t/c/{token}": {"summary": "Tracked link: records email.clicked, redirects to the signed URL",
                         "security": [], "responses": {"302": {"description": "to the link's own URL"},
                                                       "404": _problem("a forged or altered link")}},
}

RESPONSES: dict[str, Any] = {  # the shapes answers take
    "Problem": {"type": "object", "required": ["type", "title", "status", "detail"], "properties": {
        "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
        "detail": {"type": "string"}, "pointer": {"type": "string"}}},
    "Accepted": {"type": "object", "required": ["id", "status"], "properties": {
        "id": {"type": "string"}, "status": {"enum": ["accepted", "duplicate"]},
        "effects": {"type": "array", "items": OBJECT}}},
    "BatchResult": {"type": "object", "required": ["accepted", "duplicates", "rejected", "results"], "properties": {
        "accepted": {"type": "integer"}, "duplicates": {"type": "integer"}, "rejected": {"type": "integer"},
        "results": {"type": "array", "items": OBJECT}, "effects": {"type": "array", "items": OBJECT}}},
    "Contact": {"type": "object", "required": ["id", "workspace"], "properties": {
        "id": {"type": "integer"}, "workspace": {"type": "string"}, "email": {"type": ["string", "null"]},
        "phone": {"type": ["string", "null"]}, "attributes": OBJECT, "tags": {"type": "array"},
        "score": {"type": "integer"}, "segments": {"type": "array"}}},
    "Run": {"type": "object", "required": ["id", "rule_id", "status", "trace"], "properties": {
        "id": {"type": "integer"}, "rule_id": {"type": "string"}, "rule_version": {"type": "string"},
        "status": {"type": "string"}, "node_id": {"type": ["string", "null"]}, "wake_at": NULLABLE_TIME,
        "trace": {"type": "array", "items": OBJECT}}},
    "Message": {"type": "object", "required": ["id", "key", "status", "channel", "template"], "properties": {
        "id": {"type": "integer"}, "key": {"type": "string"}, "status": {"type": "string"},
        "channel": {"type": "string"}, "template": {"type": "string"}, "subject": {"type": ["string", "null"]},
        "body": {"type": "string"}, "html": {"type": ["string", "null"]}, "sent_at": NULLABLE_TIME}},
    "Task": {"type": "object", "required": ["id", "title", "status"], "properties": {
        "id": {"type": "integer"}, "title": {"type": "string"}, "status": {"type": "string"},
        "due_at": NULLABLE_TIME}},
}

INFO = {"title": "Relance", "version": "1",
        "description": "Events in, contacts, runs and messages out. Every error is application/problem+json."}
SECURITY_SCHEMES = {"key": {"type": "http", "scheme": "bearer"},
                    "writeKey": {"type": "http", "scheme": "basic", "description": "Segment clients: the key as user"}}
DEFAULT_RESPONSES = {"200": _json(OBJECT, "done"), **PROBLEMS}


def model_schemas(model: type[BaseModel]) -> dict[str, Any]:
    """`model`'s JSON Schema and those of the models it holds, by name, as components."""
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    inner = schema.pop("$defs", {})
    return {schema.get("title", model.__name__): schema, **inner}


def _operation(endpoint: EndpointInfo) -> dict[str, Any]:
    """The operation of one route and method: its metadata above, its path parameters, its docstring."""
    known = OPERATIONS.get(f"{endpoint.http_method.upper()} {endpoint.path}") \
        or getattr(endpoint.func, OPENAPI_ATTRIBUTE, {}).get(endpoint.http_method, {})  # a plugin's route, as it says
    operation: dict[str, Any] = {"responses": DEFAULT_RESPONSES, **known}
    doc = inspect.getdoc(endpoint.func)
    if doc:
        operation.setdefault("summary", doc.split("\n\n")[0].replace("\n", " "))
        operation["description"] = doc
    in_path = [{"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
               for name in re.findall(r"\{(\w+)\}", endpoint.path)]
    if in_path or "parameters" in operation:
        operation["parameters"] = in_path + operation.get("parameters", [])
    return operation


def build_document(routes: list[BaseRoute], event_model: type[BaseModel] = EventModel) -> dict[str, Any]:
    """The OpenAPI 3.1 document of `routes`: a path per route, the event's schema from `event_model`."""
    paths: dict[str, dict[str, Any]] = {}
    for endpoint in SchemaGenerator({}).get_endpoints(routes):
        paths.setdefault(endpoint.path, {})[endpoint.http_method] = _operation(endpoint)
    return {"openapi": "3.1.0", "info": INFO, "paths": paths,
            "components": {"schemas": {**RESPONSES, **model_schemas(event_model)}, "securitySchemes": SECURITY_SCHEMES},
            "security": [{"key": []}, {"writeKey": []}]}


async def openapi(request: Request) -> JSONResponse:
    """This document, made from the app's routes once."""
    state = request.app.state
    if getattr(state, "openapi", None) is None:
        state.openapi = build_document(request.app.routes)
    return JSONResponse(state.openapi)
