"""Background loops that survive any error: retried with backoff, logged once per incident, health kept.

Every loop of a process (the scheduler's passes, each workspace's inbox, the timers,
timed passes and dispatcher of each workspace, the rules watcher, a worker's queue)
runs through `Loops`: an error never ends the loop; it is retried after 0.25 s, 0.5 s,
1 s, … at most LONGEST_RETRY, logged with its traceback the first time, and once more
when the loop works again. `/readyz` reports `Loops.report()`.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from .clock import Clock

logger = logging.getLogger("relance.loops")
FIRST_RETRY = 0.25  # seconds
LONGEST_RETRY = 5.0  # seconds: a database back from a restart is used again within this
T = TypeVar("T")


@dataclass
class Health:
    """One background activity: working, or failing since when, how many times, with what error."""

    name: str
    failing_since: datetime | None = None
    failures: int = 0
    error: str | None = None
    retry_at: datetime | None = None

    @property
    def ok(self) -> bool:
        return self.failing_since is None

    def failed(self, error: BaseException, now: datetime) -> float:
        """Record a failure (the first of an incident is logged, with its traceback); seconds until
        the next try."""
        self.failures += 1
        self.error = f"{type(error).__name__}: {error}"
        delay = min(FIRST_RETRY * 2 ** (self.failures - 1), LONGEST_RETRY)
        self.retry_at = now + timedelta(seconds=delay)
        if self.failing_since is None:
            self.failing_since = now
            logger.error("%s failed; retrying with backoff, logged again when it works: %s", self.name, self.error,
                         exc_info=error)
        else:
            logger.debug("%s failed again (%d): %s", self.name, self.failures, self.error)
        return delay

    def worked(self, now: datetime) -> None:
        if self.failing_since is not None:
            logger.warning("%s works again after %d failures in %.1f s (last: %s)", self.name, self.failures,
                           (now - self.failing_since).total_seconds(), self.error)
        self.failing_since, self.failures, self.error, self.retry_at = None, 0, None, None

    def due(self, now: datetime) -> bool:
        """Whether it may be tried now (not backing off)."""
        return self.retry_at is None or now >= self.retry_at

    def as_json(self, now: datetime) -> dict[str, Any]:
        if self.failing_since is None:
            return {"ok": True}
        return {"ok": False, "failing_for": round((now - self.failing_since).total_seconds(), 1),
                "failures": self.failures, "error": self.error}


class Loops:
    """The background loops of a process and their health, by name."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.healths: dict[str, Health] = {}
        self.stopping = asyncio.Event()

    def health(self, name: str) -> Health:
        return self.healths.setdefault(name, Health(name))

    def failing(self) -> list[Health]:
        return [health for health in self.healths.values() if not health.ok]

    def report(self) -> dict[str, dict[str, Any]]:
        now = self.clock.now()
        return {name: health.as_json(now) for name, health in sorted(self.healths.items())}

    def next_retry(self) -> datetime | None:
        """When the earliest failing activity is to be tried again."""
        return min((h.retry_at for h in self.failing() if h.retry_at is not None), default=None)

    def stop(self) -> None:
        """Every loop ends after its current round."""
        self.stopping.set()

    async def attempt(self, name: str, work: Callable[[], Awaitable[T]]) -> T | None:
        """`work()` unless `name` is backing off; its result, or None when it failed or was not tried."""
        health = self.health(name)
        if not health.due(self.clock.now()):
            return None
        try:
            result = await work()
        except Exception as error:
            health.failed(error, self.clock.now())
            return None
        health.worked(self.clock.now())
        return result

    async def until_done(self, name: str, work: Callable[[], Awaitable[object]]) -> bool:
        """`work()` tried again with backoff until it succeeds (True) or the loops stop (False)."""
        health = self.health(name)
        while not self.stopping.is_set():
            try:
                await work()
            except Exception as error:
                await self._pause(health.failed(error, self.clock.now()), None)
                continue
            health.worked(self.clock.now())
            return True
        return False

    async def run(self, name: str, work: Callable[[], Awaitable[float | None]],
                  wake: asyncio.Event | None = None) -> None:
        """Rounds of `work()` until `stop()`: after each, wait the seconds it returns (None: no limit)
        or until `wake` is set. An error is retried with backoff; the loop never ends on one."""
        health = self.health(name)
        while not self.stopping.is_set():
            if wake is not None:
                wake.clear()  # set again while working: another round at once
            try:
                delay = await work()
            except Exception as error:
                await self._pause(health.failed(error, self.clock.now()), None)
                continue
            health.worked(self.clock.now())
            await self._pause(delay, wake)

    async def _pause(self, seconds: float | None, wake: asyncio.Event | None) -> None:
        """Until `seconds` pass on the clock, `wake` is set or the loops stop."""
        waits = [asyncio.ensure_future(self.stopping.wait())]
        if wake is not None:
            waits.append(asyncio.ensure_future(wake.wait()))
        if seconds is not None:
            waits.append(asyncio.ensure_future(self.clock.sleep(seconds)))
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiting in waits:
                waiting.cancel()
