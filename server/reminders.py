"""Reminders in Redis (arq): "resume run R at version V", as jobs deferred until the run's wake time.

The database decides (a reminder for a run that moved on does nothing); the queue only
reminds. A job's id is derived from the run and its version, so enqueueing the same
reminder twice is a no-op and each new version gets a new id.
"""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from arq.connections import ArqRedis, RedisSettings, create_pool
from arq.constants import job_key_prefix, result_key_prefix

RESUME = "resume_run"
HEALTH = "arq:queue:health-check:"  # + the worker's host name and pid; arq refreshes it while the worker polls


def job_id(workspace: str, run_id: int, version: int) -> str:
    return f"resume:{workspace}:{run_id}:{version}"


class Reminders:
    """Enqueues resume jobs on the Redis at `url`."""

    def __init__(self, url: str) -> None:
        self.settings = RedisSettings.from_dsn(url)
        self.pool: ArqRedis | None = None

    async def open(self) -> None:
        self.pool = await create_pool(self.settings)

    async def close(self) -> None:
        if self.pool is not None:
            await self.pool.aclose()

    async def remind(self, workspace: str, run_id: int, version: int, at: datetime) -> bool:
        """Enqueue the reminder; False if it was there already."""
        assert self.pool is not None, "Reminders.open() first"
        job = await self.pool.enqueue_job(RESUME, workspace, run_id, version,
                                          _job_id=job_id(workspace, run_id, version), _defer_until=at)
        return job is not None

    async def remind_missing(self, workspace: str, due: Sequence[tuple[int, int, datetime]]) -> int:
        """Enqueue the reminders among (run id, version, wake_at) that Redis does not hold (it lost
        them, or they were never sent); returns how many. The check is one round trip for all."""
        assert self.pool is not None, "Reminders.open() first"
        async with self.pool.pipeline(transaction=False) as pipe:
            for run_id, version, _ in due:
                job = job_id(workspace, run_id, version)
                pipe.exists(job_key_prefix + job, result_key_prefix + job)
            held = await pipe.execute()
        return sum([await self.remind(workspace, run_id, version, at)
                    for (run_id, version, at), found in zip(due, held) if not found])

    async def workers_alive(self) -> int:
        """Workers that wrote their health key lately (it expires when a worker stops polling)."""
        assert self.pool is not None
        return len([key async for key in self.pool.scan_iter(match=f"{HEALTH}*", count=1000)])

    async def depth(self) -> int:
        """Jobs waiting in the queue (due or deferred)."""
        assert self.pool is not None
        return int(await self.pool.zcard(self.pool.default_queue_name))
