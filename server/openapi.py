"""The OpenAPI 3.1 document of the HTTP API, served at /openapi.json; a test keeps it equal to the routes."""
from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from relance.plugins.routes import OPENAPI_ATTRIBUTE


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _problem(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/problem+json": {"schema": _ref("Problem")}}}


PROBLEMS = {"401": _problem("missing or unknown API key"), "404": _problem("not in this workspace"),
            "400": _problem("a bad query or body"), "405": _problem("method not allowed")}
ID = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
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
TOKEN = {"name": "token", "in": "path", "required": True, "schema": {"type": "string"}}
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
    operation: dict[str, Any] = {"summary": summary, "parameters": [ID], "responses": responses}
    if body is not None:
        operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
        responses["422"] = _problem("an invalid body")
    return operation


def _segment(summary: str, kind: str) -> dict[str, Any]:
    schema = {"type": "object", "required": ["messageId"], "properties": {"messageId": {"type": "string"}}}
    return {"summary": summary, "parameters": [WAIT],
            "requestBody": {"required": True, "content": {"application/json": {"schema": schema}}},
            "responses": SEGMENT_RESPONSES, "x-segment-call": kind}


PATHS: dict[str, dict[str, Any]] = {
    "/healthz": {"get": {"summary": "The process answers", "security": [],
                         "responses": {"200": _json(OBJECT, "alive")}}},
    "/readyz": {"get": {"summary": "The database answers and the workspaces are loaded", "security": [],
                        "responses": {"200": _json(OBJECT, "ready"), "503": _problem("not ready")}}},
    "/metrics": {"get": {"summary": "Prometheus metrics (the metrics token as bearer when RELANCE_METRICS_TOKEN is set)",
                         "security": [],
                         "responses": {"200": {"description": "text exposition format",
                                               "content": {"text/plain": {"schema": {"type": "string"}}}},
                                       "401": _problem("the metrics token is set and was not given")}}},
    "/openapi.json": {"get": {"summary": "This document", "security": [],
                              "responses": {"200": _json(OBJECT, "OpenAPI 3.1")}}},
    "/v1/events": {"post": {
        "summary": "Send one event, or a batch ([…] or {\"events\": […]}, up to 500 events or 1 MiB)",
        "parameters": [WAIT],
        "requestBody": {"required": True, "content": {"application/json": {"schema": {"oneOf": [
            _ref("Event"), {"type": "array", "items": _ref("Event"), "maxItems": 500},
            {"type": "object", "required": ["events"], "additionalProperties": False,
             "properties": {"events": {"type": "array", "items": _ref("Event"), "maxItems": 500}}}]}}}},
        "responses": INGEST_RESPONSES}},
    "/v1/track": {"post": _segment("Segment track call", "track")},
    "/v1/identify": {"post": _segment("Segment identify call", "identify")},
    "/v1/page": {"post": _segment("Segment page call", "page")},
    "/v1/batch": {"post": {**_segment("Segment batch of calls", "batch"), "requestBody": {
        "required": True, "content": {"application/json": {"schema": {
            "type": "object", "required": ["batch"], "properties": {"batch": {"type": "array"}}}}}}}},
    "/v1/contacts": {"get": _read("Find contacts by identity", {"type": "object", "properties": {
        "contacts": {"type": "array", "items": _ref("Contact")}}}, [
        {"name": "email", "in": "query", "schema": {"type": "string"}},
        {"name": "phone", "in": "query", "schema": {"type": "string"}},
        {"name": "external_id", "in": "query", "schema": {"type": "string"}, "description": "SOURCE:ID"},
        {"name": "segment", "in": "query", "schema": {"type": "string"}, "description": "members of a segment"},
        {"name": "after", "in": "query", "schema": {"type": "integer", "minimum": 0},
         "description": "with segment: go on after this contact id (a previous answer's `after`)"},
        LIMIT])},
    "/v1/contacts/{id}": {
        "get": _read("One contact", _ref("Contact"), [ID]),
        "delete": {"summary": "GDPR erasure: the contact and everything about it", "parameters": [ID],
                   "responses": {"204": {"description": "erased"}, **PROBLEMS}}},
    "/v1/contacts/{id}/export": {"get": _read("GDPR export: everything kept about a contact", OBJECT, [ID])},
    "/v1/contacts/{id}/why": {"get": _read(
        "Why the contact is where it is: its runs with their traces, the rules its recent events did not start "
        "and why, and `story`, the same in plain words", {"type": "object", "properties": {
            "contact": _ref("Contact"), "runs": {"type": "array", "items": _ref("Run")},
            "decisions": {"type": "array", "items": {"type": "object", "properties": {
                "rule_id": {"type": "string"}, "event_id": {"type": "string"}, "event_type": {"type": "string"},
                "at": {"type": "string", "format": "date-time"}, "started": {"type": "boolean"},
                "reason": {"type": "string"}}}},
            "story": {"type": "array", "items": {"type": "string"}}}},
        [ID, {"name": "rule", "in": "query", "schema": {"type": "string"}, "description": "one rule only"}])},
    "/v1/contacts/{id}/consent": {"post": _action(
        "Record the contact's consent for a channel (as a contact.subscribed or contact.unsubscribed event)",
        _ref("Contact"), body={"type": "object", "required": ["channel", "status"], "properties": {
            "channel": {"type": "string"}, "status": {"type": "string", "enum": ["opted_in", "opted_out"]},
            "source": {"type": "string"}}})},
    "/v1/runs": {"get": _read("Runs, a page by id, oldest first (the newest by default)", {
        "type": "object", "properties": {"runs": {"type": "array", "items": _ref("Run")}, **CURSORS}}, [
        {"name": "rule", "in": "query", "schema": {"type": "string"}},
        {"name": "contact", "in": "query", "schema": {"type": "string"}}, *PAGE])},
    "/v1/runs/{id}": {"get": _read("One run with its trace", _ref("Run"), [ID])},
    "/v1/runs/{id}/cancel": {"post": _action("End a run now", _ref("Run"), "the run has already ended")},
    "/v1/messages": {"get": _read("Messages of the outbox, a page by id, oldest first (the newest by default)", {
        "type": "object", "properties": {"messages": {"type": "array", "items": _ref("Message")}, **CURSORS}}, [
        {"name": "status", "in": "query", "schema": {"type": "string"}}, *PAGE])},
    "/v1/messages/{id}": {"patch": _action("Edit a draft", _ref("Message"), "not a draft", body={
        "type": "object", "additionalProperties": False, "minProperties": 1,
        "properties": {"subject": {"type": "string"}, "body": {"type": "string", "minLength": 1},
                       "html": {"type": ["string", "null"], "minLength": 1}}})},
    "/v1/messages/{id}/approve": {"post": _action("Send a draft", _ref("Message"), "not a draft")},
    "/v1/messages/{id}/reject": {"post": _action("Drop a draft", _ref("Message"), "not a draft")},
    "/v1/tasks": {"get": _read("Tasks for people, a page by id, oldest first (the newest by default)", {
        "type": "object", "properties": {"tasks": {"type": "array", "items": _ref("Task")}, **CURSORS}}, PAGE)},
    "/v1/tasks/{id}/complete": {"post": _action("Mark a task done", _ref("Task"))},
    "/v1/stats": {"get": _read("Per rule: runs by status, conversions, revenue, messages", OBJECT)},
    "/v1/rules": {"get": _read("Rules with their versions", OBJECT)},
    "/v1/rules/validate": {"post": {
        "summary": "Check a rules file (YAML body) without loading it",
        "requestBody": {"required": True, "content": {"application/yaml": {"schema": {"type": "string"}}}},
        "responses": {"200": _json(OBJECT, "no problem found"), **PROBLEMS,
                      "413": _problem("over 1 MiB"),
                      "422": _problem("the problems found, as `relance check` (`problems`)")}}},
    "/v1/rules/reload": {"post": {
        "summary": "Read the workspace's rules files again",
        "responses": {"200": _json(OBJECT, "reloaded"), **PROBLEMS,
                      "422": _problem("the files have errors; the previous rules keep running")}}},
    "/u/{token}": {
        "get": {"summary": "Unsubscribe link: a page with a confirmation button (opening it changes nothing)",
                "security": [], "parameters": [TOKEN],
                "responses": {"200": HTML_PAGE, "404": _problem("a forged or altered link")}},
        "post": {"summary": "Unsubscribe (the page's button, or RFC 8058 one-click from the mail client)",
                 "security": [], "parameters": [TOKEN],
                 "responses": {"200": HTML_PAGE, "404": _problem("a forged or altered link")}}},
    "/t/o/{token}": {"get": {"summary": "Open pixel: records email.opened", "security": [], "parameters": [TOKEN],
                             "responses": {"200": {"description": "a 1x1 GIF",
                                                   "content": {"image/gif": {"schema": {"type": "string"}}}},
                                           "404": _problem("a forged or altered link")}}},
    "/t/c/{token}": {"get": {"summary": "Tracked link: records email.clicked, redirects to the signed URL",
                             "security": [], "parameters": [TOKEN],
                             "responses": {"302": {"description": "to the link's own URL"},
                                           "404": _problem("a forged or altered link")}}},
}

SCHEMAS: dict[str, Any] = {
    "Problem": {"type": "object", "required": ["type", "title", "status", "detail"], "properties": {
        "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
        "detail": {"type": "string"}, "pointer": {"type": "string"}}},
    "Event": {"type": "object", "required": ["id", "type", "contact"], "additionalProperties": False, "properties": {
        "id": {"type": "string", "minLength": 1, "maxLength": 200},
        "type": {"type": "string", "minLength": 1},
        "at": {"type": "string", "format": "date-time"},
        "contact": {"type": "object", "properties": {
            "id": {"type": "integer"}, "email": {"type": "string"}, "phone": {"type": "string"},
            "external_ids": {"type": "object", "additionalProperties": {"type": "string"}}}},
        "properties": {"type": "object"}}},
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

DOCUMENT: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "Relance", "version": "1",
             "description": "Events in, contacts, runs and messages out. Every error is application/problem+json."},
    "paths": PATHS,
    "components": {"schemas": SCHEMAS, "securitySchemes": {
        "key": {"type": "http", "scheme": "bearer"},
        "writeKey": {"type": "http", "scheme": "basic", "description": "Segment clients: the key as user"}}},
    "security": [{"key": []}, {"writeKey": []}],
}


def _operations(route: Route) -> dict[str, Any]:
    """A plugin route's operations: as the plugin documented them, else its docstring's first line."""
    given = getattr(route.endpoint, OPENAPI_ATTRIBUTE, {})
    summary = (inspect.getdoc(route.endpoint) or route.path).splitlines()[0]
    plain = {"summary": summary, "security": [], "responses": {"default": {"description": "the plugin's answer"}}}
    methods = sorted(method.lower() for method in route.methods or () if method != "HEAD")
    return {method: given.get(method, plain) for method in methods}


def document(plugin_routes: Sequence[BaseRoute]) -> dict[str, Any]:
    """The document of the server's own routes and of those plugins added."""
    paths = {path: dict(item) for path, item in PATHS.items()}
    for route in plugin_routes:
        if isinstance(route, Route):
            paths.setdefault(route.path, {}).update(_operations(route))
    return {**DOCUMENT, "paths": paths}


async def openapi(request: Request) -> JSONResponse:
    return JSONResponse(document(request.app.state.plugin_routes))
