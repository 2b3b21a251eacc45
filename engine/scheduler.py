"""The in-process scheduler: processes the inbox, wakes due runs, sends the outbox, fires date and `every` triggers.

It keeps nothing of its own: due work is found from the database (`wake_at`), so a
restart loses nothing. One process by default; `relance worker` (arq) at scale.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import datetime, timedelta

from .clock import Clock
from .engine import Engine

logger = logging.getLogger("relance.scheduler")


class Scheduler:
    def __init__(self, engines: Sequence[Engine], clock: Clock, poll: float = 1.0,
                 timed_every: timedelta = timedelta(minutes=1)) -> None:
        self.engines = list(engines)
        self.clock = clock
        self.poll = poll
        self.timed_every = timed_every
        self._next_timed: datetime | None = None
        self._stopping = asyncio.Event()

    async def run_once(self) -> int:
        """One pass: every due run resumed, the outbox sent, timed triggers checked when it is time."""
        resumed = 0
        now = self.clock.now()
        timed = self._next_timed is None or now >= self._next_timed
        for engine in self.engines:
            try:  # one shop's failure never stops the timers of the others
                await engine.process_inbox()
                resumed += await engine.run_due()
                await engine.dispatch()
                if timed:
                    await engine.run_timed()
            except Exception:
                logger.exception("%s: scheduler pass failed; retrying next pass", engine.workspace.name)
        if timed:
            self._next_timed = now + self.timed_every
        return resumed

    async def seconds_to_next_wake(self) -> float:
        now = self.clock.now()
        wakes = [w for e in self.engines for w in (await e.store.next_wake(e.workspace.name),
                                                   await e.store.next_send(e.workspace.name)) if w is not None]
        due_in = [(w - now).total_seconds() for w in wakes]
        if self._next_timed is not None:
            due_in.append((self._next_timed - now).total_seconds())
        return max(0.0, min([self.poll, *due_in]))

    async def run(self, timers: bool = True) -> None:
        """Until `stop()`: resume what is due, then sleep until the next wake (at most `poll`).

        Beside it, one task per workspace processes events as soon as they are accepted.
        Without `timers` (`relance worker` processes do that part), only the inboxes.
        """
        for engine in self.engines if timers else ():  # alone: whatever was being sent died with us
            requeued = await engine.recover()
            if requeued:
                logger.warning("%s: %d messages a stopped process was sending are queued again",
                               engine.workspace.name, requeued)
        inboxes = [asyncio.create_task(self._inbox(engine)) for engine in self.engines]
        try:
            if not timers:
                await self._stopping.wait()
            while not self._stopping.is_set():
                try:
                    await self.run_once()
                except Exception:  # a failing pass must not stop the timers of every shop
                    logger.exception("scheduler pass failed; retrying")
                await self.clock.sleep(await self.seconds_to_next_wake())
        finally:
            for task in inboxes:
                task.cancel()
            await asyncio.gather(*inboxes, return_exceptions=True)

    @staticmethod
    async def _inbox(engine: Engine) -> None:
        """Process a workspace's events as they arrive, in order, until cancelled."""
        while True:
            await engine.arrived.wait()
            engine.arrived.clear()
            try:
                await engine.process_inbox()
            except Exception:  # the database went away: the events wait in the inbox, try again soon
                logger.exception("%s: processing the inbox failed; retrying", engine.workspace.name)
                await asyncio.sleep(1)
                engine.arrived.set()

    def stop(self) -> None:
        self._stopping.set()
