"""Timer precision and throughput of `relance worker` on PostgreSQL + Redis, with one and two workers.

    python bench/timers.py [--runs 10000] [--window 60]

`--runs` runs fall due within `--window` seconds; each step is a send through the log
channel. For one worker, then two, prints how late each first step ran (p50, p99, max; a
negative figure would be a step run early) and steps per second, and the ratio of two
workers to one. Uses DATABASE_URL (default the local `test` database: its relance_* tables
are emptied) and RELANCE_TEST_REDIS_URL (default redis://127.0.0.1:6379/15, emptied).
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


async def measure(rules: Path, runs: int, window: float, workers: int, folder: Path) -> tuple[list[float], float]:
    """(lateness of each first step, steps per second) with this many workers."""
    redis.Redis.from_url(REDIS).flushdb()
    start = datetime.now(timezone.utc) + timedelta(seconds=5)
    await waiting_runs(DATABASE, rules, runs, start, timedelta(seconds=window))
    await remind_all(REDIS, runs, start, timedelta(seconds=window))
    env = {**os.environ, "DATABASE_URL": DATABASE, "REDIS_URL": REDIS, "RELANCE_LOG_LEVEL": "warning"}
    processes = []
    for n in range(workers):
        with (folder / f"worker-{workers}-{n}.log").open("wb") as log:
            processes.append(subprocess.Popen([sys.executable, "-m", "relance.server", "worker", str(rules)],
                                              env=env, stdout=log, stderr=subprocess.STDOUT))
    try:
        while (await finished(DATABASE))[0] < runs:
            await asyncio.sleep(0.5)
        ended = datetime.now(timezone.utc)
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            process.wait(60)
    late = sorted(await lateness(DATABASE))
    return late, runs / max((ended - start).total_seconds(), 1e-9)


def line(workers: int, late: list[float], rate: float) -> str:
    p50, p99 = late[len(late) // 2], late[max(0, int(len(late) * 0.99) - 1)]
    return (f"  {workers} worker{'s' if workers > 1 else ' '}: late p50 {p50:6.3f} s  p99 {p99:6.3f} s  "
            f"max {late[-1]:6.3f} s  min {late[0]:6.3f} s   {rate:7,.0f} runs/s (first step + dispatch)")


async def main() -> None:
    arguments = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    arguments.add_argument("--runs", type=int, default=10_000)
    arguments.add_argument("--window", type=float, default=60.0)
    options = arguments.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        rules = folder / "scale.yaml"
        rules.write_text(RULES, encoding="utf-8")
        print(f"{options.runs:,} runs due within {options.window:.0f} s, PostgreSQL + Redis on this machine:")
        figures = {}
        for workers in (1, 2):
            started = time.perf_counter()
            late, rate = await measure(rules, options.runs, options.window, workers, folder)
            figures[workers] = rate
            print(line(workers, late, rate) + f"   ({time.perf_counter() - started:.0f} s)")
        print(f"two workers / one: {figures[2] / figures[1]:.2f}x (goal 1.6x; p99 goal under 1 s late)")


if __name__ == "__main__":
    asyncio.run(main())
