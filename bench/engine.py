"""Engine speed: events per second through the whole engine on SQLite, and cost per event vs rule count.

    python bench/engine.py [--contacts 10000] [--events-per-size 1000]

Runs the rules of rules.example.yaml on a SQLite file with a virtual clock (waits are
scheduled, not awaited). Then measures the same event stream with 10, 100 and 1,000
extra rules listening to other event types: the cost per event should stay flat.
"""
from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from relance.dsl import compile_workspace
from relance.dsl.graph import Workspace
from relance.engine.clock import VirtualClock
from relance.engine.engine import Engine
from relance.engine.events import Event, parse_event
from relance.plugins.registry import channels, function_registry, plugin_manager, scorers, store_for

ROOT = Path(__file__).resolve().parent.parent
START = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
MESSAGES = ["je veux commander, où je paie ?", "Est-ce que ça marche sur ma peau ?", "merci"]


def event_stream(contacts: int, count: int, seed: int = 7) -> list[Event]:
    """A shop's day: page views, carts, lead messages and orders spread over `contacts`."""
    rng = random.Random(seed)
    events = []
    for n in range(count):
        who = rng.randrange(contacts)
        kind = rng.choices(["page.viewed", "checkout.started", "message.received", "order.completed"],
                           weights=[50, 25, 15, 10])[0]
        properties: dict[str, object] = {"cart": {"total": rng.randrange(5, 200)}} if kind == "checkout.started" else {}
        if kind == "message.received":
            properties = {"text": rng.choice(MESSAGES), "channel": "instagram"}
        if kind == "order.completed":
            properties = {"revenue": rng.randrange(10, 300)}
        events.append(parse_event({"id": f"ev-{n}", "type": kind, "at": (START + timedelta(seconds=n)).isoformat(),
                                   "contact": {"email": f"c{who}@example.test"}, "properties": properties}))
    return events


def with_extra_rules(base: str, extra: int) -> str:
    rules = "".join(f"  - id: other-{i}\n    when: other{i}.happened where event.x > {i}\n"
                    f"    steps: [wait 1d, tag t{i}]\n" for i in range(extra))
    return base + "\n" + rules


async def measure(workspace: Workspace, events: list[Event], folder: Path, name: str) -> list[float]:
    """Ingest every event in order on a fresh SQLite file; the seconds each one took."""
    manager = plugin_manager()
    store = store_for(manager, f"sqlite://{folder / name}.sqlite3")
    await store.open()
    clock = VirtualClock(START)
    engine = Engine(workspace, store, clock, channels(manager), scorers(manager))
    timings = []
    for event in events:
        clock.set(event.at)
        started = time.perf_counter()
        await engine.ingest(event)
        timings.append(time.perf_counter() - started)
    await store.close()
    return timings


def summary(timings: list[float]) -> str:
    ordered = sorted(timings)
    p99 = ordered[int(len(ordered) * 0.99) - 1]
    return (f"{len(timings) / sum(timings):8,.0f} events/s   mean {statistics.mean(timings) * 1000:6.2f} ms   "
            f"p99 {p99 * 1000:6.2f} ms")


async def main() -> None:
    arguments = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    arguments.add_argument("--contacts", type=int, default=10_000)
    arguments.add_argument("--events", type=int, default=10_000, help="events for the main measurement")
    arguments.add_argument("--events-per-size", type=int, default=1_000)
    options = arguments.parse_args()
    functions = function_registry(plugin_manager())
    base = (ROOT / "rules.example.yaml").read_text(encoding="utf-8")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "base.yaml").write_text(base, encoding="utf-8")
        workspace = compile_workspace([folder / "base.yaml"], functions)
        events = event_stream(options.contacts, options.events)
        timings = await measure(workspace, events, folder, "main")
        print(f"rules.example.yaml ({len(workspace.rules)} rules), {options.contacts:,} contacts, "
              f"{len(events):,} events on SQLite:")
        print(f"  {summary(timings)}")

        print(f"cost per event as rules listening to other event types are added ({options.events_per_size} events):")
        small = event_stream(options.contacts, options.events_per_size, seed=11)
        baseline = None
        for extra in (10, 100, 1000):
            path = folder / f"rules-{extra}.yaml"
            path.write_text(with_extra_rules(base, extra), encoding="utf-8")
            sized = compile_workspace([path], functions)
            mean = statistics.mean(await measure(sized, small, folder, f"size-{extra}"))
            baseline = baseline or mean
            print(f"  {len(sized.rules):5d} rules: {mean * 1000:6.2f} ms/event   ratio to 10 extra rules {mean / baseline:.2f}")


if __name__ == "__main__":
    asyncio.run(main())
