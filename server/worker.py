"""`relance worker`: an arq worker that runs due steps, sends the outbox and runs the periodic jobs.

Several workers and several `relance serve` processes share one PostgreSQL and one Redis.
Jobs are reminders (server/reminders.py); the sweeper, every SWEEP seconds, enqueues a
reminder for every run due before the next sweep (Redis may have lost them: it keeps
nothing on disk here), processes events left in an inbox and sends due messages.

Faults: a job that meets a transient error (engine/faults.py: the database restarting,
Redis away) is tried again with backoff (`Retry`, up to MAX_TRIES, then the sweeper finds
its run again); the worker's own loop rides out a Redis outage (it backs off and polls
again: Redis's client reconnects), and the sweeper catches up on what was missed.

Recovery: a killed worker's job is picked up again when its in-progress key expires,
`JOB_TIMEOUT` after it started; the sweeper does not wait for that, but its reminder has
the same id and is a no-op while the first exists. So a run whose worker died is resumed
within JOB_TIMEOUT (+ the poll delay); every other due run within SWEEP seconds. Every
job keeps to JOB_TIMEOUT: arq derives that expiry from the longest timeout of any function,
so one long job kind would slow every recovery (a timed pass is cut into short ranges instead).
"""
from __future__ import annotations

import functools
import logging
import os
import random
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from signal import Signals
from datetime import datetime, timedelta
from typing import Any, TypeVar

from arq import Retry, cron
from arq.connections import RedisSettings
from arq.worker import Worker

from relance.engine.clock import SystemClock
from relance.engine.faults import is_transient

from .reminders import DISPATCH, HEALTH, Reminders, dispatch_job_id, enqueue_all
from .runtime import Runtime
from .settings import Settings

logger = logging.getLogger("relance.worker")
SWEEP = 5  # seconds between sweeps
JOB_TIMEOUT = 30  # seconds: a step is short; a killed worker's job runs again this long after it began
DISPATCH_FOR = 10  # seconds a dispatch job claims groups; its last group then has as long (group_time)
DISPATCHERS = 4  # dispatch jobs of one workspace at work at once in a worker: slow channels send in parallel
TIMED_RANGE = 50  # contacts per job of a timed pass: seconds each, even 20 at a time, well within JOB_TIMEOUT
TIMED_RANGE_JOB = "timed_range"
HEALTH_EVERY = 10  # seconds between health writes: a worker whose key is gone stopped polling
KEEP_RESULT = 60  # seconds a finished job's result is kept (the sweeper re-enqueues a due run's job regardless)
MAX_TRIES = 20  # tries of a job meeting transient errors: 0.5 s, 1, 2, … 30 s apart, about 7 minutes in all
FIRST_RETRY, LONGEST_RETRY = 0.5, 30.0  # seconds
J = TypeVar("J")


def retried(job: Callable[..., Awaitable[J]]) -> Callable[..., Awaitable[J]]:
    """A job function whose transient errors (the database restarting, Redis away) make arq run it
    again later, with backoff, instead of failing it; they are logged once per incident (the
    `jobs` health of the worker's loops)."""
    @functools.wraps(job)
    async def run(ctx: dict[str, Any], *arguments: Any) -> J:
        runtime: Runtime = ctx["runtime"]
        health = runtime.loops.health("jobs")
        try:
            result = await job(ctx, *arguments)
        except Exception as error:
            if not is_transient(error):
                raise
            health.failed(error, runtime.clock.now())
            raise Retry(defer=min(FIRST_RETRY * 2 ** (ctx.get("job_try", 1) - 1), LONGEST_RETRY)) from error
        health.worked(runtime.clock.now())
        return result
    return run


@retried
async def resume_run(ctx: dict[str, Any], workspace: str, run_id: int, version: int) -> str:
    """Resume a run at a version; a stale or duplicate reminder does nothing, an early one waits."""
    runtime: Runtime = ctx["runtime"]
    engine = runtime.engines.get(workspace)
    if engine is None:
        return "unknown workspace"
    if not await engine.resume(run_id, version):
        return "stale"
    await _remind_dispatch(ctx, workspace)
    return "resumed"


