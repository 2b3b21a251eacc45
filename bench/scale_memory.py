"""Memory of a server whose database holds a big shop: 1,000,000 runs waiting days ahead, 100,000 contacts.

    python bench/scale_memory.py [--runs 1000000] [--contacts 100000] [--seconds 90]

Fills PostgreSQL (COPY), starts one `relance serve` on it (no Redis: the in-process scheduler,
inbox and timed passes run in that process) and samples its RSS from /proc while it works:
at start, through several timed passes (a segment and a yearly trigger make each pass read
every contact), and while events arrive. Prints the peak RSS and, as the baseline measured in
the same run, the RSS of the same server on an empty database (goal: under 200 MB, and
nothing proportional to the waiting runs: the ratio near 1). Also times one timed pass over
the contacts, in this process, on the same data. Uses DATABASE_URL (default the local `test`
database: its relance_* tables are emptied).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from relance.dsl import check_workspace  # noqa: E402
from relance.engine.clock import SystemClock  # noqa: E402
from relance.engine.engine import Engine  # noqa: E402
from relance.plugins.registry import function_registry, plugin_manager  # noqa: E402
from relance.plugins.builtins.tortoise_store import TortoiseStore  # noqa: E402
from tests.engine.conftest import TABLES  # noqa: E402

DATABASE = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test")
RULES = """\
workspace: big
timezone: Europe/Paris
channels: {chat: {plugin: log}}
templates: {hello: {chat: "Bonjour"}}
segments:
  dormant: days_since(contact.last_order_at) >= 90
rules:
  - id: panier
    when: checkout.started
    steps: [wait 3d, send chat hello, wait 2d, send chat hello]
  - id: anniversaire
    when: yearly on contact.birthday at 10:00
    steps: [send chat hello]
"""


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def fill(contacts: int, runs: int, version: str) -> None:
    """Empty the tables, then `contacts` contacts and `runs` runs waiting 2 to 6 days ahead, with COPY."""
    store = TortoiseStore(DATABASE)
    await store.open()  # the schema
    await store.close()
    connection = await asyncpg.connect(DATABASE.replace("postgres://", "postgresql://", 1))
    try:
        await connection.execute(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY")
        now = datetime.now(timezone.utc)
        await connection.copy_records_to_table(
            "relance_contacts", columns=["workspace", "email", "external_ids", "attributes", "tags", "score",
                                         "segments", "consent", "created_at"],
            records=[("big", f"c{n}@example.test", "{}",
                      json.dumps({"birthday": f"19{50 + n % 50}-0{1 + n % 9}-1{n % 9}",
                                  "last_order_at": (now - timedelta(days=n % 200)).isoformat()}),
                      "[]", 0, "[]", "{}", now) for n in range(contacts)])
        step = 100_000
        for start in range(0, runs, step):
            await connection.copy_records_to_table(
                "relance_runs", columns=["workspace", "contact_id", "rule_id", "rule_version", "status", "node_id",
                                         "version", "wake_at", "started_at", "step_at", "trigger_event", "variants",
                                         "visits", "trace"],
                records=[("big", 1 + n % contacts, "panier", version, "waiting", "panier/steps/1", 2,
                          now + timedelta(days=2, seconds=n * 345600 / runs), now, now,
                          json.dumps({"id": f"cart-{n}", "type": "checkout.started"}), "{}", "{}",
                          json.dumps([{"at": now.isoformat(), "node": None, "why": "started by checkout.started"}]))
                         for n in range(start, min(start + step, runs))])
        await connection.execute("ANALYZE")
    finally:
        await connection.close()


async def timed_pass(rules: Path) -> tuple[float, int]:
    """One timed pass over every contact, in this process: seconds, runs started."""
    manager = plugin_manager(load_entry_points=False)
    workspace, problems = check_workspace([rules], function_registry(manager))
    assert not problems, problems
    store = TortoiseStore(DATABASE)
    await store.open()
    try:
        engine = Engine(workspace, store, SystemClock(), {})
        now = datetime.now(timezone.utc)
        started = time.perf_counter()
        count = await engine.run_timed_range(now - timedelta(days=1), now)
        return time.perf_counter() - started, count
    finally:
        await store.close()


def serve_and_sample(rules: Path, seconds: float, events: int, folder: Path) -> tuple[float, float]:
    """A `relance serve` on the database: its RSS once ready, and its peak over `seconds` of work."""
    port = 18_700 + os.getpid() % 1000
    log = folder / f"serve-{port}.log"
    env = {**os.environ, "DATABASE_URL": DATABASE, "RELANCE_LOG_LEVEL": "warning"}
    env.pop("REDIS_URL", None)
    with log.open("wb") as sink:
        process = subprocess.Popen([sys.executable, "-m", "relance.server", "serve", str(rules), "--port", str(port)],
                                   env=env, stdout=sink, stderr=subprocess.STDOUT, cwd=folder)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert process.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        ready = rss_mb(process.pid)
        key = next(line.split()[-1] for line in log.read_text().splitlines() if "rk_" in line) \
            if "rk_" in log.read_text() else None
        peak = ready
        end = time.monotonic() + seconds
        sent = 0
        with httpx.Client(base_url=base, timeout=30,
                          headers={"Authorization": f"Bearer {key}"} if key else {}) as client:
            while time.monotonic() < end:
                if key and sent < events:
                    batch = [{"id": f"e{sent + n}", "type": "checkout.started",
                              "contact": {"email": f"c{(sent + n) % 1000}@example.test"}} for n in range(100)]
                    client.post("/v1/events", json=batch)
                    sent += len(batch)
                client.get("/metrics")
                peak = max(peak, rss_mb(process.pid))
                time.sleep(0.5)
        return ready, peak
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=1_000_000)
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=90, help="seconds of work to sample (timed passes every minute)")
    parser.add_argument("--events", type=int, default=5000, help="events posted while sampling")
    args = parser.parse_args()
    manager = plugin_manager(load_entry_points=False)
    with tempfile.TemporaryDirectory() as folder_name:
        folder = Path(folder_name)
        rules = folder / "rules.yaml"
        rules.write_text(RULES, encoding="utf-8")
        workspace, problems = check_workspace([rules], function_registry(manager))
        assert not problems, problems
        version = workspace.rules["panier"].version
        asyncio.run(fill(0, 0, version))
        empty_ready, empty_peak = serve_and_sample(rules, args.seconds, args.events, folder)
        print(f"empty database: RSS {empty_ready:.0f} MB ready, {empty_peak:.0f} MB peak over {args.seconds:.0f} s")
        started = time.perf_counter()
        asyncio.run(fill(args.contacts, args.runs, version))
        print(f"filled {args.contacts:,} contacts and {args.runs:,} waiting runs in {time.perf_counter() - started:.0f} s")
        pass_seconds, count = asyncio.run(timed_pass(rules))
        print(f"one timed pass over {args.contacts:,} contacts: {pass_seconds:.1f} s "
              f"({args.contacts / pass_seconds:,.0f} contacts/s), {count} runs started")
        ready, peak = serve_and_sample(rules, args.seconds, args.events, folder)
        print(f"big database: RSS {ready:.0f} MB ready, {peak:.0f} MB peak over {args.seconds:.0f} s "
              f"(goal < 200 MB); ratio to the empty database {peak / empty_peak:.2f}")


if __name__ == "__main__":
    main()
