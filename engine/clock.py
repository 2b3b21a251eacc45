"""Time comes from a clock, never from the system directly, so tests and `simulate` can run weeks in milliseconds."""
from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware (UTC)."""

    async def sleep(self, seconds: float) -> None:
        """Wait `seconds` of this clock's time."""


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        return datetime.now(timezone.utc)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(seconds, 0))


class VirtualClock:
    """A clock that moves only when told: `advance(timedelta(days=3))` takes no time at all."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("a virtual clock starts at a timezone-aware time")
        self._now = start.astimezone(timezone.utc)

    def now(self) -> datetime:
        return self._now

    def set(self, moment: datetime) -> None:
        """Move to `moment`; time never goes backwards."""
        self._now = max(self._now, moment.astimezone(timezone.utc))

    def advance(self, delta: timedelta) -> None:
        self.set(self._now + delta)

    async def sleep(self, seconds: float) -> None:
        self.advance(timedelta(seconds=max(seconds, 0)))
        await asyncio.sleep(0)
