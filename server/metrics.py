"""GET /metrics: Prometheus text format, per workspace."""
from __future__ import annotations

import asyncio
import hmac
import time
from collections.abc import Awaitable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from relance.dsl.graph import Workspace
from relance.engine.channels import DeliveryResult
from relance.engine.events import Event
from relance.engine.profiles import heard
from relance.engine.records import MessageRecord

from .problems import HttpProblem
from .runtime import PROBE_SECONDS, Runtime

UNHEARD_TYPES = 100  # labels per workspace: a sender inventing types must not grow /metrics without end


class Metrics:
    """The server's own registry (not the global one), so several apps can live in one process."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.events = Counter("relance_events", "Events received, by outcome", ["workspace", "outcome"],
                              registry=self.registry)
        self.gauges = Gauge("relance_state", "Runs and messages by state", ["workspace", "state"],
                            registry=self.registry)
        self.queue = Gauge("relance_queue_depth", "Reminders waiting in Redis for `relance worker` processes",
                           registry=self.registry)
        self.workers = Gauge("relance_workers_alive", "`relance worker` processes that polled lately",
                             registry=self.registry)
        self.lateness = Gauge("relance_timer_lateness_seconds", "How late the most overdue due run is",
                              ["workspace"], registry=self.registry)
        self.unheard = Counter("relance_events_unheard", "Events accepted whose type no rule listens to and no "
                               f"built-in uses, by type (the first {UNHEARD_TYPES} types, then 'other')",
                               ["workspace", "type"], registry=self.registry)
        self._unheard_types: dict[str, set[str]] = {}
        self.messages = Counter("relance_messages", "Messages handed to channels by this process, by outcome "
                                "(sent, deferred, failed, bounced, skipped)", ["workspace", "channel", "outcome"],
                                registry=self.registry)
        self.requests = Histogram("relance_request_duration_seconds", "HTTP requests by route, method and status",
                                  ["route", "method", "status"], registry=self.registry)
        self.inbox = Gauge("relance_inbox_events", "Events accepted and not processed yet (intake answers 429 at "
                           "RELANCE_INBOX_LIMIT)", ["workspace"], registry=self.registry)
        self.inbox_age = Gauge("relance_inbox_age_seconds", "How long the oldest event not processed yet has waited",
                               ["workspace"], registry=self.registry)
        self.up = Gauge("relance_up", "1 when the database or Redis answered this scrape, 0 when not", ["component"],
                        registry=self.registry)
        self.loops = Gauge("relance_loop_healthy", "1 for a background loop that works, 0 while it fails and retries",
                           ["loop"], registry=self.registry)

    def count_unheard(self, workspace: Workspace, event: Event) -> None:
        """Count an accepted event if its type does nothing in `workspace` (a shop sending it for nothing)."""
        if heard(workspace, event.type):
            return
        types = self._unheard_types.setdefault(workspace.name, set())
        if event.type in types or len(types) < UNHEARD_TYPES:
            types.add(event.type)
            self.unheard.labels(workspace.name, event.type).inc()
        else:
            self.unheard.labels(workspace.name, "other").inc()

    def message(self, workspace: str, message: MessageRecord, result: DeliveryResult | None) -> None:
        """A dispatcher's recorded outcome (Dispatcher.observe)."""
        if result is not None and result.bounced:
            outcome = "bounced"
        elif message.status == "pending":
            if message.error is None:
                return  # handed back unsent (a slow group): no outcome yet
            outcome = "deferred"
        else:
            outcome = message.status
        self.messages.labels(workspace, message.channel, outcome).inc()

    async def render(self, runtime: Runtime) -> bytes:
        """The metrics; what cannot be read now (the database or Redis away) keeps its last value,
        and `relance_up` says which."""
        self.up.labels("database").set(await _read(self._database(runtime)))
        if runtime.reminders is not None:
            self.up.labels("redis").set(await _read(self._redis(runtime)))
        for name, health in runtime.loops.healths.items():
            self.loops.labels(name).set(1 if health.ok else 0)
        return generate_latest(self.registry)

    async def _database(self, runtime: Runtime) -> None:
        now = runtime.clock.now()
        for name in runtime.engines:
            for state, count in (await runtime.store.gauges(name)).items():
                self.gauges.labels(name, state).set(count)
            waiting, oldest = await runtime.store.inbox_backlog(name)
            self.inbox.labels(name).set(waiting)
            self.inbox_age.labels(name).set(max(0.0, (now - oldest).total_seconds()) if oldest else 0.0)
            wake = await runtime.store.next_wake(name)
            self.lateness.labels(name).set(max(0.0, (now - wake).total_seconds()) if wake else 0.0)

    async def _redis(self, runtime: Runtime) -> None:
        assert runtime.reminders is not None
        self.queue.set(await runtime.reminders.depth())
        self.workers.set(await runtime.reminders.workers_alive())


async def _read(reading: Awaitable[None]) -> int:
    """1 when the reading worked, 0 when its server did not answer (within PROBE_SECONDS)."""
    try:
        await asyncio.wait_for(reading, PROBE_SECONDS)
    except Exception:
        return 0
    return 1


def may_see(request: Request) -> bool:
    """Whether the request may see what the server holds (workspace names, counts): always without a
    metrics token (RELANCE_METRICS_TOKEN), else only with it as a bearer token."""
    token = request.app.state.runtime.settings.metrics_token
    if not token:
        return True
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


async def metrics(request: Request) -> Response:
    if not may_see(request):
        raise HttpProblem(401, "/metrics needs the metrics token: send 'Authorization: Bearer <RELANCE_METRICS_TOKEN>'")
    body = await request.app.state.metrics.render(request.app.state.runtime)
    return Response(body, media_type=CONTENT_TYPE_LATEST)


class RequestTimer:
    """ASGI middleware: each HTTP request's duration, by its route's template (`/v1/runs/{run_id}`,
    not the path: one series per route), method and status."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500
        started = time.perf_counter()

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            self.metrics.requests.labels(route, scope["method"], str(status)).observe(time.perf_counter() - started)
