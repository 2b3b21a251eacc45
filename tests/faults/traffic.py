"""What the fault tests run and count: `relance serve` and `relance worker` processes, a stream of
events sent as a shop's systems send them (a 5xx or a refused connection is sent again), and
the counts a fault must not change: answered 202, processed, runs failed, messages sent, sent twice.
"""
from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx

from .clusters import PostgresCluster, free_port

RULES = """\
workspace: faults
channels: {hook: {plugin: webhook, url: "%s", secret_env: RELANCE_TEST_HOOK_SECRET}}
templates: {ping: {hook: "ping"}, pong: {hook: "pong"}}
rules:
  - id: r
    when: checkout.started
    steps: [send hook ping, wait 2s, send hook pong]
"""
MESSAGES_PER_EVENT = 2  # ping, then pong two seconds later
EVENTS = int(os.environ.get("RELANCE_TEST_FAULT_EVENTS", "400"))  # sent over SENDING seconds (one server here
SENDING = 4.0                                                      # processes about 30 a second)


class Process:
    """A `relance` command running in the background, its output in a file."""

    def __init__(self, arguments: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log
        with log.open("ab") as sink:
            self.process = subprocess.Popen([sys.executable, "-m", "relance.server", *arguments], env=env,
                                            stdout=sink, stderr=subprocess.STDOUT, cwd=log.parent)

    def output(self, last: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-last:]

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> int:
        if self.alive():
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait(10)


def serve(rules: Path, env: dict[str, str], log: Path) -> tuple[Process, str]:
    """`relance serve` on a free port; its base URL once it answers."""
    port = free_port()
    server, base = Process(["serve", str(rules), "--port", str(port)], env, log), f"http://127.0.0.1:{port}"
    wait_until(lambda: _answers(base) or not server.alive(), 60, lambda: f"the server did not start:\n{server.output()}")
    assert server.alive(), server.output()
    return server, base


def _answers(base: str, path: str = "/healthz") -> bool:
    try:
        return httpx.get(f"{base}{path}", timeout=1).status_code < 500
    except httpx.TransportError:
        return False


class Receiver:
    """The webhook receiver (receiver.py) in a process of its own: `url`, and the keys it received."""

    def __init__(self, root: Path) -> None:
        self.port, self.file = free_port(), root / "received.txt"
        self.file.touch()
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "receiver:app", "--app-dir", str(Path(__file__).parent), "--port",
             str(self.port), "--log-level", "warning"], env={**os.environ, "RELANCE_TEST_RECEIVED": str(self.file)})
        wait_until(lambda: _answers(self.url.removesuffix("/hook"), "/") or self.process.poll() is not None, 30,
                   lambda: "the webhook receiver did not start")

    def keys(self) -> list[str]:
        return self.file.read_text().splitlines()

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


def api_key(workspace: str, env: dict[str, str]) -> str:
    return subprocess.run([sys.executable, "-m", "relance.server", "keys", "create", workspace], env=env, check=True,
                          capture_output=True, text=True).stdout.strip()


def wait_until(condition: Callable[[], object], timeout: float, what: Callable[[], str]) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what()
        time.sleep(0.2)


@dataclass
class Sent:
    """What the events' sender saw."""

    accepted: set[str] = field(default_factory=set)  # ids answered 202 (accepted, or a duplicate of an accepted one)
    refused: dict[int | str, int] = field(default_factory=dict)  # answers that were not a 202, and were sent again


async def send_events(base: str, key: str, count: int, per_second: float, prefix: str = "e") -> Sent:
    """`count` checkout.started events of distinct contacts at `per_second`; each sent again, after
    Retry-After (or 0.5 s), until it is answered 202."""
    sent = Sent()
    headers = {"Authorization": f"Bearer {key}"}

    async def one(client: httpx.AsyncClient, n: int) -> None:
        await asyncio.sleep(n / per_second)
        event = {"id": f"{prefix}{n}", "type": "checkout.started", "contact": {"email": f"{prefix}{n}@example.test"}}
        while True:
            try:
                response = await client.post(f"{base}/v1/events", json=event)
            except httpx.TransportError as error:
                sent.refused[type(error).__name__] = sent.refused.get(type(error).__name__, 0) + 1
                await asyncio.sleep(0.5)
                continue
            if response.status_code == 202:
                sent.accepted.add(event["id"])
                return
            assert response.status_code >= 500, response.text  # a fault is never the client's 4xx
            sent.refused[response.status_code] = sent.refused.get(response.status_code, 0) + 1
            await asyncio.sleep(float(response.headers.get("retry-after", "0.5")))

    async with httpx.AsyncClient(timeout=30, headers=headers, limits=httpx.Limits(max_connections=32)) as client:
        await asyncio.gather(*(one(client, n) for n in range(count)))
    return sent


