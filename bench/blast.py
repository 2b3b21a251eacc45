"""A segment blast: every contact of a segment enters a rule at once, on PostgreSQL with workers.

    python bench/blast.py [--contacts 100000] [--workers 2]

A rule `every WEEKDAY at HH:MM for segment vip` falls due for all `--contacts` contacts at the
same minute; `--workers` `relance worker` processes share the pass. Prints the time from
that minute until every first message is in the outbox (goal: under 3 minutes for
100,000 contacts with two workers), the rate, and, as a baseline measured in the same run,
the time to write as many outbox rows in bulk (Tortoise bulk_create, 5,000 a statement:
the floor for writing that much on this database). Uses DATABASE_URL (default the local
`test` database: its relance_* tables are emptied) and RELANCE_TEST_REDIS_URL (default
redis://127.0.0.1:6379/15, emptied). Where autovacuum is off, the bench analyzes the tables
every 15 s, as autovacuum would: without statistics, PostgreSQL plans the lookups of a
growing table as if it were empty, and each then reads the whole table.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from relance.plugins.builtins import tortoise_models as m  # noqa: E402
from relance.plugins.builtins.tortoise_store import TortoiseStore  # noqa: E402
from tests.engine.conftest import TABLES  # noqa: E402

DATABASE = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test")
REDIS = os.environ.get("RELANCE_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
RULES = """\
workspace: blast
timezone: UTC
channels: {{chat: {{plugin: log}}}}
templates: {{hello: {{chat: "Bonjour, nos nouveautés sont là"}}}}
segments:
  vip: contact.score >= 0
rules:
  - id: campagne
    when: every {day} at {at} for segment vip
    steps: [send chat hello, wait 7d, send chat hello]
"""
CHUNK = 5000


async def contacts_in_segment(store: TortoiseStore, count: int) -> None:
    """Empty the tables, then `count` contacts already in segment vip."""
    db = store.context.db()
    await db.execute_script(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY")
    now = datetime.now(timezone.utc)
    for start in range(0, count, CHUNK):
        await m.Contact.bulk_create([m.Contact(workspace="blast", email=f"c{n}@example.test", created_at=now,
                                               segments=["vip"]) for n in range(start, min(count, start + CHUNK))],
                                    using_db=db)
    await analyze(store)


async def analyze(store: TortoiseStore) -> None:
    """Table statistics, as autovacuum keeps them where it is on (the planner picks its indexes by them)."""
    await store.context.db().execute_script(f"ANALYZE {', '.join(TABLES)}")


async def baseline(store: TortoiseStore, count: int) -> float:
    """Seconds to write `count` outbox rows in bulk, then remove them."""
    db = store.context.db()
    now = datetime.now(timezone.utc)
    started = time.perf_counter()
    for start in range(0, count, CHUNK):
        await m.Message.bulk_create([m.Message(workspace="baseline", key=f"baseline:{n}", contact_id=n + 1,
                                               run_id=n + 1, rule_id="campagne", node_id="campagne/steps/0",
                                               channel="chat", template="hello", body="Bonjour", status="pending",
                                               created_at=now) for n in range(start, min(count, start + CHUNK))],
                                    using_db=db)
    elapsed = time.perf_counter() - started
    await m.Message.filter(workspace="baseline").delete()
    return elapsed


async def main() -> None:
    arguments = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    arguments.add_argument("--contacts", type=int, default=100_000)
    arguments.add_argument("--workers", type=int, default=2)
    options = arguments.parse_args()
    store = TortoiseStore(DATABASE)
    await store.open()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            print(f"{options.contacts:,} contacts in segment vip; setting up…", flush=True)
            await contacts_in_segment(store, options.contacts)
            bulk = await baseline(store, options.contacts)
            redis.Redis.from_url(REDIS).flushdb()
            due = (datetime.now(timezone.utc) + timedelta(seconds=75)).replace(second=0, microsecond=0)
            rules = folder / "blast.yaml"
            # today's weekday: a worker's first pass looks a day back, and must not find yesterday's
            rules.write_text(RULES.format(day=due.strftime("%A").lower(), at=due.strftime("%H:%M")), encoding="utf-8")
            env = {**os.environ, "DATABASE_URL": DATABASE, "REDIS_URL": REDIS, "RELANCE_LOG_LEVEL": "warning"}
            logs = [(folder / f"worker-{n}.log").open("wb") for n in range(options.workers)]
            processes = [subprocess.Popen([sys.executable, "-m", "relance.server", "worker", str(rules)], env=env,
                                          stdout=log, stderr=subprocess.STDOUT) for log in logs]
            print(f"due at {due:%H:%M:%S} UTC, {options.workers} worker(s) started", flush=True)
            try:
                queued = 0
                _, found = await store.context.db().execute_query("SHOW autovacuum")
                autovacuum = found[0]["autovacuum"] == "on"
                if not autovacuum:
                    print("autovacuum is off on this database: the bench analyzes the tables every 15 s, "
                          "as autovacuum would", flush=True)
                while queued < options.contacts:
                    await asyncio.sleep(1)
                    if not autovacuum and int(time.time()) % 15 == 7:
                        await analyze(store)
                    queued = await m.Message.filter(workspace="blast").count()
                    if datetime.now(timezone.utc) > due and int(time.time()) % 15 == 0:
                        print(f"  {queued:,} messages in the outbox", flush=True)
                    if datetime.now(timezone.utc) > due + timedelta(minutes=30):
                        raise SystemExit("gave up after 30 minutes: see the worker logs")
                last = await m.Message.filter(workspace="blast").order_by("-id").first()
                done = datetime.now(timezone.utc)
            finally:
                for process in processes:
                    process.send_signal(signal.SIGTERM)
                for process in processes:
                    process.wait(60)
                for log in logs:
                    log.close()
                for n in range(options.workers):  # what went wrong, if anything did
                    lines = (folder / f"worker-{n}.log").read_text(encoding="utf-8", errors="replace").splitlines()
                    for line in [line for line in lines if "WARNING" in line or "ERROR" in line][:10]:
                        print(f"  worker {n}: {line[:300]}")
            runs = await m.Run.filter(workspace="blast").count()
            elapsed = (done - due).total_seconds()
            print(f"every first message in the outbox {elapsed:.1f} s after the rule fell due "
                  f"(polled each second; goal under 180 s): {options.contacts / elapsed:,.0f} contacts/s; "
                  f"{runs:,} runs, {queued:,} messages; last message {last.key if last else None}")
            print(f"baseline: {options.contacts:,} outbox rows written in bulk in {bulk:.1f} s "
                  f"({options.contacts / bulk:,.0f}/s); the blast took {elapsed / bulk:.1f}x that")
    finally:
        await store.close()


if __name__ == "__main__":
    asyncio.run(main())
