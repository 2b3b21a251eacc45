"""Reminders in Redis (arq): "resume run R at version V", as jobs deferred until the run's wake time.

The database decides (a reminder for a run that moved on does nothing); the queue only
reminds. A job's id is derived from the run and its version, so enqueueing the same
reminder twice is a no-op and each new version gets a new id.
"""
from __future__ import annotations

from datetime import datetime

from arq.connections import ArqRedis, RedisSettings, create_pool

RESUME = "resume_run"


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

    async def depth(self) -> int:
        """Jobs waiting in the queue (due or deferred)."""
        assert self.pool is not None
        return int(await self.pool.zcard(self.pool.default_queue_name))
