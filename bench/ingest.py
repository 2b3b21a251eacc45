"""Ingestion speed over HTTP on 127.0.0.1: Relance vs a bare Starlette endpoint, same run.

    python bench/ingest.py [--events 2000] [--batch 100] [--concurrency 8]

Both are real uvicorn processes on a fresh SQLite file. The baseline parses the same JSON
and inserts each event with Tortoise (one transaction per request); Relance validates,
deduplicates and stores them (a group commit), answers 202, then runs the rules of
rules.example.yaml on every event. Prints events/s, p50 and p99 latency per request, the
rate until every event was processed (read from /metrics), and ratios to the baseline.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from relance.engine.records import EventRecord
from relance.plugins.builtins.tortoise_store import TortoiseStore

ROOT = Path(__file__).resolve().parent.parent


def baseline_app(database: str) -> Starlette:
    """Parse the JSON, write each event row to the same database, answer 202."""
    store = TortoiseStore(database)

    async def events(request: Request) -> JSONResponse:
        body = json.loads(await request.body())
        items = body if isinstance(body, list) else [body]
        now = datetime.now(timezone.utc)
        async with store.transaction() as tx:
            for item in items:
                await tx.insert_event(EventRecord("bench", item["id"], item["type"], now, now, item))
        return JSONResponse({"accepted": len(items)}, status_code=202)

    async def lifespan(app: Starlette):  # type: ignore[no-untyped-def]
        await store.open()
        yield
        await store.close()

    return Starlette(routes=[Route("/v1/events", events, methods=["POST"])], lifespan=lifespan)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(command: list[str], log: Path, port: int) -> subprocess.Popen[bytes]:
    """Start a server process and wait until its port accepts connections."""
    with log.open("wb") as sink:
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT, cwd=log.parent)
    deadline = time.monotonic() + 30
    while True:
        if process.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"server did not start:\n{log.read_text()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return process
        except OSError:
            time.sleep(0.05)


def events(prefix: str, count: int) -> list[dict[str, object]]:
    kinds = ["page.viewed", "checkout.started", "message.received", "order.completed"]
    return [{"id": f"{prefix}-{n}", "type": kinds[n % 4], "contact": {"email": f"c{n % 1000}@example.test"},
             "properties": {"cart": {"total": 20 + n % 90}, "text": "je veux commander", "revenue": 30}}
            for n in range(count)]


async def load(url: str, headers: dict[str, str], bodies: list[object], concurrency: int) -> tuple[float, list[float]]:
    """Send every body with `concurrency` requests in flight; (seconds, latency of each)."""
    queue: asyncio.Queue[object] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    latencies: list[float] = []

    async def worker(client: httpx.AsyncClient) -> None:
        while not queue.empty():
            body = queue.get_nowait()
            started = time.perf_counter()
            response = await client.post(url, json=body, headers=headers)
            latencies.append(time.perf_counter() - started)
            if response.status_code != 202:
                raise SystemExit(f"{url}: {response.status_code} {response.text[:300]}")

    async with httpx.AsyncClient(timeout=60) as client:
        started = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
        return time.perf_counter() - started, latencies


def line(name: str, count: int, seconds: float, latencies: list[float]) -> str:
    ordered = sorted(latencies)
    p99 = ordered[max(0, int(len(ordered) * 0.99) - 1)]
    return (f"  {name:<28} {count / seconds:8,.0f} events/s   p50 {statistics.median(ordered) * 1000:7.1f} ms"
            f"   p99 {p99 * 1000:7.1f} ms")


INBOX = re.compile(r'relance_state\{state="events_inbox",workspace="[^"]+"\} (\S+)')


async def drained(base: str, headers: dict[str, str]) -> float:
    """Wait until the server's inbox is empty (every accepted event processed); when that was."""
    async with httpx.AsyncClient(timeout=60) as client:
        while True:
            text = (await client.get(f"{base}/metrics", headers=headers)).text
            if all(float(n) == 0 for n in INBOX.findall(text)):
                return time.perf_counter()
            await asyncio.sleep(0.02)


