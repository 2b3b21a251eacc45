"""The Starlette application: routes (the server's and the plugins'), problem+json errors, and the runtime's life."""
from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pluggy
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from relance.engine.clock import Clock

from . import actions, resources, rules_api, segment, tracking, why
from .ingest import post_events
from .metrics import Metrics, RequestTimer, may_see, metrics
from .openapi import openapi
from .plugin_routes import plugin_routes
from .problems import HANDLERS, problem_response
from .runtime import Runtime
from .settings import Settings


async def healthz(request: Request) -> JSONResponse:
    """The process answers."""
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> JSONResponse:
    """Ready: the database (and Redis, when used) answer and no background loop is failing;
    otherwise 503 naming what is down. Either way, the health of each."""
    runtime: Runtime = request.app.state.runtime
    health = await runtime.health()
    down = [part for part in ("database", "redis") if health.get(part, "ok") != "ok"]
    down += [f"loop {name}" for name, loop in health["loops"].items() if not loop["ok"]]  # type: ignore[attr-defined]
    shown = health if may_see(request) else {}  # workspace names and errors are for those with the metrics token
    if down:
        return problem_response(503, f"not ready: {', '.join(down)}" if shown else "not ready", **shown)
    if not shown:
        return JSONResponse({"status": "ready"})
    return JSONResponse({"status": "ready", "workspaces": sorted(runtime.engines), **health})


ROUTES = [  # the server's own; plugins add theirs through `relance_routes` (see create_app)
    Route("/healthz", healthz, methods=["GET"]),
    Route("/readyz", readyz, methods=["GET"]),
    Route("/metrics", metrics, methods=["GET"]),
    Route("/openapi.json", openapi, methods=["GET"]),
    Route("/v1/events", post_events, methods=["POST"]),
    Route("/v1/track", segment.track, methods=["POST"]),
    Route("/v1/identify", segment.identify, methods=["POST"]),
    Route("/v1/page", segment.page, methods=["POST"]),
    Route("/v1/batch", segment.batch, methods=["POST"]),
    Route("/v1/contacts", resources.find_contacts, methods=["GET"]),
    Route("/v1/contacts/{contact_id}", resources.get_contact, methods=["GET"]),
    Route("/v1/runs", resources.list_runs, methods=["GET"]),
    Route("/v1/runs/{run_id}", resources.get_run, methods=["GET"]),
    Route("/v1/messages", resources.list_messages, methods=["GET"]),
    Route("/v1/tasks", resources.list_tasks, methods=["GET"]),
    Route("/v1/contacts/{contact_id}", actions.erase_contact, methods=["DELETE"]),
    Route("/v1/contacts/{contact_id}/export", actions.export_contact, methods=["GET"]),
    Route("/v1/contacts/{contact_id}/consent", actions.set_consent, methods=["POST"]),
    Route("/v1/contacts/{contact_id}/why", why.why, methods=["GET"]),
    Route("/v1/runs/{run_id}/cancel", actions.cancel_run, methods=["POST"]),
    Route("/v1/messages/{message_id}", actions.edit_message, methods=["PATCH"]),
    Route("/v1/messages/{message_id}/approve", actions.approve_message, methods=["POST"]),
    Route("/v1/messages/{message_id}/reject", actions.reject_message, methods=["POST"]),
    Route("/v1/tasks/{task_id}/complete", actions.complete_task, methods=["POST"]),
    Route("/v1/stats", resources.stats, methods=["GET"]),
    Route("/v1/rules", rules_api.list_rules, methods=["GET"]),
    Route("/v1/rules/validate", rules_api.validate_rules, methods=["POST"]),
    Route("/v1/rules/reload", rules_api.reload_rules, methods=["POST"]),
    Route("/u/{token}", tracking.unsubscribe_page, methods=["GET"]),
    Route("/u/{token}", tracking.unsubscribe, methods=["POST"]),
    Route("/t/o/{token}", tracking.opened, methods=["GET"]),
    Route("/t/c/{token}", tracking.clicked, methods=["GET"]),
]


def create_app(settings: Settings, clock: Clock | None = None, run_scheduler: bool = True,
               manager: pluggy.PluginManager | None = None) -> Starlette:
    """The app for these settings; `clock` and `run_scheduler` are for tests on a virtual clock, `manager`
    for tests of plugins (by default the built-ins and the installed ones)."""
    runtime = Runtime(settings, clock, manager)
    runtime.compile()  # rules with errors stop the start, with every problem listed

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await runtime.start(run_scheduler)
        for engine in runtime.engines.values():
            engine.dispatcher.observe = measures.message
        try:
            asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, runtime.reload_all)
        except (RuntimeError, ValueError, NotImplementedError):
            pass  # not the main thread (tests) or no SIGHUP on this system
        try:
            yield
        finally:
            await runtime.stop()

    measures = Metrics()
    added = plugin_routes(runtime, ROUTES)
    app = Starlette(routes=[*ROUTES, *added], exception_handlers=HANDLERS, lifespan=lifespan,  # type: ignore[arg-type]
                    middleware=[Middleware(RequestTimer, metrics=measures)])
    app.state.plugin_routes = added  # /openapi.json lists them after the server's own
    app.state.runtime = runtime
    app.state.metrics = measures
    return app


SETTINGS_VARIABLE = "RELANCE_SERVE_SETTINGS"


def app_from_environment() -> Starlette:
    """The app of one of several server processes (`relance serve --workers N`), settings from its parent."""
    return create_app(Settings.model_validate_json(os.environ[SETTINGS_VARIABLE]))
