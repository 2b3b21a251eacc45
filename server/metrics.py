"""GET /metrics: Prometheus text format, per workspace."""
from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.requests import Request
from starlette.responses import Response

from relance.dsl.graph import Workspace
from relance.engine.events import Event
from relance.engine.profiles import heard

from .runtime import Runtime

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

    async def render(self, runtime: Runtime) -> bytes:
        now = runtime.clock.now()
        for name, engine in runtime.engines.items():
            for state, count in (await runtime.store.gauges(name)).items():
                self.gauges.labels(name, state).set(count)
            wake = await runtime.store.next_wake(name)
            self.lateness.labels(name).set(max(0.0, (now - wake).total_seconds()) if wake else 0.0)
        if runtime.reminders is not None:
            self.queue.set(await runtime.reminders.depth())
            self.workers.set(await runtime.reminders.workers_alive())
        return generate_latest(self.registry)


async def metrics(request: Request) -> Response:
    body = await request.app.state.metrics.render(request.app.state.runtime)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