async def _remind_dispatch(ctx: dict[str, Any], workspace: str) -> None:
    """A dispatch job for the current window: the messages of runs resumed together go out together."""
    job = dispatch_job_id(workspace, ctx["runtime"].clock.now())  # one job per window, not per run
    if ctx.setdefault("dispatching", {}).get(workspace) != job:
        ctx["dispatching"][workspace] = job
        await ctx["redis"].enqueue_job(DISPATCH, workspace, _job_id=job)


@dataclass
class _Dispatching:
    """A worker's dispatch jobs at work for one workspace."""

    running: int = 0
    again: bool = False  # asked for while DISPATCHERS were at work: one of them looks once more


@retried
async def dispatch_outbox(ctx: dict[str, Any], workspace: str) -> int:
    """Send the workspace's due messages, in groups, claiming groups for DISPATCH_FOR seconds at
    most (a job must end within JOB_TIMEOUT, or arq cancels it in the middle of a send); a new
    job carries on. At most DISPATCHERS of these at once in a worker: a job asked for beyond
    that only has a running one look again before it ends."""
    engine = ctx["runtime"].engines.get(workspace)
    if engine is None:
        return 0
    state = ctx.setdefault("dispatchers", {}).setdefault(workspace, _Dispatching())
    if state.running >= DISPATCHERS:
        state.again = True
        return 0
    state.running += 1
    try:
        sent = 0
        until = engine.clock.now() + timedelta(seconds=DISPATCH_FOR)
        while True:
            state.again = False
            sent += await engine.dispatch(until)
            if engine.clock.now() >= until:
                await _remind_dispatch(ctx, workspace)  # more may be due: a new job carries on
                return sent
            if not state.again:
                return sent
    finally:
        state.running -= 1


async def sweep(ctx: dict[str, Any]) -> int:
    """Reminders for runs due before the next sweep, events left in an inbox, messages a dead
    process was sending (claimed longer than `resend_after` ago), due messages. A sweep that
    fails (the database or Redis away) is logged once per incident; the next one carries on."""
    return await ctx["runtime"].loops.attempt("sweeper", lambda: _sweep(ctx)) or 0


async def _sweep(ctx: dict[str, Any]) -> int:
    runtime: Runtime = ctx["runtime"]
    reminders: Reminders = ctx["reminders"]
    until = runtime.clock.now() + timedelta(seconds=SWEEP)
    enqueued = 0
    for name, engine in runtime.engines.items():
        await engine.follow()  # rules published since by a server (a deploy): workers walk the same ones
        after = None
        while True:
            upcoming = await engine.store.upcoming_runs(name, until, 1000, after)
            enqueued += await reminders.remind(name, upcoming)
            if len(upcoming) < 1000:
                break
            after = (upcoming[-1][2], upcoming[-1][0])
        await engine.process_inbox()
        await engine.recover(stuck=timedelta(seconds=runtime.settings.resend_after))
        await engine.dispatch(until=runtime.clock.now() + timedelta(seconds=DISPATCH_FOR))
    if enqueued:
        logger.info("sweeper enqueued %d reminders that were missing", enqueued)
    return enqueued


async def timed(ctx: dict[str, Any]) -> int:
    """Date and `every …` triggers, and segments re-evaluated for time-based conditions: the pass
    is cut into ranges of contacts, one job each, so that every worker takes a share. One that
    fails is logged once per incident; the next minute's goes on from the last pass that ended."""
    return await ctx["runtime"].loops.attempt("timed", lambda: _timed(ctx)) or 0


async def _timed(ctx: dict[str, Any]) -> int:
    runtime: Runtime = ctx["runtime"]
    enqueued = 0
    for name, engine in runtime.engines.items():
        window = await engine.timed_window()
        if window is None:
            continue
        try:
            bounds = await engine.store.contact_id_bounds(name)
            if bounds is None:
                continue
            since, now = (moment.isoformat() for moment in window)
            enqueued += await enqueue_all(ctx["redis"], TIMED_RANGE_JOB, [
                (f"timed:{name}:{now}:{after}", (name, since, now, after, after + TIMED_RANGE), None)
                for after in range(bounds[0] - 1, bounds[1], TIMED_RANGE)])  # in one go: 100,000 contacts are 2,000 jobs
        except Exception:
            engine.timed_unfinished(window[0])  # the database or Redis away: this worker's next pass covers it again
            raise
    return enqueued


