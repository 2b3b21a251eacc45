"""Transient errors (engine/faults.py): told apart from a rule's errors, and never the end of a run or an event.

A step or an event that meets the database restarting rolls back and is taken again
later, once; only an error of the rule itself fails a run (tests/engine/test_runs.py).
"""
from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import redis.exceptions
from tortoise.exceptions import IntegrityError, OperationalError, TransactionManagementError

from relance.dsl import check_workspace
from relance.engine.faults import is_transient
from relance.engine.inbox import Received
from relance.engine.simulation import Simulation
from relance.plugins.registry import plugin_manager, store_for

from .conftest import T0, RecordingChannel, Shop
from .flaky_store import FlakyStore


def wrapped(error: Exception, wrapper: type[Exception]) -> Exception:
    """`error` as an ORM raises it: a wrapper raised from the driver's error."""
    try:
        try:
            raise error
        except Exception as cause:
            raise wrapper(cause) from cause
    except Exception as outer:
        return outer


def while_handling(error: Exception, then: Exception) -> Exception:
    """`then`, raised while handling `error` (a rollback failing on a connection already gone)."""
    try:
        try:
            raise error
        except Exception:
            raise then
    except Exception as outer:
        return outer


@pytest.mark.parametrize("error", [
    asyncpg.CannotConnectNowError("the database system is starting up"),
    asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
    asyncpg.AdminShutdownError("terminating connection due to administrator command"),
    asyncpg.SerializationError("could not serialize access due to concurrent update"),
    asyncpg.DeadlockDetectedError("deadlock detected"),
    asyncpg.LockNotAvailableError("canceling statement due to lock timeout"),
    asyncpg.TooManyConnectionsError("sorry, too many clients already"),
    asyncpg.InterfaceError("cannot perform operation: connection is closed"),
    ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 5432)"),
    ConnectionResetError(104, "Connection reset by peer"),
    OSError("Multiple exceptions: [Errno 111] Connect call failed ('127.0.0.1', 5432), [Errno 99] …"),
    TimeoutError(),
    redis.exceptions.ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused."),
    redis.exceptions.TimeoutError("Timeout reading from socket"),
    redis.exceptions.BusyLoadingError("Redis is loading the dataset in memory"),
    sqlite3.OperationalError("database is locked"),
    wrapped(asyncpg.SerializationError("could not serialize"), OperationalError),
    wrapped(asyncpg.ConnectionDoesNotExistError("closed"), TransactionManagementError),
    wrapped(sqlite3.OperationalError("database is locked"), OperationalError),
    while_handling(ConnectionResetError(104, "reset"), asyncpg.InterfaceError("connection is closed")),
], ids=lambda e: type(e).__name__)
def test_transient_errors_are_recognised_however_wrapped(error: Exception) -> None:
    assert is_transient(error)


@pytest.mark.parametrize("error", [
    TypeError("round() got a float for digits"),
    ValueError("bad value"),
    ZeroDivisionError("division by zero"),
    KeyError("cart"),
    FileNotFoundError(2, "No such file or directory"),
    PermissionError(13, "Permission denied"),
    asyncpg.UndefinedTableError('relation "relance_runs" does not exist'),
    asyncpg.UniqueViolationError("duplicate key value"),
    asyncpg.InterfaceError("cannot perform operation: another operation is in progress"),
    wrapped(asyncpg.UniqueViolationError("duplicate key value"), IntegrityError),
    wrapped(asyncpg.DataError("invalid input for query argument"), OperationalError),
    sqlite3.OperationalError("no such table: relance_runs"),
    redis.exceptions.ResponseError("WRONGTYPE Operation against a key holding the wrong kind of value"),
], ids=lambda e: type(e).__name__)
def test_errors_of_a_rule_or_a_bug_are_not_transient(error: Exception) -> None:
    assert not is_transient(error)


WORKSPACE = """\
workspace: shop
channels: {chat: {plugin: log}}
templates: {ping: {chat: "ping"}, pong: {chat: "pong"}}
rules:
  - id: r
    when: checkout.started
    steps: [tag vu, wait 1h, send chat ping, wait 1h, send chat pong]
"""


