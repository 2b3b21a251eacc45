"""Redis stopped under traffic, on a private redis-server, and started again empty: `relance worker`
rides it out, the sweeper brings back what Redis lost, nothing is lost or sent twice, and /readyz
and /metrics say that Redis is down while it is.
"""
from __future__ import annotations

import asyncio
import os
from pathlib import Path

import httpx
import pytest

from .clusters import PostgresCluster, RedisServer
from .traffic import (EVENTS, RULES, SENDING, Process, Receiver, Sent, all_sent, api_key, check, counts, environment,
                      readiness, send_events, serve, until_not_ready, wait_until)

pytestmark = pytest.mark.slow

DOWN_AFTER = 1.5  # seconds into the traffic
DOWN_FOR = float(os.environ.get("RELANCE_TEST_REDIS_DOWN", "10"))  # seconds Redis stays stopped


async def traffic_with_redis_away(base: str, key: str, redis: RedisServer) -> tuple[Sent, tuple[int, dict], str]:
    """Events flow; Redis stops, then starts again DOWN_FOR seconds later with nothing in it.
    Returns what the sender saw, and /readyz's and /metrics' answers while Redis was away."""
    sending = asyncio.create_task(send_events(base, key, EVENTS, EVENTS / SENDING))
    await asyncio.sleep(DOWN_AFTER)
    redis.stop()
    down = await until_not_ready(base, DOWN_FOR / 2)
    async with httpx.AsyncClient(timeout=10) as client:
        metrics = await client.get(f"{base}/metrics")
    assert metrics.status_code == 200, metrics.text
    await asyncio.sleep(DOWN_FOR / 2)
    await asyncio.to_thread(redis.start)
    return await sending, down, metrics.text


def test_a_worker_rides_out_redis_away_and_the_sweeper_brings_back_what_it_lost(
        postgres_cluster: PostgresCluster, redis_server: RedisServer, receiver: Receiver, tmp_path: Path) -> None:
    rules = tmp_path / "faults.yaml"
    rules.write_text(RULES % receiver.url, encoding="utf-8")
    env = environment(postgres_cluster.url, redis_server.url)
    key = api_key("faults", env)
    worker = Process(["worker", str(rules)], env, tmp_path / "worker.log")
    server, base = serve(rules, env, tmp_path / "serve.log")
    try:
        sent, down, metrics = asyncio.run(traffic_with_redis_away(base, key, redis_server))
        wait_until(lambda: all_sent(postgres_cluster, receiver), 60,
                   lambda: f"not all sent: {asyncio.run(counts(postgres_cluster.url))}\n{worker.output()}")
        assert worker.alive(), worker.output()  # it rode the outage out
        wait_until(lambda: asyncio.run(readiness(base))[0] == 200, 30,
                   lambda: f"not ready again: {asyncio.run(readiness(base))}")
        _, ready = asyncio.run(readiness(base))
    finally:
        server.stop()
        worker.stop()
    assert down[0] == 503 and "redis" in str(down[1]["detail"]) and down[1]["database"] == "ok", down
    assert 'relance_up{component="redis"} 0.0' in metrics and 'relance_up{component="database"} 1.0' in metrics
    assert ready["redis"] == "ok" and all(loop["ok"] for loop in ready["loops"].values())  # type: ignore[union-attr]
    assert "queue failed" in worker.output(10_000_000) and "queue works again" in worker.output(10_000_000)
    check("serve + worker, Redis away", postgres_cluster, sent, receiver, refused=False)
