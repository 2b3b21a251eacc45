"""Background loops (engine/loops.py): any error retried with backoff, logged once per incident, health kept."""
from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

import pytest

from relance.engine.clock import VirtualClock
from relance.engine.loops import LONGEST_RETRY, Loops

from .conftest import T0


class Failing:
    """Work that fails `times` times with `error`, then works; when it ran, on the clock."""

    def __init__(self, clock: VirtualClock, times: int, error: Exception) -> None:
        self.clock, self.times, self.error = clock, times, error
        self.tried: list[float] = []

    async def __call__(self) -> float:
        self.tried.append((self.clock.now() - T0).total_seconds())
        if len(self.tried) <= self.times:
            raise self.error
        return 60.0


@pytest.mark.parametrize("error", [ConnectionRefusedError(111, "Connect call failed"), RuntimeError("a bug"),
                                   KeyError("x"), asyncio.TimeoutError()], ids=lambda e: type(e).__name__)
async def test_a_loop_survives_any_error_backs_off_and_logs_once_per_incident(error, caplog) -> None:
    clock = VirtualClock(T0)
    loops = Loops(clock)
    work = Failing(clock, 8, error)
    caplog.set_level(logging.DEBUG, "relance.loops")
    task = asyncio.create_task(loops.run("inbox:shop", work))
    while len(work.tried) < 10:
        await asyncio.sleep(0)
    loops.stop()
    await task
    gaps = [b - a for a, b in zip(work.tried, work.tried[1:])]
    assert gaps[:8] == [0.25, 0.5, 1.0, 2.0, 4.0, LONGEST_RETRY, LONGEST_RETRY, LONGEST_RETRY]  # then 60 s: it works
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "inbox:shop failed" in errors[0].getMessage() and errors[0].exc_info
    [back] = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert "inbox:shop works again after 8 failures" in back.getMessage()
    assert loops.report() == {"inbox:shop": {"ok": True}}


async def test_health_says_what_fails_since_when_and_with_what() -> None:
    clock = VirtualClock(T0)
    loops = Loops(clock)
    broken = Failing(clock, 100, ConnectionRefusedError(111, "Connect call failed"))
    assert await loops.attempt("timers:shop", broken) is None
    clock.advance(timedelta(seconds=3))
    assert await loops.attempt("timers:shop", broken) is None
    assert await loops.attempt("dispatcher:shop", Failing(clock, 0, RuntimeError())) == 60.0
    assert loops.report() == {
        "dispatcher:shop": {"ok": True},
        "timers:shop": {"ok": False, "failing_for": 3.0, "failures": 2,
                        "error": "ConnectionRefusedError: [Errno 111] Connect call failed"}}
    assert [h.name for h in loops.failing()] == ["timers:shop"]


async def test_an_attempt_is_not_made_again_before_its_backoff_is_over() -> None:
    clock = VirtualClock(T0)
    loops = Loops(clock)
    broken = Failing(clock, 100, RuntimeError("down"))
    for _ in range(3):
        await loops.attempt("timed:shop", broken)
    assert len(broken.tried) == 1 and loops.next_retry() == T0 + timedelta(seconds=0.25)
    clock.advance(timedelta(seconds=0.25))
    await loops.attempt("timed:shop", broken)
    assert len(broken.tried) == 2 and loops.next_retry() == T0 + timedelta(seconds=0.75)


async def test_a_loop_waits_for_its_wake_event_or_its_delay_and_stops_between_rounds() -> None:
    loops = Loops(VirtualClock(T0))
    wake, rounds = asyncio.Event(), []

    async def work() -> None:
        rounds.append(len(rounds))

    task = asyncio.create_task(loops.run("inbox:shop", work, wake=wake))
    for _ in range(5):
        await asyncio.sleep(0)
    assert rounds == [0]  # no delay: it waits for the event
    wake.set()
    for _ in range(5):
        await asyncio.sleep(0)
    assert rounds == [0, 1]
    loops.stop()
    await asyncio.wait_for(task, 1)
