"""Engine speed: events processed per second, as a ratio to the storage limit measured in the same run.

    python bench/engine.py [--events 10000] [--contacts 10000] [--one-contact 10000] [--postgres]

1. On SQLite: the events of a shop's day are stored with group commit, 500 at a time (the
   storage limit: what the database takes at most, with nothing done about them), then the
   engine processes them from its inbox; events/s of both and their ratio (goal: >= 0.1).
2. One contact sends `--one-contact` events to a rule with `entry: always` and a wait: the
   cost of its events as its open runs grow, first thousand against last (goal: flat, ratio ~1).
3. The cost per event as 10, 100 and 1,000 rules listening to other event types are added.
4. With `--postgres`: the same backlog on PostgreSQL (DATABASE_URL, default the local `test`
   database: its relance_* tables are emptied) processed by one `relance serve`, then by two;
   the ratio of two to one (goal 1.6x where cores allow) and the ceiling on this machine from
   the CPU measured (a server's own CPU per event against PostgreSQL's), as bench/timers.py does.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from relance.dsl import compile_workspace  # noqa: E402
from relance.dsl.graph import Workspace  # noqa: E402
from relance.engine.clock import VirtualClock  # noqa: E402
from relance.engine.engine import Engine  # noqa: E402
from relance.engine.events import Event, parse_event  # noqa: E402
from relance.engine.inbox import Received  # noqa: E402
from relance.plugins.registry import channels, function_registry, plugin_manager, scorers, store_for  # noqa: E402

START = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
MESSAGES = ["je veux commander, où je paie ?", "Est-ce que ça marche sur ma peau ?", "merci"]
DATABASE = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test")
ONE_CONTACT = """\
workspace: one
channels: {chat: {plugin: log}}
templates: {ping: {chat: "ping"}}
rules:
  - id: r
    when: page.viewed
    entry: always
    exit: if contact.unsubscribed
    steps: [wait 1d, send chat ping]
