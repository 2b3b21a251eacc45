"""The engine of one workspace: a façade over its parts, each a module of engine/ with one job.

- intake.py: events accepted into the inbox, processed in groups (contacts, profiles, reactions);
- admission.py: whether a contact enters a rule: the one way a run starts;
- endings.py: goals and exits, as events arrive and before each step;
- stepping.py: a run's steps in transactions until it waits or ends; due runs woken;
- runs.py: every change of a run's state (each one transition, one version);
- timed.py: date and `every …` triggers, segments re-evaluated as time passes;
- versions.py: the rule versions runs are pinned to, stored for every process;
- outbox.py: messages handed to their channels, by the scheduler and the worker, never by intake.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime, timedelta

from relance.dsl import graph as g
from relance.dsl.errors import RelanceError

from .admission import Admission
from .channels import Channel
from .clock import Clock
from .endings import Endings
from .events import Event, EventConflict, EventError
from .inbox import Received
from .intake import Accepted, Intake, Outcome
from .links import Links
from .outbox import Dispatcher
from .scoring import Scorer
from .stepping import Stepping
from .store import Store
from .suppressions import Suppressions
from .timed import Timed
from .timeline import Effect
from .versions import CompileSources, Versions
from .walker import Walker

__all__ = ["Accepted", "Engine", "Outcome"]
logger = logging.getLogger("relance.engine")
OnWait = Callable[[str, Sequence[tuple[int, int, datetime]]], Awaitable[object]]  # workspace, [(run id, version, wake_at)]


class Engine:
    """Runs one workspace's rules on a store, a clock and channel plugins."""

    def __init__(self, workspace: g.Workspace, store: Store, clock: Clock, channels: Mapping[str, Channel],
                 scorers: Sequence[Scorer] = (), on_effect: Callable[[Effect], None] | None = None,
                 links: Links | None = None, on_wait: OnWait | None = None,
                 compile_sources: CompileSources | None = None) -> None:
        self.workspace = workspace
        self.store = store
        self.clock = clock
        self.channels = channels
        self.scorers = tuple(scorers)
        self.on_effect = on_effect
        self.on_wait = on_wait  # a run now waits until a time: remind a queue (arq) to resume it then
        self.suppressions: Suppressions | None = None  # set by the server: erased addresses stay opted out
        self.lock = asyncio.Lock()  # one inbox round, due-run pass or timed pass of this workspace at a time
        self.arrived = asyncio.Event()  # set when events were accepted: the inbox has work
        self.versions = Versions(workspace.name, compile_sources)
        self.intake = Intake(self)
        self.admission = Admission(self)
        self.endings = Endings(self)
        self.stepping = Stepping(self)
        self.timed = Timed(self)
        self.walker = Walker(self.admission.start_from_step, frozenset({links.host}) if links else frozenset())
        self.dispatcher = Dispatcher(store, clock, channels, links, self.emit)
        self.reload(workspace)

    # ---------------------------------------------------------------- rules
    def reload(self, workspace: g.Workspace, publish: bool = True) -> None:
        """Use new rules; runs move to the same node of the new version, or stay on theirs (engine/versions.py).
        `publish=False`: the rules come from the store (a process that follows the published ones)."""
        self.workspace = workspace
        self.versions.load(workspace, publish)
        self.endings.forget()

    async def follow(self) -> bool:
        """Load the workspace's current rules, as last published in the store, when they are not the
        ones loaded here (`relance worker`: servers and workers walk the same rules); True if it did."""
        if self.versions.compile_sources is None:
            return False
        current = await self.store.current_snapshot(self.workspace.name, unless=self.versions.digest)
        if current is None:
            return False
        compiled = self.versions.compiled(*current)
        if compiled is None or compiled.name != self.workspace.name:
            return False
        self.reload(compiled, publish=False)
        logger.info("%s: loaded the rules published in the store (%d rules)", self.workspace.name, len(compiled.rules))
        return True

    async def publish(self) -> None:
        """Store the loaded rule versions, and make them the workspace's current rules for processes
        that follow the store (`relance worker`); done before any run is pinned to them, once."""
        await self.versions.publish(self.store, self.clock.now())

    # --------------------------------------------------------------- events
    async def accept(self, items: Sequence[Received], wait: bool = False) -> list[Accepted]:
        """Store events for processing (see Intake.accept); with `wait`, processed before this returns."""
        return await self.intake.accept(items, wait)

    async def inbox_full(self) -> int | None:
        """Seconds a sender should wait before sending more, when the inbox is full; None while there is room."""
        return await self.intake.inbox_full()

    @property
    def inbox_limit(self) -> int | None:
        """Events waiting to be processed past which intake asks senders to come back later."""
        return self.intake.limit

    @inbox_limit.setter
    def inbox_limit(self, limit: int | None) -> None:
        self.intake.limit = limit

    async def ingest(self, event: Event, at_given: bool = True) -> Outcome:
        """Store an event once and run everything it causes, the messages it queued sent (tests,
        scripts and simulations: the whole way at once); a repeated id changes nothing.

        The same id with a different body raises EventConflict; `at_given=False` (the sender
        left the time to us) leaves `at` out of that comparison, so a retry is not a conflict.
        """
        [accepted] = await self.accept([Received(event, at_given)], wait=True)
        await self.dispatch()
        if accepted.status == "conflict":
            raise EventConflict(event.id)
        if accepted.status == "unknown_contact":
            raise EventError("/contact/id", f"no contact {event.contact.id} in this workspace")
        if accepted.status == "failed":
            raise RelanceError(f"event {event.id} could not be stored")
        return accepted.outcome or Outcome(duplicate=True)

    async def process_inbox(self) -> int:
        """Process every stored event not processed yet, in arrival order; returns how many. Sends
        nothing: the messages queued wait for `dispatch()`."""
        return await self.intake.process()

    async def forget_old_decisions(self) -> int:
        """Decisions older than the intake's `keep_decisions` go (see Intake.forget_old_decisions)."""
        return await self.intake.forget_old_decisions()

    # ------------------------------------------------------------ time passing
    async def run_due(self) -> int:
        """Resume every run whose time has come; returns how many were resumed (sent by `dispatch()`)."""
        async with self.lock:
            return await self.stepping.run_due()

    async def resume(self, run_id: int, version: int) -> bool:
        """Resume one run if it still has this version (see Stepping.resume)."""
        return await self.stepping.resume(run_id, version)

    async def run_timed(self, window_start: datetime | None = None) -> int:
        """Start runs of date and `every …` triggers due since the last pass; re-evaluate segments."""
        async with self.lock:
            return await self.timed.run(window_start)

    async def timed_window(self, window_start: datetime | None = None) -> tuple[datetime, datetime] | None:
        """(since, now) for the next timed pass, or None when nothing depends on time (see Timed.window)."""
        return await self.timed.window(window_start)

    async def run_timed_range(self, since: datetime, now: datetime, after_id: int = 0,
                              until_id: int | None = None) -> int:
        """A timed pass over a range of contacts (see Timed.run_range)."""
        return await self.timed.run_range(since, now, after_id, until_id)

    def timed_unfinished(self, since: datetime) -> None:
        """A timed pass from `since` did not finish: the next one starts there again."""
        self.timed.unfinished(since)

    @property
    def timed_checked_at(self) -> datetime | None:
        """When this process last began a timed pass."""
        return self.timed.checked_at

    @timed_checked_at.setter
    def timed_checked_at(self, at: datetime | None) -> None:
        self.timed.checked_at = at

    # ---------------------------------------------------------------- outbox
    async def recover(self, stuck: timedelta | None = None) -> int:
        """Messages claimed by a process that died are queued again (see Dispatcher.recover)."""
        return await self.dispatcher.recover(self.workspace.name, stuck)

    async def dispatch(self, until: datetime | None = None) -> int:
        """Hand committed pending messages whose time has come to their channel plugin (claiming
        none after `until`)."""
        return await self.dispatcher.dispatch(self.workspace, until)

    # ---------------------------------------------------------------- effects
    def emit(self, effects: list[Effect], outcome: Outcome | None = None) -> None:
        """Effects happened (committed): to the waiting caller's outcome, to `on_effect`, to the log."""
        for effect in effects:
            if outcome is not None:
                outcome.effects.append(effect)
            if self.on_effect is not None:
                self.on_effect(effect)
            if logger.isEnabledFor(logging.DEBUG):
                logger.debug("%s", effect.describe())
