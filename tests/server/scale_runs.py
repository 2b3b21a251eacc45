"""Runs made due in bulk on PostgreSQL, their reminders in Redis, and how late they ran.

Shared by the scale-out tests (tests/server/test_worker.py) and bench/timers.py. The rule
is `r` of a workspace `scale`; each run waits at its first step (a send).
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import asyncpg

from relance.dsl import check_workspace
from relance.plugins.builtins import tortoise_models as m
from relance.plugins.builtins.tortoise_store import TortoiseStore
from relance.plugins.registry import function_registry, plugin_manager
from relance.server.reminders import Reminders

from ..engine.conftest import TABLES



async def waiting_runs(database: str, rules: Path, count: int, wake_at: datetime,
                       spread: timedelta = timedelta(0)) -> None:
    """Empty the tables, then `count` contacts each with a run of rule r due from `wake_at` over `spread`."""
    workspace, problems = check_workspace([rules], function_registry(plugin_manager(False)))
    assert not problems, problems
    store = TortoiseStore(database)
    await store.open()
    db = store.context.db()
    await db.execute_script(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY")
    now = datetime.now(timezone.utc)
    for start in range(0, count, 5000):
        size = min(5000, count - start)
        await m.Contact.bulk_create([m.Contact(workspace="scale", email=f"c{start + n}@example.test", created_at=now)
                                     for n in range(size)], using_db=db)
        await m.Run.bulk_create([m.Run(workspace="scale", contact_id=start + n + 1, rule_id="r",
                                       rule_version=workspace.rules["r"].version, status="waiting",
                                       node_id="r/steps/1", version=1, wake_at=wake_at + spread * (start + n) / count,
                                       started_at=now, step_at=now, trigger_event={"id": f"e{start + n}"}, trace=[])
                                 for n in range(size)], using_db=db)
    await store.close()


async def empty_tables(database: str) -> None:
    """Every relance_* table emptied (created first on a new database)."""
    store = TortoiseStore(database)
    await store.open()
    try:
        await store.context.db().execute_script(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY")
    finally:
        await store.close()


async def remind_all(redis_url: str, count: int, wake_at: datetime, spread: timedelta) -> int:
    """Reminders for every run, as `relance serve` enqueues them; the queue's depth after."""
    reminders = Reminders(redis_url)
    await reminders.open()
    try:
        waits = [(n + 1, 1, wake_at + spread * n / count) for n in range(count)]
        for start in range(0, count, 1000):
            await reminders.remind("scale", waits[start:start + 1000])
        return await reminders.depth()
    finally:
        await reminders.close()


async def lateness(database: str) -> list[float]:
    """How late each run's first step ran: its message's sending time after the run's due time."""
    store = TortoiseStore(database)
    await store.open()
    try:
        due = {r.id: datetime.fromisoformat(next(e["at"] for e in r.trace if e.get("node") == "r/steps/1"))
               for r in await store.runs("scale")}  # the send step's logical time: when it was due
        return [(msg.sent_at - due[msg.run_id]).total_seconds()  # type: ignore[operator]
                for msg in await store.messages("scale") if msg.sent_at is not None]
    finally:
        await store.close()


async def finished(database: str) -> tuple[int, list[str]]:
    """How many runs finished, and the status of every message (counted in the database: this is
    polled while workers run, and must not take their CPU)."""
    store = TortoiseStore(database)
    await store.open()
    try:
        count = await m.Run.filter(workspace="scale", status="finished").count()
        return count, list(await m.Message.filter(workspace="scale").order_by("id").values_list("status", flat=True))
    finally:
        await store.close()


async def all_sent(database: str, runs: int) -> bool:
    """Whether `runs` runs finished with one message each, all sent: one cheap query (polled while
    workers run, every half second), where `finished` reads every message."""
    connection = await asyncpg.connect(database.replace("postgres://", "postgresql://", 1))
    try:
        row = await connection.fetchrow(
            "SELECT (SELECT count(*) FROM relance_runs WHERE workspace = 'scale' AND status = 'finished'),"
            " (SELECT count(*) FROM relance_messages WHERE workspace = 'scale'),"
            " (SELECT count(*) FROM relance_messages WHERE workspace = 'scale' AND status = 'sent')")
    finally:
        await connection.close()
    return tuple(row) == (runs, runs, runs)


async def sending(database: str) -> int:
    """Messages claimed by a dispatcher and not recorded yet."""
    store = TortoiseStore(database)
    await store.open()
    try:
        return len(await store.messages("scale", "sending"))
    finally:
        await store.close()
