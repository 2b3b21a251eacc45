"""Schema changes of the built-in store, applied in order at start-up and recorded in `relance_schema`.

A new database gets the current schema from the models and is marked up to date; an older
one gets each migration it lacks, oldest first, in one transaction. A schema change is
therefore two edits: the model, and a migration appended here that brings an existing
database to it, as plain data (columns and indexes added, tables new) valid on SQLite and
PostgreSQL. The DDL is written here, small and whole: pypika builds no ALTER TABLE, and
Tortoise's own migrations (an experimental package of migration modules, recorded in a
table of its own) would bring more than these few changes need.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from pypika_tortoise import Column, CustomFunction, Parameter, Query, Table
from pypika_tortoise.dialects import PostgreSQLQuery, SQLLiteQuery
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from .tortoise_rows import query, sql

logger = logging.getLogger("relance.store")
TYPES = {"sqlite": {"timestamp": "TIMESTAMP", "boolean": "INT"},  # the types Tortoise gives the fields
         "postgres": {"timestamp": "TIMESTAMPTZ", "boolean": "BOOL"}}
LOCK = 7_301_2026  # the PostgreSQL advisory lock that keeps two starting processes from migrating at once
SCHEMA = Table("relance_schema")
SQLITE_MASTER = Table("sqlite_master")
TABLE_EXISTS = {
    "sqlite": sql(SQLLiteQuery.from_(SQLITE_MASTER).select(SQLITE_MASTER.name)
                  .where((SQLITE_MASTER.type == "table") & (SQLITE_MASTER.name == Parameter(idx=1)))),
    "postgres": sql(PostgreSQLQuery.select(CustomFunction("to_regclass", ["name"])(Parameter(idx=1)).as_("name"))),
}
CREATE_SCHEMA = Query.create_table(SCHEMA).if_not_exists().columns(Column("version", "INT", nullable=False)) \
    .get_sql(Query.SQL_CONTEXT)
MIGRATION_LOCK = sql(PostgreSQLQuery.select(CustomFunction("pg_advisory_xact_lock", ["key"])(LOCK)))


@dataclass(frozen=True, slots=True)
class AddColumn:
    """A column added to a table; `{timestamp}` and `{boolean}` in its definition become the dialect's
    types (those Tortoise gives the models' fields)."""

    table: str
    column: str
    definition: str

    def sql(self, dialect: str) -> str:
        return f"ALTER TABLE {self.table} ADD COLUMN {self.column} {self.definition.format(**TYPES[dialect])}"


@dataclass(frozen=True, slots=True)
class AddIndex:
    """An index on columns of a table, partial when `where` is given."""

    table: str
    name: str
    columns: Sequence[str]
    where: str = ""

    def sql(self, dialect: str) -> str:
        where = f" WHERE {self.where}" if self.where else ""
        return f"CREATE INDEX IF NOT EXISTS {self.name} ON {self.table} ({', '.join(self.columns)}){where}"


@dataclass(frozen=True, slots=True)
class Migration:
    """Changes bringing the schema to `version`; `tables` are those new with it, created from their
    models at start-up as every missing table is (a change to a table not there yet is left out:
    the table comes whole, with it)."""

    version: int
    description: str
    changes: Sequence[AddColumn | AddIndex] = ()
    tables: Sequence[str] = ()


MIGRATIONS = (
    Migration(1, "events wait in an inbox until processed", (
        AddColumn("relance_events", "processed", "{boolean} NOT NULL DEFAULT TRUE"),
        AddIndex("relance_events", "idx_relance_events_inbox", ("workspace", "processed", "id")),
    )),
    Migration(2, "messages: HTML part, not-before time, provider id", (
        AddColumn("relance_messages", "html", "TEXT"),
        AddColumn("relance_messages", "send_at", "{timestamp}"),
        AddColumn("relance_messages", "provider_id", "VARCHAR(200)"),
        AddIndex("relance_messages", "idx_relance_messages_due", ("workspace", "status", "send_at")),
    )),
    Migration(3, "messages: when a dispatcher claimed them", (
        AddColumn("relance_messages", "claimed_at", "{timestamp}"),
    )),
    Migration(4, "messages: the pending ones by id, for dispatchers (a backlog no longer slows each claim)", (
        AddIndex("relance_messages", "idx_relance_messages_pending", ("workspace", "id"), "status = 'pending'"),
    )),
    Migration(5, "runs: a contact's runs waiting for an event type, found without reading its others", (
        AddIndex("relance_runs", "idx_relance_runs_contact_waiting", ("contact_id", "waiting_for")),
    )),
    Migration(6, "orders counted once by order_id, with what refunds and cancellations took back",
              tables=("relance_orders",)),
    Migration(7, "the suppression list (keyed hashes of erased and opted-out addresses); API keys' name and last use", (
        AddColumn("relance_api_keys", "name", "VARCHAR(100)"),
        AddColumn("relance_api_keys", "last_used_at", "{timestamp}"),
    ), tables=("relance_suppressions",)),
    Migration(8, "messages: their rule's priority (who goes first when caps allow only some)", (
        AddColumn("relance_messages", "priority", "INT NOT NULL DEFAULT 0"),
    )),
)
LATEST = MIGRATIONS[-1].version if MIGRATIONS else 0


async def table_exists(db: BaseDBAsyncClient, table: str) -> bool:
    _, rows = await db.execute_query(TABLE_EXISTS[db.capabilities.dialect], [table])
    return any(row[0] is not None for row in rows)


async def schema_version(db: BaseDBAsyncClient) -> int:
    await db.execute_script(CREATE_SCHEMA)
    _, rows = await db.execute_query(sql(query(db.capabilities.dialect).from_(SCHEMA).select(SCHEMA.version)))
    return int(rows[0][0]) if rows else 0


async def set_version(db: BaseDBAsyncClient, version: int) -> None:
    q = query(db.capabilities.dialect)
    await db.execute_query(sql(q.from_(SCHEMA).delete()))
    await db.execute_query(sql(q.into(SCHEMA).columns(SCHEMA.version).insert(Parameter(idx=1))), [version])


async def migrate(db: BaseDBAsyncClient, fresh: bool) -> list[Migration]:
    """Bring the schema up to date; the migrations applied (none for a fresh database).

    All in one transaction, under a transaction-scoped advisory lock on PostgreSQL: a second
    process starting at the same time waits, then finds the schema up to date. (A session
    lock would be held by whichever pooled connection ran it, and released with it.)
    """
    postgres = db.capabilities.dialect != "sqlite"
    async with in_transaction(db.connection_name) as tx:
        if postgres:
            await tx.execute_query(MIGRATION_LOCK)
        current = await schema_version(tx)
        if fresh and current == 0:
            await set_version(tx, LATEST)
            return []
        applied = []
        for migration in MIGRATIONS:
            if migration.version <= current:
                continue
            for change in migration.changes:
                if await table_exists(tx, change.table):  # else created whole, with it, by the models afterwards
                    await tx.execute_script(change.sql(tx.capabilities.dialect))
            await set_version(tx, migration.version)
            applied.append(migration)
    for migration in applied:
        logger.warning("database schema migrated to version %d: %s", migration.version, migration.description)
    return applied