@dataclass(frozen=True)
class Counts:
    """What the database says became of the events."""

    events: int  # stored
    processed: int  # processed, with a contact
    set_aside: int  # processed without one: could not be processed
    runs: dict[str, int]  # by status
    failures: list[str]  # end reasons of failed runs (the first few)
    messages: dict[str, int]  # by status
    keys: set[str]  # the messages' idempotency keys

    @property
    def finished(self) -> int:
        return self.runs.get("finished", 0)


async def counts(database: str) -> Counts:
    connection = await asyncpg.connect(database.replace("postgres://", "postgresql://", 1), timeout=5)
    try:
        events = await connection.fetchrow(
            "SELECT count(*) AS stored, count(*) FILTER (WHERE processed AND contact_id IS NOT NULL) AS processed, "
            "count(*) FILTER (WHERE processed AND contact_id IS NULL) AS set_aside FROM relance_events")
        runs = dict(await connection.fetch("SELECT status, count(*) FROM relance_runs GROUP BY status"))
        failures = [r[0] for r in await connection.fetch(
            "SELECT end_reason FROM relance_runs WHERE status = 'failed' LIMIT 5")]
        messages = dict(await connection.fetch("SELECT status, count(*) FROM relance_messages GROUP BY status"))
        keys = {r[0] for r in await connection.fetch("SELECT key FROM relance_messages")}
    finally:
        await connection.close()
    return Counts(events["stored"], events["processed"], events["set_aside"], runs, failures, messages, keys)


async def readiness(base: str) -> tuple[int, dict[str, object]]:
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.get(f"{base}/readyz")
    return response.status_code, response.json()


async def until_not_ready(base: str, within: float) -> tuple[int, dict[str, object]]:
    """/readyz polled until it is not 200 (or `within` seconds pass): its last answer."""
    deadline = time.monotonic() + within
    while True:
        answer = await readiness(base)
        if answer[0] != 200 or time.monotonic() > deadline:
            return answer
        await asyncio.sleep(0.1)


def report(title: str, sent: Sent, found: Counts, received: list[str]) -> str:
    """The counts, printed by the tests (pytest -s shows them)."""
    keys, twice = delivered(received)
    return (f"{title}: events answered 202 {len(sent.accepted)} (answers sent again: {sent.refused}), "
            f"processed {found.processed}, set aside {found.set_aside}, runs {found.runs}, "
            f"messages {found.messages}, delivered {len(keys)}, delivered twice {twice}")


async def repeated(database: str, received: list[str]) -> list[tuple[object, ...]]:
    """The messages delivered more than once, as the database has them (to say why)."""
    keys = sorted({key for key in received if received.count(key) > 1})[:10]
    connection = await asyncpg.connect(database.replace("postgres://", "postgresql://", 1), timeout=5)
    try:
        return [tuple(r) for r in await connection.fetch(
            "SELECT key, status, attempts, error, created_at, claimed_at, sent_at FROM relance_messages "
            "WHERE key = ANY($1::text[])", keys)]
    finally:
        await connection.close()


def delivered(keys: list[str]) -> tuple[set[str], int]:
    """The idempotency keys the webhook receiver got, and how many it got more than once."""
    return set(keys), len(keys) - len(set(keys))


def environment(database: str, redis: str | None = None) -> dict[str, str]:
    env = {**os.environ, "DATABASE_URL": database, "RELANCE_TEST_HOOK_SECRET": "s3cret",
           "RELANCE_LOG_LEVEL": "warning", "RELANCE_RESEND_AFTER": "60"}
    env.pop("REDIS_URL", None)
    if redis is not None:
        env["REDIS_URL"] = redis
    return env


def all_sent(cluster: PostgresCluster, receiver: Receiver) -> bool:
    found = asyncio.run(counts(cluster.url))
    return found.messages.get("sent") == MESSAGES_PER_EVENT * EVENTS and len(set(receiver.keys())) == len(found.keys)


def check(title: str, cluster: PostgresCluster, sent: Sent, receiver: Receiver, refused: bool = True) -> None:
    """Every event answered 202 (some only when sent again, if `refused`), processed once, its run
    finished, its messages sent and delivered once."""
    found = asyncio.run(counts(cluster.url))
    print(report(title, sent, found, receiver.keys()))
    keys, twice = delivered(receiver.keys())
    assert len(sent.accepted) == EVENTS and bool(sent.refused) == refused
    assert (found.events, found.processed, found.set_aside) == (EVENTS, EVENTS, 0)
    assert found.runs == {"finished": EVENTS}, found.failures
    assert found.messages == {"sent": MESSAGES_PER_EVENT * EVENTS}
    assert keys == found.keys  # each message delivered
    assert twice == 0, asyncio.run(repeated(cluster.url, receiver.keys()))  # once
