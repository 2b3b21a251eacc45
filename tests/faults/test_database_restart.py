"""PostgreSQL restarted under traffic, on a private cluster: nothing answered 202 is lost, no run fails, no
message goes twice, and /readyz says what is down while it is.
"""
from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from .clusters import PostgresCluster, RedisServer
from .traffic import (EVENTS, RULES, SENDING, Process, Receiver, Sent, all_sent, api_key, check, counts, environment,
                      readiness, send_events, serve, until_not_ready, wait_until)

pytestmark = pytest.mark.slow

DOWN_AFTER, DOWN_FOR = 1.5, 3.0  # seconds into the traffic, and how long PostgreSQL stays stopped


async def traffic_with_a_restart(base: str, key: str, cluster: PostgresCluster) -> tuple[Sent, tuple[int, dict]]:
    """Events flow; PostgreSQL stops (a fast shutdown: sessions cut) and starts again DOWN_FOR
    seconds later. Returns what the sender saw and /readyz's answer while it was down."""
    sending = asyncio.create_task(send_events(base, key, EVENTS, EVENTS / SENDING))
    await asyncio.sleep(DOWN_AFTER)
    await asyncio.to_thread(cluster.stop)
    down = await until_not_ready(base, DOWN_FOR)
    await asyncio.sleep(max(0.0, DOWN_FOR - 0.5))
    await asyncio.to_thread(cluster.start)
    return await sending, down


def test_serve_alone_rides_out_a_database_restart(postgres_cluster: PostgresCluster, receiver: Receiver,
                                                  tmp_path: Path) -> None:
    """`relance serve` without Redis: its scheduler, inbox and dispatcher loops back off while the
    database is away and catch up when it is back."""
    rules = tmp_path / "faults.yaml"
    rules.write_text(RULES % receiver.url, encoding="utf-8")
    env = environment(postgres_cluster.url)
    server, base = serve(rules, env, tmp_path / "serve.log")
    try:
        sent, down = asyncio.run(traffic_with_a_restart(base, api_key("faults", env), postgres_cluster))
        wait_until(lambda: all_sent(postgres_cluster, receiver), 60,
                   lambda: f"not all sent: {asyncio.run(counts(postgres_cluster.url))}\n{server.output()}")
        wait_until(lambda: asyncio.run(readiness(base))[0] == 200, 30,
                   lambda: f"not ready again: {asyncio.run(readiness(base))}")
        _, ready = asyncio.run(readiness(base))
    finally:
        server.stop()
    assert down[0] == 503 and "database" in str(down[1]["detail"]), down
    assert ready["database"] == "ok" and all(loop["ok"] for loop in ready["loops"].values())  # type: ignore[union-attr]
    assert {"scheduler", "inbox:faults", "timers:faults", "dispatcher:faults", "watcher"} <= set(ready["loops"])
    check("serve alone, PostgreSQL restarted", postgres_cluster, sent, receiver)


def test_a_worker_rides_out_a_database_restart(postgres_cluster: PostgresCluster, redis_server: RedisServer,
                                               receiver: Receiver, tmp_path: Path) -> None:
    """`relance serve` + `relance worker` on PostgreSQL and Redis: steps that meet the restart are
    tried again (none fails its run), and runs whose jobs failed are found again by the sweeper
    within seconds, not when arq lets their job ids go (a minute)."""
    rules = tmp_path / "faults.yaml"
    rules.write_text(RULES % receiver.url, encoding="utf-8")
    env = environment(postgres_cluster.url, redis_server.url)
    key = api_key("faults", env)
    worker = Process(["worker", str(rules)], env, tmp_path / "worker.log")
    server, base = serve(rules, env, tmp_path / "serve.log")
    try:
        sent, down = asyncio.run(traffic_with_a_restart(base, key, postgres_cluster))
        back = time.monotonic()
        wait_until(lambda: all_sent(postgres_cluster, receiver), 45,
                   lambda: f"not all sent: {asyncio.run(counts(postgres_cluster.url))}\n{worker.output()}")
        caught_up = time.monotonic() - back
        assert worker.alive(), worker.output()
    finally:
        server.stop()
        worker.stop()
    print(f"worker: every message sent {caught_up:.1f} s after the traffic ended")
    assert down[0] == 503 and "database" in str(down[1]["detail"]), down
    check("serve + worker, PostgreSQL restarted", postgres_cluster, sent, receiver)
