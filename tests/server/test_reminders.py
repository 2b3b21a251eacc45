"""Reminders in Redis (server/reminders.py): a due run's reminder is enqueued again whatever arq kept of it.

Needs Redis (RELANCE_TEST_REDIS_URL, default redis://127.0.0.1:6379/15: emptied by the tests).
"""
from __future__ import annotations

import os
from collections.abc import AsyncIterator
from datetime import datetime, timezone

import pytest
import redis.asyncio
from arq.connections import ArqRedis

from relance.engine.clock import SystemClock
from relance.engine.loops import Loops
from relance.server.reminders import Reminders, job_id

REDIS_URL = os.environ.get("RELANCE_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
DUE = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)


@pytest.fixture
async def reminders() -> AsyncIterator[Reminders]:
    client = redis.asyncio.Redis.from_url(REDIS_URL, socket_timeout=3)
    try:
        await client.flushdb()
    except redis.RedisError:
        message = f"Redis not reachable at {REDIS_URL} (RELANCE_TEST_REDIS_URL); start it to run these tests"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    finally:
        await client.aclose()
    found = Reminders(REDIS_URL)
    await found.open()
    yield found
    await found.close()


async def test_a_failed_jobs_kept_result_does_not_keep_its_run_from_being_reminded(reminders) -> None:
    """arq keeps a failed job's result for KEEP_RESULT seconds; the sweeper enqueues the run's
    reminder again at its next sweep, not a minute later."""
    assert reminders.pool is not None
    await reminders.pool.set(f"arq:result:{job_id('shop', 7, 3)}", b"failed: CannotConnectNowError", ex=60)
    assert await reminders.remind("shop", [(7, 3, DUE)]) == 1
    assert await reminders.pool.exists(f"arq:job:{job_id('shop', 7, 3)}") == 1
    assert await reminders.depth() == 1


async def test_a_reminder_queued_or_in_progress_is_not_enqueued_twice(reminders) -> None:
    assert await reminders.remind("shop", [(7, 3, DUE), (8, 1, DUE)]) == 2
    assert await reminders.remind("shop", [(7, 3, DUE), (8, 1, DUE), (9, 2, DUE)]) == 1
    assert await reminders.depth() == 3


async def test_reminding_while_redis_is_away_leaves_the_runs_to_the_sweeper_and_says_so(reminders) -> None:
    assert reminders.pool is not None
    reminders.loops = Loops(SystemClock())  # as a server's runtime gives it
    await reminders.pool.aclose()
    reminders.pool = ArqRedis.from_url("redis://127.0.0.1:9/0")  # Redis goes away: nothing listens on port 9
    assert await reminders.remind_or_leave("shop", [(7, 3, DUE)]) == 0  # the run waits in the database
    assert await reminders.remind_or_leave("shop", [(8, 1, DUE)]) == 0  # backing off: not even tried
    [health] = reminders.loops.failing()
    assert health.name == "reminders" and health.failures == 1 and "ConnectionError" in (health.error or "")
    await reminders.pool.aclose()
    reminders.pool = ArqRedis.from_url(REDIS_URL)  # Redis is back: a readiness probe says so
    await reminders.ping()
    assert reminders.loops.failing() == []
