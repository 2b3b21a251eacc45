"""Clocks: the system's, and a virtual one that moves only when told, never backwards."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from relance.engine.clock import SystemClock, VirtualClock

from .conftest import T0


def test_the_virtual_clock_stands_still_until_told() -> None:
    clock = VirtualClock(T0)
    assert clock.now() == clock.now() == T0
    clock.advance(timedelta(days=3))
    assert clock.now() == T0 + timedelta(days=3)


def test_the_virtual_clock_never_goes_backwards() -> None:
    clock = VirtualClock(T0)
    clock.set(T0 - timedelta(hours=1))
    clock.advance(timedelta(seconds=-5))
    assert clock.now() == T0


def test_the_virtual_clock_keeps_utc_and_refuses_a_naive_start() -> None:
    paris = timezone(timedelta(hours=1))
    clock = VirtualClock(datetime(2026, 3, 2, 10, 0, tzinfo=paris))
    assert (clock.now(), clock.now().utcoffset()) == (T0, timedelta(0))
    with pytest.raises(ValueError, match="timezone-aware"):
        VirtualClock(datetime(2026, 3, 2, 9, 0))


async def test_sleeping_on_the_virtual_clock_takes_no_time_and_moves_it() -> None:
    clock = VirtualClock(T0)
    await clock.sleep(90)
    await clock.sleep(-3)  # a deadline already past
    assert clock.now() == T0 + timedelta(seconds=90)


async def test_the_system_clock_is_aware_and_moves() -> None:
    clock = SystemClock()
    before = clock.now()
    await clock.sleep(-1)  # returns at once
    assert before.tzinfo is not None and clock.now() >= before