@retried
async def timed_range(ctx: dict[str, Any], workspace: str, since: str, now: str, after_id: int, until_id: int) -> int:
    """One range of contacts of a timed pass; a range run twice starts nothing twice (each
    occurrence starts one run at most)."""
    engine = ctx["runtime"].engines.get(workspace)
    if engine is None:
        return 0
    started = await engine.run_timed_range(datetime.fromisoformat(since), datetime.fromisoformat(now),
                                           after_id, until_id)
    await _remind_dispatch(ctx, workspace)
    return started


class SharingWorker(Worker):
    """An arq worker that tries the due jobs it read in a random order.

    Every worker reads the same earliest due jobs from the queue; in that same order, two
    workers race for each job and the loser's checks are wasted (a third more CPU per job
    with two workers, measured). All of them are due, so their order does not matter.
    """

    async def start_jobs(self, job_ids: list[bytes]) -> None:
        random.shuffle(job_ids)
        await super().start_jobs(job_ids)

    async def _poll_iteration(self) -> None:
        """arq's poll, which raises when Redis goes away (arq's worker would exit): the error is
        logged once, polls back off, and the client reconnects when Redis is back."""
        runtime: Runtime | None = self.ctx.get("runtime")
        if runtime is None:
            await super()._poll_iteration()
            return
        await runtime.loops.attempt("queue", super()._poll_iteration)

    def handle_sig_wait_for_completion(self, signum: Signals) -> None:
        """SIGINT/SIGTERM: no new job, and dispatchers claim no new group; what is in hand finishes."""
        runtime: Runtime | None = self.ctx.get("runtime")
        for engine in runtime.engines.values() if runtime is not None else ():
            engine.dispatcher.stop()
        super().handle_sig_wait_for_completion(signum)


def worker(settings: Settings, burst: bool = False) -> Worker:
    """An arq worker on the settings' Redis, with the runtime built at start-up."""
    if not settings.redis_url:
        raise ValueError("relance worker needs REDIS_URL (or --redis-url)")
    async def startup(ctx: dict[str, Any]) -> None:
        runtime = Runtime(settings, SystemClock())
        await runtime.start(run_scheduler=False, follow=True)  # the rules the servers published
        reminders = Reminders(settings.redis_url or "", runtime.loops)
        await reminders.open()
        for engine in runtime.engines.values():
            engine.on_wait = reminders.remind_or_leave
            engine.dispatcher.group_time = timedelta(seconds=DISPATCH_FOR)  # a dispatch job ends within JOB_TIMEOUT
        ctx["runtime"], ctx["reminders"] = runtime, reminders
        logger.info("worker ready: %s", ", ".join(runtime.engines))

    async def shutdown(ctx: dict[str, Any]) -> None:
        if "runtime" in ctx:
            await ctx["runtime"].stop()
        if "reminders" in ctx:
            await ctx["reminders"].close()

    return SharingWorker(functions=[resume_run, dispatch_outbox, timed_range], cron_jobs=[cron(sweep, second=set(range(0, 60, SWEEP)), run_at_startup=True),
                                                     cron(timed, second=0)],
                  redis_settings=RedisSettings.from_dsn(settings.redis_url), on_startup=startup,
                  on_shutdown=shutdown, job_timeout=JOB_TIMEOUT, keep_result=KEEP_RESULT, max_jobs=20, max_tries=MAX_TRIES,
                  poll_delay=0.05, burst=burst, health_check_interval=HEALTH_EVERY,
                  health_check_key=health_key(), handle_signals=True, job_completion_wait=JOB_TIMEOUT)


def health_key(pid: int | None = None) -> str:
    """This worker's health key in Redis: one per host and process."""
    return f"{HEALTH}{socket.gethostname()}:{pid or os.getpid()}"


async def check(settings: Settings) -> list[str]:
    """What the workers of this host last reported (arq's health line), one per live worker."""
    reminders = Reminders(settings.redis_url or "")
    await reminders.open()
    try:
        assert reminders.pool is not None
        keys = [key async for key in reminders.pool.scan_iter(match=f"{HEALTH}{socket.gethostname()}:*")]
        return [f"{key.decode().removeprefix(HEALTH)}: {(await reminders.pool.get(key) or b'').decode()}"
                for key in sorted(keys)]
    finally:
        await reminders.close()


def run(settings: Settings) -> None:
    """Run a worker until SIGINT/SIGTERM: it takes no new job and lets the steps in progress finish."""
    worker(settings).run()
