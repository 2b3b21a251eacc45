"""Schema changes of the built-in store, applied in order at start-up and recorded in `relance_schema`.

A new database gets the current schema from the models and is marked up to date; an older
one gets each migration it lacks, oldest first, each in its own transaction. A schema
change is therefore two edits: the model, and a migration appended here that brings an
existing database to it (written for both SQLite and PostgreSQL).
"""
from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

logger = logging.getLogger("relance.store")
TABLE = re.compile(r"(?:ALTER TABLE|\bON)\s+(\w+)")
TYPES = {"sqlite": {"timestamp": "TIMESTAMP"}, "postgres": {"timestamp": "TIMESTAMPTZ"}}
LOCK = 7_301_2026  # the PostgreSQL advisory lock that keeps two starting processes from migrating at once


@dataclass(frozen=True, slots=True)
class Migration:
    """Statements bringing the schema to `version`; `{timestamp}` becomes the dialect's type."""

    version: int
    description: str
    statements: Sequence[str]


MIGRATIONS = (
    Migration(1, "events wait in an inbox until processed", (
        "ALTER TABLE relance_events ADD COLUMN processed BOOLEAN NOT NULL DEFAULT TRUE",
        "CREATE INDEX IF NOT EXISTS idx_relance_events_inbox ON relance_events (workspace, processed, id)",
    )),
    Migration(2, "messages: HTML part, not-before time, provider id", (
        "ALTER TABLE relance_messages ADD COLUMN html TEXT",
        "ALTER TABLE relance_messages ADD COLUMN send_at {timestamp}",
        "ALTER TABLE relance_messages ADD COLUMN provider_id VARCHAR(200)",
        "CREATE INDEX IF NOT EXISTS idx_relance_messages_due ON relance_messages (workspace, status, send_at)",
    )),
    Migration(3, "messages: when a dispatcher claimed them", (
        "ALTER TABLE relance_messages ADD COLUMN claimed_at {timestamp}",
    )),
    Migration(4, "messages: the pending ones by id, for dispatchers (a backlog no longer slows each claim)", (
        "CREATE INDEX IF NOT EXISTS idx_relance_messages_pending ON relance_messages (workspace, id) "
        "WHERE status = 'pending'",
    )),
    Migration(5, "runs: a contact's runs waiting for an event type, found without reading its others", (
        "CREATE INDEX IF NOT EXISTS idx_relance_runs_contact_waiting ON relance_runs (contact_id, waiting_for)",
    )),
    # relance_orders is a new table: created from its model at start-up, as every missing table is;
    Migration(6, "orders counted once by order_id, with what refunds and cancellations took back", ()),
    # relance_suppressions too
    Migration(7, "the suppression list (keyed hashes of erased and opted-out addresses); API keys' name and last use", (
        "ALTER TABLE relance_api_keys ADD COLUMN name VARCHAR(100)",
        "ALTER TABLE relance_api_keys ADD COLUMN last_used_at {timestamp}",
    )),
    Migration(8, "messages: their rule's priority (who goes first when caps allow only some)", (
        "ALTER TABLE relance_messages ADD COLUMN priority INT NOT NULL DEFAULT 0",
    )),
)
LATEST = MIGRATIONS[-1].version if MIGRATIONS else 0


async def table_exists(db: BaseDBAsyncClient, table: str) -> bool:
    if db.capabilities.dialect == "sqlite":
        _, rows = await db.execute_query("SELECT name FROM sqlite_master WHERE type='table' AND name=?", [table])
    else:
        _, rows = await db.execute_query("SELECT to_regclass($1) AS name", [table])
        rows = [r for r in rows if r["name"] is not None]
    return bool(rows)


async def schema_version(db: BaseDBAsyncClient) -> int:
    await db.execute_script("CREATE TABLE IF NOT EXISTS relance_schema (version INT NOT NULL)")
    _, rows = await db.execute_query("SELECT version FROM relance_schema")
    return int(rows[0]["version"]) if rows else 0


async def set_version(db: BaseDBAsyncClient, version: int) -> None:
    await db.execute_script("DELETE FROM relance_schema")
    await db.execute_query(f"INSERT INTO relance_schema (version) VALUES ({int(version)})")


async def migrate(db: BaseDBAsyncClient, fresh: bool) -> list[Migration]:
    """Bring the schema up to date; the migrations applied (none for a fresh database).

    All in one transaction, under a transaction-scoped advisory lock on PostgreSQL: a second
    process starting at the same time waits, then finds the schema up to date. (A session
    lock would be held by whichever pooled connection ran it, and released with it.)
    """
    postgres = db.capabilities.dialect != "sqlite"
    async with in_transaction(db.connection_name) as tx:
        if postgres:
            await tx.execute_query(f"SELECT pg_advisory_xact_lock({LOCK})")
        current = await schema_version(tx)
        if fresh and current == 0:
            await set_version(tx, LATEST)
            return []
        applied = []
        for migration in MIGRATIONS:
            if migration.version <= current:
                continue
            for statement in migration.statements:
                table = TABLE.search(statement)
                if table and not await table_exists(tx, table.group(1)):
                    continue  # created whole, with this change, by the models afterwards
                await tx.execute_script(statement.format(**TYPES["postgres" if postgres else "sqlite"]))
            await set_version(tx, migration.version)
            applied.append(migration)
    for migration in applied:
        logger.warning("database schema migrated to version %d: %s", migration.version, migration.description)
    return applied