"""


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
            properties = {"revenue": rng.randrange(10, 300), "order_id": f"o{n}"}
        events.append(parse_event({"id": f"ev-{n}", "type": kind, "at": (START + timedelta(seconds=n)).isoformat(),
                                   "contact": {"email": f"c{who}@example.test"}, "properties": properties}))
    return events


def with_extra_rules(base: str, extra: int) -> str:
    rules = "".join(f"  - id: other-{i}\n    when: other{i}.happened where event.x > {i}\n"
                    f"    steps: [wait 1d, tag t{i}]\n" for i in range(extra))
    return base + "\n" + rules


async def _engine(workspace: Workspace, path: Path) -> Engine:
    manager = plugin_manager()
    store = store_for(manager, f"sqlite://{path}")
    await store.open()
    return Engine(workspace, store, VirtualClock(START), channels(manager), scorers(manager))


async def store_then_process(workspace: Workspace, events: list[Event], path: Path) -> tuple[float, float]:
    """Seconds to store the events (group commits of 500), then to process them from the inbox."""
    engine = await _engine(workspace, path)
    engine.clock.set(events[-1].at)  # type: ignore[attr-defined]
    started = time.perf_counter()
    for first in range(0, len(events), 500):
        await engine.accept([Received(event) for event in events[first:first + 500]])
    stored = time.perf_counter() - started
    started = time.perf_counter()
    processed = await engine.process_inbox()
    await engine.dispatch()  # the messages queued, sent: the whole engine
    processing = time.perf_counter() - started
    assert processed == len(events), processed
    await engine.store.close()
    return stored, processing


async def per_event(workspace: Workspace, events: list[Event], path: Path, chunk: int = 100) -> list[float]:
    """Seconds per event, each chunk of events accepted then processed, in order."""
    engine = await _engine(workspace, path)
    costs = []
    for first in range(0, len(events), chunk):
        part = events[first:first + chunk]
        engine.clock.set(part[-1].at)  # type: ignore[attr-defined]
        started = time.perf_counter()
        await engine.accept([Received(event) for event in part])
        await engine.process_inbox()
        await engine.dispatch()
        costs += [(time.perf_counter() - started) / len(part)] * len(part)
    await engine.store.close()
    return costs


def sqlite_figures(options: argparse.Namespace, folder: Path) -> None:
    functions = function_registry(plugin_manager())
    manager = plugin_manager()
    base = (ROOT / "rules.example.yaml").read_text(encoding="utf-8")
    (folder / "base.yaml").write_text(base, encoding="utf-8")
    workspace = compile_workspace([folder / "base.yaml"], functions, channels(manager))
    events = event_stream(options.contacts, options.events)
    stored, processing = asyncio.run(store_then_process(workspace, events, folder / "main.sqlite3"))
    limit, rate = len(events) / stored, len(events) / processing
    print(f"rules.example.yaml ({len(workspace.rules)} rules), {options.contacts:,} contacts, {len(events):,} events, SQLite:")
    print(f"  stored with group commit (the storage limit): {limit:9,.0f} events/s")
    print(f"  processed by the engine from its inbox:       {rate:9,.0f} events/s "
          f"({processing / len(events) * 1000:.2f} ms an event)")
    print(f"  ratio to the storage limit: {rate / limit:.3f} (goal >= 0.1)")

    (folder / "one.yaml").write_text(ONE_CONTACT, encoding="utf-8")
    one = compile_workspace([folder / "one.yaml"], functions, channels(manager))
    visits = [parse_event({"id": f"v{n}", "type": "page.viewed", "at": (START + timedelta(seconds=n)).isoformat(),
                           "contact": {"email": "same@example.test"}}) for n in range(options.one_contact)]
    costs = asyncio.run(per_event(one, visits, folder / "one.sqlite3"))
    first, last = statistics.mean(costs[:1000]), statistics.mean(costs[-1000:])
    print(f"one contact, {len(visits):,} events to a rule with entry: always and a wait (its open runs grow to "
          f"{len(visits):,}):")
    print(f"  first 1,000: {first * 1000:.2f} ms an event, last 1,000: {last * 1000:.2f} ms; "
          f"ratio {last / first:.2f} (goal: flat, ~1)")

    print(f"cost per event as rules listening to other event types are added ({options.events_per_size} events):")
    small = event_stream(options.contacts, options.events_per_size, seed=11)
    baseline = None
    for extra in (10, 100, 1000):
        path = folder / f"rules-{extra}.yaml"
        path.write_text(with_extra_rules(base, extra), encoding="utf-8")
        sized = compile_workspace([path], functions, channels(manager))
        _, seconds = asyncio.run(store_then_process(sized, small, folder / f"size-{extra}.sqlite3"))
        mean = seconds / len(small)
        baseline = baseline or mean
        print(f"  {len(sized.rules):5d} rules: {mean * 1000:6.2f} ms/event   ratio to 10 extra rules {mean / baseline:.2f}")


# ---------------------------------------------------------------- PostgreSQL, one and two servers
def cpu_seconds(pids: list[int]) -> float:
    """CPU time (user + system) used so far by these processes, from /proc (Linux)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def postgres_pids() -> list[int]:
    found = []
    for comm in Path("/proc").glob("[0-9]*/comm"):
        try:
            if comm.read_text().strip() == "postgres":
                found.append(int(comm.parent.name))
        except OSError:
            continue
    return found


