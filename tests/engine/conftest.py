"""A workspace running on a virtual clock and a real SQLite file, for engine tests."""
from __future__ import annotations

import asyncio
import itertools
import os
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from relance.dsl import check_workspace
from relance.dsl import graph as g
from relance.dsl.snapshots import check_sources
from relance.engine.channels import DeliveryResult, OutboundMessage
from relance.engine.engine import Outcome
from relance.engine.events import Event, parse_event
from relance.engine.records import ContactRecord
from relance.engine.simulation import Simulation
from relance.engine.timeline import Effect
from relance.plugins.registry import channels, plugin_manager, scorers, store_for

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)


class RecordingChannel:
    """A channel plugin that keeps what it is given, by idempotency key."""

    name = "log"

    def __init__(self) -> None:
        self.sent: list[OutboundMessage] = []

    async def send(self, message: OutboundMessage) -> DeliveryResult:
        self.sent.append(message)
        return DeliveryResult("delivered")


class Shop:
    """One workspace on a store and a virtual clock: send events, let time pass, look at effects."""

    def __init__(self, simulation: Simulation, channel: RecordingChannel) -> None:
        self.simulation = simulation
        self.engine = simulation.engine
        self.clock = simulation.clock
        self.channel = channel
        self._ids = itertools.count(1)

    @property
    def effects(self) -> list[Effect]:
        return self.simulation.effects

    def make_event(self, type: str, contact: dict[str, Any] | None = None, at: datetime | None = None,
                   id: str | None = None, **properties: Any) -> Event:
        data = {"id": id or f"e{next(self._ids)}", "type": type, "at": (at or self.clock.now()).isoformat(),
                "contact": contact or {"email": "alice@example.test"}, "properties": properties}
        return parse_event(data)

    async def event(self, type: str, contact: dict[str, Any] | None = None, at: datetime | None = None,
                    id: str | None = None, **properties: Any) -> Outcome:
        """Let time pass until `at` (default: now), then ingest the event."""
        await self.simulation.advance_to(max(at or self.clock.now(), self.clock.now()))
        return await self.engine.ingest(self.make_event(type, contact, at, id, **properties))

    async def wait(self, delta: timedelta) -> None:
        await self.simulation.advance_to(self.clock.now() + delta)

    def kinds(self, kind: str, rule: str | None = None) -> list[Effect]:
        return [e for e in self.effects if e.kind == kind and (rule is None or e.rule == rule)]

    def sent(self) -> list[tuple[str, str]]:
        """(template, offset from T0) of every message handed to the channel, in order."""
        return [(m.template, m.key) for m in self.channel.sent]


POSTGRES_URL = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test")
TABLES = ("relance_contacts", "relance_identities", "relance_events", "relance_runs", "relance_messages",
          "relance_tasks", "relance_orders", "relance_suppressions", "relance_api_keys", "relance_server_settings",
          "relance_workspace_snapshots", "relance_rule_versions", "relance_decisions")


async def _postgres_reachable() -> bool:
    try:
        connection = await asyncpg.connect(POSTGRES_URL.replace("postgres://", "postgresql://", 1), timeout=3)
    except (OSError, asyncpg.PostgresError, asyncio.TimeoutError):
        return False
    await connection.close()
    return True


@pytest.fixture(params=["sqlite", "postgres"])
async def database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database URL: a fresh SQLite file, or the local PostgreSQL emptied for this test."""
    if request.param == "sqlite":
        return f"sqlite://{tmp_path / 'shop.sqlite3'}"
    if not await _postgres_reachable():
        message = f"PostgreSQL not reachable at {POSTGRES_URL}; start it or set DATABASE_URL to run these tests"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    store = store_for(plugin_manager(load_entry_points=False), POSTGRES_URL)
    await store.open()
    await store.context.db().execute_script(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY")
    await store.close()
    return POSTGRES_URL


@pytest.fixture
async def open_shop(write: Callable[..., Path], functions, database: str) -> AsyncIterator[Callable[..., Any]]:
    """open_shop(yaml, start=T0) → a Shop on the test's database; a second call is a restart."""
    opened: list[Any] = []

    async def open_(text: str, start: datetime = T0) -> Shop:
        path = write(text)
        workspace, problems = check_workspace([path], functions, channels(plugin_manager(load_entry_points=False)))
        assert problems == [], [str(p) for p in problems]
        store = store_for(plugin_manager(load_entry_points=False), database)
        await store.open()
        opened.append(store)
        channel = RecordingChannel()
        simulation = Simulation(workspace, store, start, {"log": channel}, scorers(plugin_manager(False)),
                                compile_sources=lambda sources: check_sources(
                                    sources, lambda paths: check_workspace(paths, functions))[0])
        return Shop(simulation, channel)

    yield open_
    for store in opened:
        await store.close()


@pytest.fixture
def compiled(compile_text: Callable[[str], tuple[g.Workspace | None, list[Any]]]) -> Callable[[str], g.Workspace]:
    """compiled(yaml) → its workspace, checked without a problem (tests of one module, no store)."""
    def compile_(text: str) -> g.Workspace:
        workspace, problems = compile_text(text)
        assert problems == [] and workspace is not None, [str(p) for p in problems]
        return workspace
    return compile_


def contact_record(id: int = 1, **fields: Any) -> ContactRecord:
    """A contact of the workspace `shop` as the store would give it, created at T0."""
    return ContactRecord(id, "shop", T0, **{"email": "alice@example.test", **fields})
