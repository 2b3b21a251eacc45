"""A database for the store's tests: a fresh SQLite file, or the local PostgreSQL with no relance table."""
from __future__ import annotations

import asyncio
import os
from pathlib import Path

import asyncpg
import pytest

POSTGRES_URL = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test")


async def _empty_postgres() -> bool:
    """Drop the relance tables of the PostgreSQL database; False when it cannot be reached."""
    try:
        connection = await asyncpg.connect(POSTGRES_URL.replace("postgres://", "postgresql://", 1), timeout=3)
    except (OSError, asyncpg.PostgresError, asyncio.TimeoutError):
        return False
    try:
        tables = await connection.fetch("SELECT tablename FROM pg_tables WHERE schemaname = current_schema() "
                                        "AND tablename LIKE 'relance%'")
        if tables:
            await connection.execute(f"DROP TABLE {', '.join(row[0] for row in tables)} CASCADE")
    finally:
        await connection.close()
    return True


@pytest.fixture(params=["sqlite", "postgres"])
async def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database URL with no relance table in it."""
    if request.param == "sqlite":
        return f"sqlite://{tmp_path / 'store.sqlite3'}"
    if not await _empty_postgres():
        message = f"PostgreSQL not reachable at {POSTGRES_URL}; start it or set DATABASE_URL to run these tests"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return POSTGRES_URL
