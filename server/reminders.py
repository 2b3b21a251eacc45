"""Reminders in Redis (arq): "resume run R at version V", as jobs deferred until the run's wake time.

The database decides (a reminder for a run that moved on does nothing); the queue only
reminds. A job's id is derived from the run and its version, so enqueueing the same
reminder twice is a no-op and each new version gets a new id.
"""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from arq.connections import ArqRedis, RedisSettings, create_pool
from arq.constants import job_key_prefix
from arq.jobs import serialize_job
from arq.utils import timestamp_ms, to_unix_ms

from relance.engine.engine import Engine
from relance.engine.loops import Loops

RESUME = "resume_run"
DISPATCH = "dispatch_outbox"
DISPATCH_EVERY = 0.2  # seconds: the messages of runs resumed together go out together, in one job
HEALTH = "arq:queue:health-check:"  # + the worker's host name and pid; arq refreshes it while the worker polls


def job_id(workspace: str, run_id: int, version: int) -> str:
    return f"resume:{workspace}:{run_id}:{version}"


def dispatch_job_id(workspace: str, now: datetime) -> str:
    """One dispatch job a workspace per DISPATCH_EVERY window, however many ask for it."""
    return f"dispatch:{workspace}:{int(now.timestamp() / DISPATCH_EVERY)}"


class Reminders:
    """Enqueues resume jobs on the Redis at `url`; `loops` keeps the health of reminding (see
    `remind_or_leave`)."""

    def __init__(self, url: str, loops: Loops | None = None) -> None:
        self.settings = RedisSettings.from_dsn(url)
        self.pool: ArqRedis | None = None
        self.loops = loops

    async def open(self) -> None:
        self.pool = await create_pool(self.settings)

    async def close(self) -> None:
        if self.pool is not None:
            await self.pool.aclose()

    async def remind(self, workspace: str, waits: Sequence[tuple[int, int, datetime]]) -> int:
        """Enqueue the reminders among (run id, version, wake_at) that Redis does not hold (new ones,
        or ones it lost); returns how many (see `enqueue_all`)."""
        assert self.pool is not None, "Reminders.open() first"
        return await enqueue_all(self.pool, RESUME, [(job_id(workspace, run_id, version), (workspace, run_id, version), at)
                                                     for run_id, version, at in waits])

    async def remind_or_leave(self, workspace: str, waits: Sequence[tuple[int, int, datetime]]) -> int:
        """`remind`, unless Redis is away (then tried again with backoff, not at every step): the
        runs are in the database, and a worker's sweeper enqueues them when it can."""
        assert self.loops is not None, "Reminders(url, loops) to remind or leave"
        return await self.loops.attempt("reminders", lambda: self.remind(workspace, waits)) or 0

    async def dispatch_soon(self, engine: Engine) -> None:
        """Ask a worker to send the messages the server's inbox round queued (the server sends
        nothing when workers run); unless Redis is away: a worker's sweeper sends them then."""
        assert self.pool is not None and self.loops is not None, "Reminders(url, loops).open() first"
        pool, job = self.pool, dispatch_job_id(engine.workspace.name, engine.clock.now())
        await self.loops.attempt("reminders", lambda: pool.enqueue_job(DISPATCH, engine.workspace.name, _job_id=job))

    async def ping(self) -> None:
        """Redis answers, or this raises; an answer also says that reminding works again."""
        assert self.pool is not None
        await self.pool.ping()
        if self.loops is not None and "reminders" in self.loops.healths:
            self.loops.health("reminders").worked(self.loops.clock.now())

    async def workers_alive(self) -> int:
        """Workers that wrote their health key lately (it expires when a worker stops polling)."""
        assert self.pool is not None
        return len([key async for key in self.pool.scan_iter(match=f"{HEALTH}*", count=1000)])

    async def depth(self) -> int:
        """Jobs waiting in the queue (due or deferred)."""
        assert self.pool is not None
        return int(await self.pool.zcard(self.pool.default_queue_name))


async def enqueue_all(pool: ArqRedis, function: str, jobs: Sequence[tuple[str, tuple[Any, ...], datetime | None]]) -> int:
    """Enqueue the jobs among (job id, arguments, not before) that Redis does not hold, queued or
    in progress, as arq's `enqueue_job` writes a job; returns how many. One round trip looks
    for all of them, one writes the missing ones (enqueue_job takes three a job).

    A finished job's result is no reason to leave it out (arq's `enqueue_job` would, for
    KEEP_RESULT seconds): a run still due at the job's version was not moved by it, its job
    failed (the database was restarting) and must run again. A job enqueued by another
    process in between is written again, the same; one that finished in between runs again:
    the database decides what a job does."""
    if not jobs:
        return 0
    async with pool.pipeline(transaction=False) as pipe:
        for job, _, _ in jobs:
            pipe.exists(job_key_prefix + job)
        held = await pipe.execute()
    missing = [job for job, found in zip(jobs, held) if not found]
    if missing:
        now = timestamp_ms()
        async with pool.pipeline(transaction=True) as pipe:
            for job, arguments, at in missing:
                due = to_unix_ms(at) if at is not None else now
                pipe.psetex(job_key_prefix + job, max(due - now, 0) + pool.expires_extra_ms,
                            serialize_job(function, arguments, {}, None, now, serializer=pool.job_serializer))
                pipe.zadd(pool.default_queue_name, {job: due})
            await pipe.execute()
    return len(missing)