async def measure(base: str, headers: dict[str, str], prefix: str, options: argparse.Namespace,
                  processing: bool = False) -> dict[str, float]:
    """Single events, then batches; with `processing`, also the time until all were processed."""
    url = f"{base}/v1/events"
    single = events(f"{prefix}-s", options.events)
    started = time.perf_counter()
    seconds, latencies = await load(url, headers, list(single), options.concurrency)
    print(line(f"{prefix}, one event a request", len(single), seconds, latencies))
    figures = {"single": len(single) / seconds}
    if processing:
        figures["single processed"] = len(single) / (await drained(base, headers) - started)
        print(f"  {'  … all processed':<28} {figures['single processed']:8,.0f} events/s (accepted to processed)")
    batched = events(f"{prefix}-b", options.events)
    bodies = [batched[i:i + options.batch] for i in range(0, len(batched), options.batch)]
    started = time.perf_counter()
    batch_seconds, batch_latencies = await load(url, headers, bodies, max(1, options.concurrency // 4))
    print(line(f"{prefix}, batches of {options.batch}", len(batched), batch_seconds, batch_latencies))
    figures["batch"] = len(batched) / batch_seconds
    if processing:
        figures["batch processed"] = len(batched) / (await drained(base, headers) - started)
        print(f"  {'  … all processed':<28} {figures['batch processed']:8,.0f} events/s (accepted to processed)")
    return figures


async def main() -> None:
    arguments = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    arguments.add_argument("--events", type=int, default=2000)
    arguments.add_argument("--batch", type=int, default=100)
    arguments.add_argument("--concurrency", type=int, default=8)
    arguments.add_argument("--baseline-server", nargs=2, metavar=("PORT", "DATABASE"), help=argparse.SUPPRESS)
    options = arguments.parse_args()
    if options.baseline_server:
        port, database = options.baseline_server
        config = uvicorn.Config(baseline_app(database), host="127.0.0.1", port=int(port), log_level="warning")
        await uvicorn.Server(config).serve()
        return
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        port = free_port()
        baseline = start([sys.executable, __file__, "--baseline-server", str(port),
                          f"sqlite://{folder / 'baseline.sqlite3'}"], folder / "baseline.log", port)
        print(f"{options.events} events, concurrency {options.concurrency}, SQLite, 127.0.0.1:")
        try:
            bare = await measure(f"http://127.0.0.1:{port}", {}, "bare Starlette + INSERT", options)
        finally:
            baseline.send_signal(signal.SIGTERM)
            baseline.wait(30)
        port = free_port()
        relance = start([sys.executable, "-m", "relance.server", "serve", str(ROOT / "rules.example.yaml"),
                         "--port", str(port), "--database-url", f"sqlite://{folder / 'relance.sqlite3'}"],
                        folder / "relance.log", port)
        try:
            key = re.search(r"rk_[A-Za-z0-9_-]+", (folder / "relance.log").read_text())
            assert key, (folder / "relance.log").read_text()
            ours = await measure(f"http://127.0.0.1:{port}", {"Authorization": f"Bearer {key.group(0)}"},
                                 "Relance (whole engine)", options, processing=True)
        finally:
            relance.send_signal(signal.SIGTERM)
            relance.wait(30)
    print(f"ratio to the baseline (accepted: stored durably, answered 202): single {ours['single'] / bare['single']:.2f}, "
          f"batches {ours['batch'] / bare['batch']:.2f} (goal for batches: at least 0.5)")
    print(f"ratio to the baseline (until processed by the engine): single {ours['single processed'] / bare['single']:.2f}, "
          f"batches {ours['batch processed'] / bare['batch']:.2f}")


if __name__ == "__main__":
    asyncio.run(main())
