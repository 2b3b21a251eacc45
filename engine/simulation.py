"""`relance simulate`: a workspace on a virtual clock and a throw-away store, as a timeline."""
from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path

from relance.dsl import graph as g

from .channels import Channel
from .clock import VirtualClock
from .engine import Engine
from .events import Event, EventError, parse_event
from .scoring import Scorer
from .store import Store
from .timeline import Effect
from .versions import CompileSources

DEFAULT_HORIZON = timedelta(days=30)
# How often virtual time runs the server's periodic pass (date and `every` triggers, segments
# re-evaluated): the server runs it every minute, a simulation every hour.
TIMED_CHECK = timedelta(hours=1)


def read_events(path: Path) -> list[Event]:
    """Events from a JSON Lines file, each with its own `at`; errors name the line and field."""
    events = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as error:
            raise EventError("", f"{path}:{number}:{error.colno}: not JSON: {error.msg}") from None
        try:
            events.append(parse_event(data))
        except EventError as error:
            raise EventError(error.pointer, f"{path}:{number}: {error.pointer}: {error.message}") from None
    return events


class Simulation:
    """Feeds events in time order, running every wait, trigger and message in between."""

    def __init__(self, workspace: g.Workspace, store: Store, start: datetime, channels: Mapping[str, Channel],
                 scorers: Sequence[Scorer] = (), compile_sources: CompileSources | None = None) -> None:
        self.clock = VirtualClock(start)
        self.effects: list[Effect] = []
        self.engine = Engine(workspace, store, self.clock, channels, scorers, on_effect=self.effects.append,
                             compile_sources=compile_sources)
        self.engine.timed_checked_at = self.clock.now()
        self._next_check = self.clock.now() + TIMED_CHECK if workspace.depends_on_time() else None

    async def advance_to(self, target: datetime) -> None:
        """Move the clock to `target`, stopping at every due run, message and periodic pass on the way."""
        due = await self._next_due()
        while True:
            moments = [m for m in (*due, self._next_check) if m is not None and m <= target]
            if not moments:
                break
            self.clock.set(max(min(moments), self.clock.now()))
            effects = len(self.effects)
            passing = self._next_check is not None and self.clock.now() >= self._next_check
            if any(m is not None and m <= self.clock.now() for m in due):
                resumed = await self.engine.run_due()
                await self.engine.dispatch()
                due = await self._next_due()
                still = [m for m in due if m is not None and m <= self.clock.now()]
                if not resumed and not passing and still:  # never loop forever
                    raise RuntimeError(f"a run or message due at {min(still).isoformat()} did not move")
            if passing:
                await self.engine.run_timed()
                await self.engine.dispatch()
                self._next_check = self.clock.now() + TIMED_CHECK
                if len(self.effects) != effects:  # a pass that did nothing changed no wake and no message
                    due = await self._next_due()
        self.clock.set(target)
        await self.engine.run_due()
        await self.engine.dispatch()

    async def _next_due(self) -> tuple[datetime | None, datetime | None]:
        """When the next run wakes and the next message is due to leave."""
        name = self.engine.workspace.name
        return await self.engine.store.next_wake(name), await self.engine.store.next_send(name)

    async def run(self, events: Iterable[Event], until: timedelta | None = None,
                  arrivals: Sequence[datetime | None] | None = None) -> list[Effect]:
        """Feed the events as they arrive (`arrivals`, by default at their own time: a late webhook
        arrives after its `at`), then let `until` pass after the last one."""
        events = list(events)
        arrived = [max(arrival or event.at, event.at) for event, arrival in
                   zip(events, arrivals or [None] * len(events))]
        ordered = sorted(zip(arrived, events), key=lambda pair: pair[0])
        for arrival, event in ordered:
            await self.advance_to(arrival)
            await self.engine.ingest(event)
        end = (ordered[-1][0] if ordered else self.clock.now()) + (until or DEFAULT_HORIZON)
        await self.advance_to(end)
        return self.effects


async def simulate(workspace: g.Workspace, store: Store, events: Sequence[Event], channels: Mapping[str, Channel],
                   scorers: Sequence[Scorer] = (), until: timedelta | None = None,
                   arrivals: Sequence[datetime | None] | None = None) -> list[Effect]:
    """Run `events` through `workspace` on a fresh store, opened and closed here; the timeline.
    `arrivals` (one per event, None: at its own time) say when each event reaches the server."""
    await store.open()
    try:
        start = min((e.at for e in events), default=None)
        if start is None:
            return []
        return await Simulation(workspace, store, start, channels, scorers).run(events, until, arrivals)
    finally:
        await store.close()
