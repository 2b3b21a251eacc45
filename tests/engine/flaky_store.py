"""A store that fails as a restarting database does: everything while `down`, or chosen calls once.

It wraps a real store (SQLite or PostgreSQL) and its transactions; a failure raises
asyncpg's CannotConnectNowError ("the database system is starting up"), or the error
given, before the real call, so a transaction that fails rolls back as it would.
"""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import asyncpg

from relance.engine.store import Store


def starting_up() -> Exception:
    return asyncpg.CannotConnectNowError("the database system is starting up")


class FlakyStore:
    """`down = True`: every call fails; `fail_next("save_run", 2)`: the next two such calls fail."""

    def __init__(self, store: Store, error: Callable[[], Exception] = starting_up) -> None:
        self.store, self.error = store, error
        self.down = False
        self.failures: dict[str, int] = {}
        self.failed = 0  # calls that failed so far

    def fail_next(self, method: str, times: int = 1) -> None:
        self.failures[method] = self.failures.get(method, 0) + times

    def check(self, method: str) -> None:
        if self.down or self.failures.get(method):
            if not self.down:
                self.failures[method] -= 1
            self.failed += 1
            raise self.error()

    def __getattr__(self, name: str) -> Any:
        return _flaky(self, getattr(self.store, name), name)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Any]:
        self.check("transaction")
        async with self.store.transaction() as tx:
            yield _FlakyTransaction(tx, self)


class _FlakyTransaction:
    def __init__(self, tx: Any, flaky: FlakyStore) -> None:
        self.tx, self.flaky = tx, flaky

    def __getattr__(self, name: str) -> Any:
        return _flaky(self.flaky, getattr(self.tx, name), name)


def _flaky(flaky: FlakyStore, attribute: Any, name: str) -> Any:
    if not asyncio.iscoroutinefunction(attribute):
        return attribute

    async def call(*arguments: Any, **options: Any) -> Any:
        flaky.check(name)
        return await attribute(*arguments, **options)
    return call
