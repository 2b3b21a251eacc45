"""The store's migrations: a database at any earlier schema version upgrades to the schema a fresh one gets."""
from __future__ import annotations

from typing import Any

import pytest

from relance.plugins.builtins import tortoise_migrations as migrations
from relance.plugins.builtins.tortoise_migrations import AddColumn, AddIndex
from relance.plugins.builtins.tortoise_store import TortoiseStore


async def _schema(db: Any) -> tuple[set[tuple[Any, ...]], set[tuple[Any, ...]]]:
    """Columns (table, name, type, not null) and indexes (table, columns, unique, partial), names aside:
    the models name their indexes as Tortoise does, migrations by what they are for. Defaults aside too:
    a NOT NULL column added to a table needs one for the rows already there; the models give theirs in Python."""
    if db.capabilities.dialect == "sqlite":
        _, tables = await db.execute_query("SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'relance%'")
        columns, indexes = set(), set()
        for (table,) in map(tuple, tables):
            _, found = await db.execute_query(f"PRAGMA table_info({table})")
            columns |= {(table, row[1], row[2].upper(), bool(row[3] or row[5])) for row in map(tuple, found)}
            _, listed = await db.execute_query(f"PRAGMA index_list({table})")
            for _, name, unique, _, partial in map(tuple, listed):
                _, info = await db.execute_query(f"PRAGMA index_info({name})")
                indexes.add((table, tuple(row[2] for row in map(tuple, info)), bool(unique), bool(partial)))
        return columns, indexes
    _, found = await db.execute_query(
        "SELECT table_name, column_name, data_type, is_nullable FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND table_name LIKE 'relance%'")
    _, listed = await db.execute_query(
        "SELECT tablename, regexp_replace(indexdef, 'INDEX \\S+ ON', 'INDEX ON') FROM pg_indexes "
        "WHERE schemaname = current_schema() AND tablename LIKE 'relance%'")
    return ({(r[0], r[1], r[2], r[3] == "NO") for r in map(tuple, found)}, {tuple(r) for r in map(tuple, listed)})


async def _indexes_on(db: Any, table: str, column: str) -> list[str]:
    """SQLite's indexes that hold a column (it drops no indexed column)."""
    _, listed = await db.execute_query(f"PRAGMA index_list({table})")
    found = []
    for row in map(tuple, listed):
        _, info = await db.execute_query(f"PRAGMA index_info({row[1]})")
        if column in [r[2] for r in map(tuple, info)]:
            found.append(row[1])
    return found


async def _back_to(db: Any, version: int) -> None:
    """Undo the migrations after `version` on a database of the latest schema."""
    for migration in reversed(migrations.MIGRATIONS):
        if migration.version <= version:
            break
        for table in migration.tables:
            await db.execute_script(f"DROP TABLE {table}")
        for change in reversed(migration.changes):
            if isinstance(change, AddIndex):
                await db.execute_script(f"DROP INDEX IF EXISTS {change.name}")
            elif db.capabilities.dialect == "sqlite":
                for index in await _indexes_on(db, change.table, change.column):
                    await db.execute_script(f"DROP INDEX {index}")
                await db.execute_script(f"ALTER TABLE {change.table} DROP COLUMN {change.column}")
            else:
                await db.execute_script(f"ALTER TABLE {change.table} DROP COLUMN {change.column}")
    if version:
        await migrations.set_version(db, version)
    else:  # from before the schema was recorded
        await db.execute_script("DROP TABLE relance_schema")


def test_migrations_are_numbered_in_order_and_name_what_they_change() -> None:
    assert [m.version for m in migrations.MIGRATIONS] == list(range(1, migrations.LATEST + 1))
    for migration in migrations.MIGRATIONS:
        assert migration.changes or migration.tables
        for change in migration.changes:
            assert isinstance(change, (AddColumn, AddIndex)) and change.table.startswith("relance_")


def test_a_change_is_written_for_each_dialect() -> None:
    column = AddColumn("relance_messages", "send_at", "{timestamp}")
    assert column.sql("sqlite") == "ALTER TABLE relance_messages ADD COLUMN send_at TIMESTAMP"
    assert column.sql("postgres") == "ALTER TABLE relance_messages ADD COLUMN send_at TIMESTAMPTZ"
    index = AddIndex("relance_messages", "idx_p", ("workspace", "id"), "status = 'pending'")
    assert index.sql("sqlite") == index.sql("postgres") == \
        "CREATE INDEX IF NOT EXISTS idx_p ON relance_messages (workspace, id) WHERE status = 'pending'"


@pytest.mark.parametrize("version", range(migrations.LATEST))
async def test_a_database_at_an_earlier_version_upgrades_to_the_fresh_schema(empty_database: str, version: int) -> None:
    store = TortoiseStore(empty_database)
    await store.open()
    try:
        db = store.context.db()
        fresh = await _schema(db)
        await _back_to(db, version)
        assert await _schema(db) != fresh
    finally:
        await store.close()
    upgraded = TortoiseStore(empty_database)
    await upgraded.open()
    try:
        db = upgraded.context.db()
        assert await _schema(db) == fresh
        assert await migrations.schema_version(db) == migrations.LATEST
        assert await migrations.migrate(db, fresh=False) == []  # nothing left to do
    finally:
        await upgraded.close()
