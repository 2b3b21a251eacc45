"""The in-process scheduler: processes the inbox, wakes due runs, sends the outbox, fires date and `every` triggers.

It keeps nothing of its own: due work is found from the database (`wake_at`), so a
restart loses nothing. One process by default; `relance worker` (arq) at scale. Every
part runs through `Loops` (engine/loops.py): a database that restarts, or any other
error, is retried with backoff and never stops the timers or the inbox.
"""
from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from functools import partial

from .clock import Clock
from .engine import Engine
from .loops import Loops


HandOff = Callable[[Engine], Awaitable[object]]  # what follows an inbox round that queued messages


async def send_here(engine: Engine) -> None:
    """This process sends the outbox (no workers): at once, after the round."""
    await engine.dispatch()


class Scheduler:
    """`hand_off`: what follows an inbox round that processed events: this process sends the messages
    they queued (`send_here`, the default), or a worker is asked to (`relance worker` processes send)."""

    def __init__(self, engines: Sequence[Engine], clock: Clock, poll: float = 1.0,
                 timed_every: timedelta = timedelta(minutes=1), loops: Loops | None = None,
                 hand_off: HandOff = send_here) -> None:
        self.hand_off = hand_off
        self.engines = list(engines)
        self.clock = clock
        self.poll = poll
        self.timed_every = timed_every
        self.loops = loops or Loops(clock)
        self._next_timed: datetime | None = None

    async def run_once(self) -> int:
        """One pass: every due run resumed, the outbox sent, timed triggers checked when it is time.

        Each part of each workspace is tried on its own (`inbox:`, `timers:`, `dispatcher:`,
        `timed:` + the workspace): one that fails backs off without holding back the others.
        """
        resumed = 0
        now = self.clock.now()
        timed = self._next_timed is None or now >= self._next_timed
        for engine in self.engines:
            name = engine.workspace.name
            await self.loops.attempt(f"inbox:{name}", engine.process_inbox)
            resumed += await self.loops.attempt(f"timers:{name}", engine.run_due) or 0
            await self.loops.attempt(f"dispatcher:{name}", engine.dispatch)
            if timed or not self.loops.health(f"timed:{name}").ok:
                await self.loops.attempt(f"timed:{name}", engine.run_timed)
        if timed:
            self._next_timed = now + self.timed_every
        return resumed

    async def seconds_to_next_wake(self) -> float:
        now = self.clock.now()
        wakes = [w for e in self.engines for w in (await e.store.next_wake(e.workspace.name),
                                                   await e.store.next_send(e.workspace.name)) if w is not None]
        retry = self.loops.next_retry()
        due_in = [(w - now).total_seconds() for w in [*wakes, *([retry] if retry else [])]]
        if self._next_timed is not None:
            due_in.append((self._next_timed - now).total_seconds())
        return max(0.0, min([self.poll, *due_in]))

    async def _pass(self) -> float:
        await self.run_once()
        return await self.seconds_to_next_wake()

    async def _recover(self) -> None:
        """Alone, at start: whatever was being sent died with the previous process."""
        for engine in self.engines:
            await engine.recover()

    async def run(self, timers: bool = True) -> None:
        """Until `stop()`: resume what is due, then sleep until the next wake (at most `poll`).

        Beside it, one loop per workspace processes events as soon as they are accepted.
        Without `timers` (`relance worker` processes do that part), only the inboxes.
        """
        if timers and not await self.loops.until_done("recover", self._recover):
            return  # before any dispatch: a message claimed after this is not a dead process's
        inboxes = [asyncio.create_task(self.loops.run(f"inbox:{e.workspace.name}",
                                                       partial(_inbox_round, e, self.hand_off),
                                                       wake=e.arrived))
                   for e in self.engines]
        try:
            if timers:
                await self.loops.run("scheduler", self._pass)
            else:
                await self.loops.stopping.wait()
        finally:
            for task in inboxes:  # events left in an inbox are processed at the next start
                task.cancel()
            await asyncio.gather(*inboxes, return_exceptions=True)

    def stop(self) -> None:
        self.loops.stop()


async def _inbox_round(engine: Engine, hand_off: HandOff) -> None:
    """A round of a workspace's inbox loop: every event accepted so far, in order, and the messages
    they queued handed off; then it waits for more. Events processed meanwhile by a caller that
    waited for them (`?wait=true`) wake this loop too: their messages go the same way."""
    await engine.process_inbox()
    await hand_off(engine)