async def _backlog(events: list[Event]) -> None:
    """Empty the tables, then the events stored unprocessed, as a burst of intake leaves them."""
    from relance.plugins.builtins import tortoise_models as m
    from relance.plugins.builtins.tortoise_store import TortoiseStore
    from tests.engine.conftest import TABLES

    store = TortoiseStore(DATABASE)
    await store.open()
    await store.context.db().execute_script(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY")
    now = datetime.now(timezone.utc)
    for first in range(0, len(events), 2000):
        await m.Event.bulk_create([m.Event(workspace="maison-demo", event_id=e.id, type=e.type, at=now, received_at=now,
                                           payload={**e.as_json(), "at": now.isoformat()}, processed=False)
                                   for e in events[first:first + 2000]])
    await store.close()


async def _inbox_left() -> int:
    from relance.plugins.builtins import tortoise_models as m
    from relance.plugins.builtins.tortoise_store import TortoiseStore

    store = TortoiseStore(DATABASE)
    await store.open()
    try:
        return await m.Event.filter(workspace="maison-demo", processed=False).count()
    finally:
        await store.close()


def servers_process(count: int, events: list[Event], rules: Path, folder: Path) -> tuple[float, float, float]:
    """Seconds for `count` servers to process the backlog; their CPU seconds and PostgreSQL's."""
    asyncio.run(_backlog(events))
    env = {**os.environ, "DATABASE_URL": DATABASE, "REDIS_URL": os.environ.get("RELANCE_TEST_REDIS_URL",
                                                                              "redis://127.0.0.1:6379/15"),
           "RELANCE_LOG_LEVEL": "warning"}
    database_cpu = {pid: cpu_seconds([pid]) for pid in postgres_pids()}
    started = time.perf_counter()
    processes = []
    for n in range(count):
        log = (folder / f"serve-{count}-{n}.log").open("wb")
        processes.append(subprocess.Popen([sys.executable, "-m", "relance.server", "serve", str(rules), "--port",
                                           str(18_600 + n)], env=env, stdout=log, stderr=subprocess.STDOUT, cwd=folder))
    try:
        while asyncio.run(_inbox_left()):
            time.sleep(0.2)
        elapsed = time.perf_counter() - started
        own = cpu_seconds([p.pid for p in processes])
        database = sum(cpu_seconds([pid]) - database_cpu.get(pid, 0.0) for pid in postgres_pids())
        return elapsed, own, database
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            process.wait(60)


def postgres_figures(options: argparse.Namespace, folder: Path) -> None:
    events = event_stream(options.contacts, options.events, seed=3)
    print(f"PostgreSQL, {len(events):,} events waiting in the inbox, processed by relance serve "
          f"({os.cpu_count()} cores shared with PostgreSQL):")
    rates, shares = {}, {}
    for count in (1, 2):
        elapsed, own, database = servers_process(count, events, ROOT / "rules.example.yaml", folder)
        rates[count] = len(events) / elapsed
        shares[count] = (own * 1000 / len(events), database * 1000 / len(events))
        print(f"  {count} server{'s' if count > 1 else ' '}: {rates[count]:7,.0f} events/s "
              f"(start-up included); CPU an event: servers {shares[count][0]:.2f} ms, "
              f"PostgreSQL {shares[count][1]:.2f} ms")
    own, shared = shares[1]
    print(f"two servers / one: {rates[2] / rates[1]:.2f}x (goal 1.6x where cores allow)")
    cores = os.cpu_count() or 1
    if own + shared:
        ceiling = min(2.0, cores * 1000 / (own + shared) / rates[1])
        print(f"  ceiling on {cores} cores shared with PostgreSQL: an event needs {own:.2f} + {shared:.2f} ms of CPU, "
              f"so this machine processes at most {cores * 1000 / (own + shared):,.0f} events/s: "
              f"{ceiling:.2f}x one server")

def main() -> None:
    arguments = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    arguments.add_argument("--contacts", type=int, default=10_000)
    arguments.add_argument("--events", type=int, default=10_000, help="events for the main measurement")
    arguments.add_argument("--one-contact", type=int, default=10_000, help="events of the one contact")
    arguments.add_argument("--events-per-size", type=int, default=1_000)
    arguments.add_argument("--postgres", action="store_true", help="also one and two servers on PostgreSQL")
    options = arguments.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        sqlite_figures(options, Path(tmp))
        if options.postgres:
            postgres_figures(options, Path(tmp))


if __name__ == "__main__":
    main()