@pytest.fixture
async def flaky_shop(write: Callable[..., Path], functions, database: str) -> AsyncIterator[Callable[..., Any]]:
    """flaky_shop(yaml=WORKSPACE) → (a Shop whose store fails on demand, the FlakyStore)."""
    opened = []

    async def open_(text: str = WORKSPACE) -> tuple[Shop, FlakyStore]:
        workspace, problems = check_workspace([write(text)], functions)
        assert problems == []
        store = store_for(plugin_manager(load_entry_points=False), database)
        await store.open()
        opened.append(store)
        flaky, channel = FlakyStore(store), RecordingChannel()
        return Shop(Simulation(workspace, flaky, T0, {"log": channel}), channel), flaky  # type: ignore[arg-type]

    yield open_
    for store in opened:
        await store.close()


@pytest.mark.parametrize("method", ["transaction", "locked_run", "get_contact", "insert_message",
                                    "save_run"])
async def test_a_step_that_meets_a_restarting_database_is_taken_again_later_once(flaky_shop, method: str) -> None:
    shop, flaky = await flaky_shop()
    await shop.event("checkout.started")
    flaky.fail_next(method)
    with contextlib.suppress(asyncpg.CannotConnectNowError):  # to the scheduler's loop, which backs off and
        await shop.wait(timedelta(hours=1))                     # tries again (steps taken together retry at once)
    [run] = await shop.engine.store.runs("shop")
    assert flaky.failed == 1 and run.end_reason is None  # rolled back, still due: not failed
    await shop.wait(timedelta(hours=3))
    [run] = await shop.engine.store.runs("shop")
    assert (run.status, [m.body for m in shop.channel.sent]) == ("finished", ["ping", "pong"])
    assert [e.get("node") for e in run.trace if e.get("node")] == [f"r/steps/{n}" for n in range(5)]  # each once


@pytest.mark.parametrize("method", ["claim_inbox", "transaction", "identity_owners", "save_contacts", "create_run",
                                    "save_run", "assign_contacts", "insert_decisions"])  # the calls on the path
async def test_an_event_that_meets_a_restarting_database_stays_in_the_inbox(flaky_shop, method: str) -> None:
    shop, flaky = await flaky_shop()
    await shop.engine.accept([Received(shop.make_event("checkout.started", id="c1"))])
    flaky.fail_next(method)
    with pytest.raises(asyncpg.CannotConnectNowError):  # the inbox's loop backs off and tries again
        await shop.engine.process_inbox()
    assert shop.kinds("event.failed") == []  # not set aside
    await shop.engine.process_inbox()
    await shop.wait(timedelta(hours=3))
    assert [m.body for m in shop.channel.sent] == ["ping", "pong"]
    [run] = await shop.engine.store.runs("shop")
    assert run.status == "finished" and run.trigger_event["id"] == "c1"


async def test_sent_messages_are_recorded_once_the_database_is_back_never_sent_again(flaky_shop) -> None:
    shop, flaky = await flaky_shop()
    await shop.event("checkout.started")
    flaky.fail_next("save_messages", 3)  # the database restarts while the ping is handed to its channel
    await shop.wait(timedelta(hours=1))
    [message] = await shop.engine.store.messages("shop")
    assert message.status == "sent" and flaky.failed == 3
    assert await shop.engine.recover() == 0  # nothing left claimed for a restart to send again
    await shop.wait(timedelta(hours=2))
    assert [m.body for m in shop.channel.sent] == ["ping", "pong"]


TIMED = """\
workspace: shop
timezone: Europe/Paris
channels: {chat: {plugin: log}}
templates: {ping: {chat: "ping"}}
rules:
  - id: rappel
    when: 3d before contact.next_payment_at at 10:00
    steps: [send chat ping]
"""


async def test_a_timed_pass_the_database_cuts_short_is_taken_again_from_where_it_began(flaky_shop) -> None:
    shop, flaky = await flaky_shop(TIMED)
    await shop.event("contact.updated", {"email": "a@x.test", "next_payment_at": "2026-03-10T00:00:00+01:00"})
    due = datetime(2026, 3, 7, 9, 0, tzinfo=timezone.utc)  # 10:00 in Paris, 3 days before
    await shop.simulation.advance_to(due - timedelta(minutes=30))
    flaky.fail_next("contacts")  # the pass that covers 10:00 cannot read its contacts
    with contextlib.suppress(asyncpg.CannotConnectNowError):
        await shop.simulation.advance_to(due + timedelta(minutes=30))
    assert flaky.failed == 1
    await shop.wait(timedelta(hours=3))
    assert [e.at for e in shop.kinds("message.sent")] == [due]  # not lost with its pass, and once
