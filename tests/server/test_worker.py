"""Scale-out on the real local PostgreSQL and Redis: `relance worker` processes killed, Redis flushed.

Needs PostgreSQL (DATABASE_URL) and Redis (REDIS_URL, default redis://127.0.0.1:6379/15: this
database is emptied). Skipped with a message when they are not reachable, failed under CI.
"""
from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest
import redis

from relance.engine.records import ContactRecord, MessageRecord, RunRecord
from relance.plugins.builtins import tortoise_models as m
from relance.plugins.builtins.tortoise_store import TortoiseStore

from ..engine.conftest import POSTGRES_URL, _postgres_reachable
from ..plugins.fake_providers import Recorded, receiver_app, serving
from .conftest import free_port
from .scale_runs import all_sent, empty_tables, finished, lateness, remind_all, sending, waiting_runs

pytestmark = pytest.mark.slow

REDIS_URL = os.environ.get("RELANCE_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
KILL_RUNS = int(os.environ.get("RELANCE_TEST_KILL_RUNS", "10000"))  # runs falling due while a worker is killed
FLUSH_RUNS = int(os.environ.get("RELANCE_TEST_FLUSH_RUNS", "1000"))  # runs waiting while Redis is flushed
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


@pytest.fixture
def scale(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Path, Recorded, dict[str, str]]]:
    reachable()
    redis.Redis.from_url(REDIS_URL).flushdb()
    recorded = Recorded()
    with serving(receiver_app(recorded)) as base:
        rules = tmp_path / "scale.yaml"
        rules.write_text(RULES % f"{base}/hook", encoding="utf-8")
        env = {**os.environ, "DATABASE_URL": POSTGRES_URL, "REDIS_URL": REDIS_URL, "RELANCE_RESEND_AFTER": "15",
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
    asyncio.run(waiting_runs(POSTGRES_URL, rules, KILL_RUNS, datetime.now(timezone.utc) + timedelta(seconds=2)))
    log = tmp_path / "worker.log"
    first = start_worker(rules, env, log)
    wait_until(lambda: len(recorded.requests) >= KILL_RUNS // 3 or first.poll() is not None, 120,
               f"the worker delivered nothing:\n{log.read_text()}")
    first.send_signal(signal.SIGKILL)
    first.wait(10)
    in_flight = asyncio.run(sending(POSTGRES_URL))  # claimed by the dead worker: sent again, at most once
    second = start_worker(rules, env, log)
    try:
        # the runs finish; the messages the dead worker held go again RELANCE_RESEND_AFTER (15 s) after their claim
        wait_until(lambda: asyncio.run(all_sent(POSTGRES_URL, KILL_RUNS)), 300,
                   f"runs did not all finish, or their messages were not all sent:\n{log.read_text()[-3000:]}")
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(60)
    count, statuses = asyncio.run(finished(POSTGRES_URL))
    assert statuses == ["sent"] * KILL_RUNS  # one message per run, each recorded as sent
    keys = [r["headers"]["idempotency-key"] for r in recorded.requests]
    assert set(keys) == {f"{n + 1}:r/steps/1:1" for n in range(KILL_RUNS)}  # none lost
    repeats = len(keys) - len(set(keys))
    assert repeats <= in_flight  # only messages in flight when killed, each again with its idempotency key
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
    asyncio.run(waiting_runs(POSTGRES_URL, rules, FLUSH_RUNS, wake, spread))
    assert asyncio.run(remind_all(REDIS_URL, FLUSH_RUNS, wake, spread)) == FLUSH_RUNS  # as servers do when runs begin to wait
    log = tmp_path / "worker.log"
    worker = start_worker(rules, env, log)
    try:
        time.sleep(2)
        redis.Redis.from_url(REDIS_URL).flushdb()  # every reminder lost
        wait_until(lambda: len(recorded.requests) >= FLUSH_RUNS, 180, f"runs were lost:\n{log.read_text()[-3000:]}")
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(60)
    late = sorted(asyncio.run(lateness(POSTGRES_URL)))
    assert min(late) >= 0, "a step ran early"
    assert late[int(len(late) * 0.99) - 1] < 1.0 and max(late) < 2.0, \
        f"p99 {late[int(len(late) * 0.99) - 1]:.2f} s late, max {max(late):.2f} s"


BURST_RULES = """\
workspace: burst
channels: {chat: {plugin: log}}
scoring: {checkout.started: +1, page.viewed: +1}
templates: {a: {chat: "a"}, b: {chat: "b"}}
rules:
  - id: panier
    when: checkout.started
    entry: once
    steps: [send chat a, wait 1s, send chat b, tag done]
"""
BURST_CONTACTS = int(os.environ.get("RELANCE_TEST_BURST_CONTACTS", "1000"))


def start_server(rules: Path, env: dict[str, str], log: Path) -> tuple[subprocess.Popen[bytes], str]:
    """A `relance serve` process on PostgreSQL + Redis; its base URL once it answers."""
    port = free_port()
    with log.open("wb") as sink:
        process = subprocess.Popen([sys.executable, "-m", "relance.server", "serve", str(rules), "--port", str(port)],
                                   env={**env, "RELANCE_LOG_LEVEL": "info"}, stdout=sink, stderr=subprocess.STDOUT,
                                   cwd=log.parent)
    wait_until(lambda: "Uvicorn running" in log.read_text(errors="replace") or process.poll() is not None, 60,
               f"the server did not start:\n{log.read_text()}")
    assert process.poll() is None, log.read_text()
    return process, f"http://127.0.0.1:{port}"


async def send_bursts(bases: list[str], key: str, contacts: int) -> list[int]:
    """Each contact sends 3 checkout.started and 2 page.viewed, spread over both servers and
    shuffled, 64 requests in flight at a time. Returns the answers' status codes."""
    events = [{"id": f"{kind}-{n}-{k}", "type": kind, "contact": {"email": f"c{n}@example.test"},
               "properties": {"cart": {"total": 50 + k}} if kind == "checkout.started" else {}}
              for n in range(contacts) for kind, times in (("checkout.started", 3), ("page.viewed", 2))
              for k in range(times)]
    random.Random(7).shuffle(events)
    headers = {"Authorization": f"Bearer {key}"}
    in_flight = asyncio.Semaphore(64)  # requests at once; the rest queue here, not in httpx's pool

    async def post(client: httpx.AsyncClient, n: int, event: dict[str, object]) -> int:
        async with in_flight:
            return (await client.post(f"{bases[n % len(bases)]}/v1/events", json=event)).status_code

    async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=64), headers=headers) as client:
        return await asyncio.gather(*(post(client, n, event) for n, event in enumerate(events)))


