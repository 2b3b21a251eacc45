"""Timer precision and throughput of `relance worker` on PostgreSQL + Redis, with one and two workers.

    python bench/timers.py [--runs 10000] [--window 60] [--burst 10000]

Each run's due step is a send through the log channel, and a run is done when its
message has gone out. Two measures, each with one worker, then two:

- lateness: `--runs` runs fall due spread over `--window` seconds; how late each step
  ran (p50, p99, max; a negative figure would be a step run early);
- throughput: `--burst` runs all fall due at the same moment; runs per second until the
  last message left, and the ratio of two workers to one.

Uses DATABASE_URL (default the local `test` database: its relance_* tables are emptied)
and RELANCE_TEST_REDIS_URL (default redis://127.0.0.1:6379/15, emptied).
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
from tests.server.scale_runs import finished, lateness, remind_all, waiting_runs  # noqa: E402

DATABASE = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test")
REDIS = os.environ.get("RELANCE_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
RULES = """\
workspace: scale
channels: {chat: {plugin: log}}
templates: {ping: {chat: "ping"}}
rules:
  - id: r
    when: checkout.started
    steps: [wait 1s, send chat ping]
"""


def cpu_seconds(pids: list[int]) -> float:
    """CPU time (user + system) used so far by these processes, from /proc (Linux); 0 elsewhere."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


def server_pids() -> list[int]:
    """PostgreSQL and Redis processes on this machine (none found when they run elsewhere)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/comm"):
        try:
            if stat.read_text().strip() in ("postgres", "redis-server"):
                found.append(int(stat.parent.name))
        except OSError:
            continue
    return found


async def measure(rules: Path, runs: int, window: float, workers: int, folder: Path) -> tuple[list[float], float, float]:
    """How late each run's due step ran with this many workers, sorted; and the CPU seconds the
    workers and the database + Redis used from the first due time until the last run was done."""
    redis.Redis.from_url(REDIS).flushdb()
    start = datetime.now(timezone.utc) + timedelta(seconds=10 + runs / 1000)  # after set-up and start-up
    await waiting_runs(DATABASE, rules, runs, start, timedelta(seconds=window))
    await remind_all(REDIS, runs, start, timedelta(seconds=window))
    if (start - datetime.now(timezone.utc)).total_seconds() < 5:
        print("  (set-up was slow: the workers may start after the first runs fell due)")
    env = {**os.environ, "DATABASE_URL": DATABASE, "REDIS_URL": REDIS, "RELANCE_LOG_LEVEL": "warning"}
    processes = []
    for n in range(workers):
        with (folder / f"worker-{workers}-{n}.log").open("wb") as log:
            processes.append(subprocess.Popen([sys.executable, "-m", "relance.server", "worker", str(rules)],
                                              env=env, stdout=log, stderr=subprocess.STDOUT))
    pids = [process.pid for process in processes]
    try:
        await asyncio.sleep(max(0.0, (start - datetime.now(timezone.utc)).total_seconds()))
        servers = {pid: cpu_seconds([pid]) for pid in server_pids()}
        worker_cpu = cpu_seconds(pids)  # start-up left out
        while (await finished(DATABASE))[0] < runs:
            await asyncio.sleep(0.5)
        worker_cpu = cpu_seconds(pids) - worker_cpu
        server_cpu = sum(cpu_seconds([pid]) - servers.get(pid, 0.0) for pid in server_pids())  # new backends too
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            process.wait(60)
    return sorted(await lateness(DATABASE)), worker_cpu, server_cpu


def percentiles(late: list[float]) -> str:
    p50, p99 = late[len(late) // 2], late[max(0, int(len(late) * 0.99) - 1)]
    return f"late p50 {p50:6.3f} s  p99 {p99:6.3f} s  max {late[-1]:6.3f} s  min {late[0]:6.3f} s"


async def main() -> None:
    arguments = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    arguments.add_argument("--runs", type=int, default=10_000)
    arguments.add_argument("--window", type=float, default=60.0)
    arguments.add_argument("--burst", type=int, default=10_000)
    options = arguments.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        rules = folder / "scale.yaml"
        rules.write_text(RULES, encoding="utf-8")
        print(f"PostgreSQL + Redis + workers on this machine ({os.cpu_count()} cores)")
        print(f"lateness: {options.runs:,} runs due within {options.window:.0f} s")
        for workers in (1, 2):
            started = time.perf_counter()
            late, _, _ = await measure(rules, options.runs, options.window, workers, folder)
            print(f"  {workers} worker{'s' if workers > 1 else ' '}: {percentiles(late)}"
                  f"   ({time.perf_counter() - started:.0f} s)")
        print(f"throughput: {options.burst:,} runs due at the same moment")
        rates, shares = {}, {}
        for workers in (1, 2):
            late, worker_cpu, server_cpu = await measure(rules, options.burst, 0, workers, folder)
            rates[workers] = options.burst / max(late[-1], 1e-9)  # the last message left late[-1] s after
            shares[workers] = (worker_cpu * 1000 / options.burst, server_cpu * 1000 / options.burst)
            print(f"  {workers} worker{'s' if workers > 1 else ' '}: {rates[workers]:7,.0f} runs/s "
                  f"(all done {late[-1]:.1f} s after they fell due); CPU per run: workers "
                  f"{shares[workers][0]:.2f} ms, PostgreSQL + Redis {shares[workers][1]:.2f} ms")
        print(f"two workers / one: {rates[2] / rates[1]:.2f}x (goals: 1.6x, and p99 under 1 s late)")
        own, shared = shares[1]
        if shared and os.cpu_count() == 2:
            print(f"  on 2 cores shared with PostgreSQL and Redis, two workers can reach at most "
                  f"2 x {own:.2f} / ({own:.2f} + {shared:.2f}) = {2 * own / (own + shared):.2f}x one")


if __name__ == "__main__":
    asyncio.run(main())
