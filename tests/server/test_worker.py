"""Scale-out on the real local PostgreSQL and Redis: `relance worker` processes killed, Redis flushed.

Needs PostgreSQL (DATABASE_URL) and Redis (REDIS_URL, default redis://127.0.0.1:6379/15: this
database is emptied). Skipped with a message when they are not reachable, failed under CI.
"""
from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import redis

from relance.dsl import check_workspace
from relance.plugins.builtins import tortoise_models as m
from relance.plugins.builtins.tortoise_store import TortoiseStore
from relance.plugins.registry import function_registry, plugin_manager
from relance.server.reminders import Reminders

from ..engine.conftest import POSTGRES_URL, TABLES, _postgres_reachable
from ..plugins.fake_providers import Recorded, receiver_app, serving

REDIS_URL = os.environ.get("RELANCE_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
RUNS = int(os.environ.get("RELANCE_TEST_SCALE_RUNS", "1000"))
RULES = """\
workspace: scale
channels: {hook: {plugin: webhook, url: "%s", secret_env: RELANCE_TEST_HOOK_SECRET}}
templates: {ping: {hook: "ping"}}
rules:
  - id: r
    when: checkout.started
    steps: [wait 1s, send hook ping, wait 1s, tag done]
"""


def reachable() -> None:
    problems = []
    if not asyncio.run(_postgres_reachable()):
        problems.append(f"PostgreSQL at {POSTGRES_URL} (DATABASE_URL)")
    try:
        redis.Redis.from_url(REDIS_URL, socket_timeout=3).ping()
    except redis.RedisError:
        problems.append(f"Redis at {REDIS_URL} (RELANCE_TEST_REDIS_URL)")
    if problems:
        message = "not reachable: " + ", ".join(problems) + "; start them to run the scale-out tests"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


async def waiting_runs(rules: Path, count: int, wake_at: datetime, spread: timedelta = timedelta(0)) -> None:
    """`count` contacts, each with a run of rule r waiting at its first step, due from `wake_at`
    over `spread`."""
    workspace, problems = check_workspace([rules], function_registry(plugin_manager(False)))
    assert not problems, problems
    store = TortoiseStore(POSTGRES_URL)
    await store.open()
    db = store.context.db()
    await db.execute_script(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY")
    now = datetime.now(timezone.utc)
    await m.Contact.bulk_create([m.Contact(workspace="scale", email=f"c{n}@example.test", created_at=now)
                                 for n in range(count)], using_db=db)
    await m.Run.bulk_create([m.Run(workspace="scale", contact_id=n + 1, rule_id="r",
                                   rule_version=workspace.rules["r"].version,
                                   status="waiting", node_id="r/steps/1", version=1,
                                   wake_at=wake_at + spread * n / count,
                                   started_at=now, step_at=now, trigger_event={"id": f"e{n}"}, trace=[])
                             for n in range(count)], using_db=db)
    await store.close()


async def finished() -> tuple[int, list[str]]:
    store = TortoiseStore(POSTGRES_URL)
    await store.open()
    try:
        runs = await store.runs("scale")
        statuses = [m.status for m in await store.messages("scale")]
        return sum(r.status == "finished" for r in runs), statuses
    finally:
        await store.close()


@pytest.fixture
def scale(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Path, Recorded, dict[str, str]]]:
    reachable()
    redis.Redis.from_url(REDIS_URL).flushdb()
    recorded = Recorded()
    with serving(receiver_app(recorded)) as base:
        rules = tmp_path / "scale.yaml"
        rules.write_text(RULES % f"{base}/hook", encoding="utf-8")
        env = {**os.environ, "DATABASE_URL": POSTGRES_URL, "REDIS_URL": REDIS_URL, "RELANCE_RESEND_AFTER": "2",
               "RELANCE_TEST_HOOK_SECRET": "s3cret", "RELANCE_LOG_LEVEL": "warning"}
        yield rules, recorded, env


def start_worker(rules: Path, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as sink:
        return subprocess.Popen([sys.executable, "-m", "relance.server", "worker", str(rules)], env=env,
                                stdout=sink, stderr=subprocess.STDOUT, cwd=log.parent)


def wait_until(condition, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.2)


def test_kill_9_the_worker_while_runs_fall_due_every_step_runs_once(scale, tmp_path: Path) -> None:
    rules, recorded, env = scale
    asyncio.run(waiting_runs(rules, RUNS, datetime.now(timezone.utc) + timedelta(seconds=2)))
    log = tmp_path / "worker.log"
    first = start_worker(rules, env, log)
    wait_until(lambda: len(recorded.requests) >= RUNS // 3 or first.poll() is not None, 120,
               f"the worker delivered nothing:\n{log.read_text()}")
    first.send_signal(signal.SIGKILL)
    first.wait(10)
    second = start_worker(rules, env, log)
    try:
        wait_until(lambda: asyncio.run(finished())[0] == RUNS, 240,
                   f"runs did not all finish:\n{log.read_text()[-3000:]}")
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(60)
    count, statuses = asyncio.run(finished())
    assert statuses == ["sent"] * RUNS  # one message per run, each recorded as sent
    keys = [r["headers"]["idempotency-key"] for r in recorded.requests]
    assert set(keys) == {f"{n + 1}:r/steps/1:1" for n in range(RUNS)}  # none lost
    repeats = len(keys) - len(set(keys))
    assert repeats <= 50  # only the group in flight when killed, each again with its idempotency key
    asyncio.run(assert_each_step_once())


async def assert_each_step_once() -> None:
    store = TortoiseStore(POSTGRES_URL)
    await store.open()
    try:
        for run in await store.runs("scale"):
            nodes = [entry["node"] for entry in run.trace if entry.get("node")]
            assert nodes == ["r/steps/1", "r/steps/2", "r/steps/3"], (run.id, run.trace)
    finally:
        await store.close()


def test_flush_redis_while_runs_wait_the_sweeper_brings_them_back_on_time(scale, tmp_path: Path) -> None:
    rules, recorded, env = scale
    # due over 40 s: a pace one worker keeps (about 80 resumes/s here), so lateness measures the sweeper
    wake, spread = datetime.now(timezone.utc) + timedelta(seconds=12), timedelta(seconds=40)
    asyncio.run(waiting_runs(rules, RUNS, wake, spread))
    assert asyncio.run(remind_all(wake, spread)) == RUNS  # as the servers did when the runs began to wait
    log = tmp_path / "worker.log"
    worker = start_worker(rules, env, log)
    try:
        time.sleep(2)
        redis.Redis.from_url(REDIS_URL).flushdb()  # every reminder lost
        wait_until(lambda: len(recorded.requests) >= RUNS, 120, f"runs were lost:\n{log.read_text()[-3000:]}")
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(60)
    late = sorted(asyncio.run(lateness()))
    assert min(late) >= 0, "a step ran early"
    assert late[int(len(late) * 0.99) - 1] < 1.0 and max(late) < 2.0, \
        f"p99 {late[int(len(late) * 0.99) - 1]:.2f} s late, max {max(late):.2f} s"


async def remind_all(wake: datetime, spread: timedelta) -> int:
    """Reminders for every run, as `relance serve` enqueues them; the queue's depth after."""
    reminders = Reminders(REDIS_URL)
    await reminders.open()
    try:
        for n in range(RUNS):
            await reminders.remind("scale", n + 1, 1, wake + spread * n / RUNS)
        return await reminders.depth()
    finally:
        await reminders.close()


async def lateness() -> list[float]:
    """How late each run's first step ran: the message's sending time after the run's due time."""
    store = TortoiseStore(POSTGRES_URL)
    await store.open()
    try:
        due = {r.id: datetime.fromisoformat(next(e["at"] for e in r.trace if e.get("node") == "r/steps/1"))
               for r in await store.runs("scale")}  # the send step's logical time: when it was due
        return [(m.sent_at - due[m.run_id]).total_seconds() for m in await store.messages("scale")]  # type: ignore[operator]
    finally:
        await store.close()
