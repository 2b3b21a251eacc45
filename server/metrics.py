"""GET /metrics: Prometheus text format, per workspace."""
from __future__ import annotations

import asyncio
from collections.abc import Awaitable

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.requests import Request
from starlette.responses import Response

from .runtime import PROBE_SECONDS, Runtime


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
        self.up = Gauge("relance_up", "1 when the database or Redis answered this scrape, 0 when not", ["component"],
                        registry=self.registry)
        self.loops = Gauge("relance_loop_healthy", "1 for a background loop that works, 0 while it fails and retries",
                           ["loop"], registry=self.registry)

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


async def metrics(request: Request) -> Response:
    body = await request.app.state.metrics.render(request.app.state.runtime)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