async def burst_outcome() -> tuple[list[ContactRecord], list[RunRecord], list[MessageRecord], list[int | None]]:
    store = TortoiseStore(POSTGRES_URL)
    await store.open()
    try:
        async with store.transaction() as tx:
            contacts = await tx.contacts("burst", 0, 100_000)
        events = await m.Event.filter(workspace="burst").values_list("contact_id", flat=True)
        return contacts, await store.runs("burst"), await store.messages("burst"), list(events)
    finally:
        await store.close()


def test_two_servers_two_workers_bursts_of_one_contact_stay_in_order(tmp_path: Path) -> None:
    reachable()
    redis.Redis.from_url(REDIS_URL).flushdb()
    asyncio.run(empty_tables(POSTGRES_URL))
    rules = tmp_path / "burst.yaml"
    rules.write_text(BURST_RULES, encoding="utf-8")
    env = {**os.environ, "DATABASE_URL": POSTGRES_URL, "REDIS_URL": REDIS_URL, "RELANCE_LOG_LEVEL": "warning"}
    key = subprocess.run([sys.executable, "-m", "relance.server", "keys", "create", "burst"], env=env, check=True,
                         capture_output=True, text=True).stdout.strip()
    processes = [start_worker(rules, env, tmp_path / f"worker-{n}.log") for n in range(2)]
    servers = [start_server(rules, env, tmp_path / f"serve-{n}.log") for n in range(2)]
    processes += [process for process, _ in servers]
    logs = lambda: "\n".join(log.read_text()[-2000:] for log in tmp_path.glob("*.log"))  # noqa: E731
    try:
        statuses = asyncio.run(send_bursts([base for _, base in servers], key, BURST_CONTACTS))
        assert set(statuses) == {202}, statuses
        wait_until(lambda: sum(r.status == "finished" for r in asyncio.run(burst_outcome())[1]) == BURST_CONTACTS,
                   240, f"runs did not all finish:\n{logs()}")
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            process.wait(60)
    contacts, runs, messages, event_contacts = asyncio.run(burst_outcome())
    assert len(event_contacts) == 5 * BURST_CONTACTS and None not in event_contacts  # each processed, none set aside
    assert len(contacts) == BURST_CONTACTS  # a new email became one contact, though two servers saw it at once
    assert {c.score for c in contacts} == {5} and all(c.tags == ["done"] for c in contacts)  # no update lost
    assert sorted(r.contact_id for r in runs) == sorted(c.id for c in contacts)  # one run each: no duplicate
    for run in runs:
        nodes = [entry["node"] for entry in run.trace if entry.get("node")]
        assert nodes == [f"panier/steps/{n}" for n in range(4)], (run.id, run.trace)
    by_run: dict[int, list[MessageRecord]] = {}
    for message in messages:
        by_run.setdefault(message.run_id, []).append(message)  # type: ignore[arg-type]
    for found in by_run.values():
        found.sort(key=lambda msg: msg.id or 0)
        assert [msg.template for msg in found] == ["a", "b"] and found[0].created_at < found[1].created_at
    assert len(by_run) == BURST_CONTACTS


def test_sigterm_lets_the_sends_in_hand_finish_then_another_worker_takes_the_rest(scale, tmp_path: Path) -> None:
    rules, recorded, env = scale
    recorded.delay = 0.1  # a slow provider: a group of sends is in progress when the worker is told to stop
    runs = 300
    asyncio.run(waiting_runs(POSTGRES_URL, rules, runs, datetime.now(timezone.utc) + timedelta(seconds=2)))
    log = tmp_path / "worker.log"
    first = start_worker(rules, env, log)
    wait_until(lambda: len(recorded.requests) >= 10 or first.poll() is not None, 60,
               f"the worker delivered nothing:\n{log.read_text()}")
    health = subprocess.run([sys.executable, "-m", "relance.server", "worker", "--check"], env=env,
                            capture_output=True, text=True)
    assert health.returncode == 0 and f":{first.pid}: " in health.stdout, health.stdout + health.stderr
    first.send_signal(signal.SIGTERM)
    signalled_at = len(recorded.requests)
    assert first.wait(60) == 0, log.read_text()[-3000:]
    assert len(recorded.requests) > signalled_at  # the sends in progress went on after the signal, not cut off
    assert asyncio.run(sending(POSTGRES_URL)) == 0  # and were recorded: no message left claimed
    second = start_worker(rules, env, log)
    try:
        wait_until(lambda: asyncio.run(finished(POSTGRES_URL))[0] == runs, 120,
                   f"runs did not all finish:\n{log.read_text()[-3000:]}")
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(60)
    keys = [r["headers"]["idempotency-key"] for r in recorded.requests]
    assert sorted(keys) == sorted(f"{n + 1}:r/steps/1:1" for n in range(runs))  # each once: none repeated, none lost
