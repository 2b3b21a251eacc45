"""The built-in store: Tortoise ORM on SQLite (a file, the default) or PostgreSQL."""
from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from functools import cache
from datetime import datetime
from typing import Any, TypeVar

from pypika_tortoise import CustomFunction, Order, Parameter
from pypika_tortoise import functions as fn
from pypika_tortoise.dialects import PostgreSQLQuery
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.backends.base.config_generator import expand_db_url
from tortoise.context import TortoiseContext
from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q
from tortoise.models import Model
from tortoise.transactions import in_transaction

from relance.engine.orders import OrderRecord
from relance.engine.records import (
    OPEN_STATUSES, ApiKeyRecord, ContactRecord, DecisionRecord, EventRecord, MessageRecord, RunRecord, TaskRecord,
)

from .. import hookimpl
from . import tortoise_migrations as migrations
from . import tortoise_models as m
from .tortoise_intake import IntakeQueries
from .tortoise_pages import PagedReads
from .tortoise_rows import Rows, field, params, query, rows, sql, table

R = TypeVar("R")
MODELS = (m.Contact, m.Identity, m.Event, m.Run, m.Message, m.Task, m.Order, m.Suppression, m.ApiKey,
          m.ServerSetting, m.WorkspaceSnapshot, m.RuleVersion, m.Decision)
CHUNK = 500  # ids per IN (…): under SQLite's limit on bound parameters
CANDIDATES = 10  # a claim looks for free contacts among the oldest limit × this many due messages
SCHEMES = ("sqlite", "postgres", "postgresql", "asyncpg", "psycopg")
RUNS, MESSAGES = table(m.Run), table(m.Message)
# PostgreSQL's locks (SQLite has one writer at a time): a contact's id is a one-key lock, identities
# and settings take the two-key lock space (1 and 2, a hash of the text), so they never meet.
LOCK = CustomFunction("pg_advisory_xact_lock", ["key"])
TRY_LOCK = CustomFunction("pg_try_advisory_xact_lock", ["key"])
LOCK_IN = CustomFunction("pg_advisory_xact_lock", ["space", "key"])
HASHTEXT = CustomFunction("hashtext", ["text"])
UNNEST, ANY = CustomFunction("unnest", ["array"]), CustomFunction("ANY", ["array"])
LOCK_CONTACT = sql(PostgreSQLQuery.select(LOCK(Parameter(idx=1))))
_SORTED_IDS = PostgreSQLQuery.select(UNNEST(fn.Cast(Parameter(idx=1), "BIGINT[]")).as_("id")) \
    .orderby(field("id")).as_("q")
LOCK_CONTACTS = sql(PostgreSQLQuery.from_(_SORTED_IDS).select(LOCK(field("id", _SORTED_IDS))))  # in their order
LOCK_IDENTITY = sql(PostgreSQLQuery.select(LOCK_IN(1, HASHTEXT(Parameter(idx=1)))))
LOCK_SETTING = sql(PostgreSQLQuery.select(LOCK_IN(2, HASHTEXT(Parameter(idx=1)))))
LOCK_RUN_CONTACT = sql(PostgreSQLQuery.from_(RUNS).select(RUNS.contact_id, LOCK(RUNS.contact_id))
                       .where(RUNS.id == Parameter(idx=1)))


def _record(cls: type[R], row: Model) -> R:
    return cls(**{f.name: getattr(row, f.name) for f in dataclasses.fields(cls)})  # type: ignore[arg-type]


def _columns(record: Any) -> dict[str, Any]:
    return {f.name: getattr(record, f.name) for f in dataclasses.fields(record) if f.name != "id"}


@cache
def _pooled_connection_class() -> type:
    """Pooled PostgreSQL connections handed back without asyncpg's reset query.

    The pool still rolls back a transaction left open; the query (RESET ALL, CLOSE ALL,
    UNLISTEN *, unlocking session advisory locks) undoes what the store never does (its
    locks end with their transaction), and cost a round trip per transaction.
    """
    import asyncpg  # installed with PostgreSQL support only

    class PooledConnection(asyncpg.Connection):  # type: ignore[misc]
        def get_reset_query(self) -> str:
            return ""

    return PooledConnection


def _connection_config(url: str) -> str | dict[str, Any]:
    """Tortoise's connection settings for a URL: asyncpg connections without the reset query."""
    config = expand_db_url(url)
    if config["engine"] != "tortoise.backends.asyncpg":
        return url
    config["credentials"]["connection_class"] = _pooled_connection_class()
    return config


@cache
def _run_and_contact(dialect: str) -> str:
    """A run and its contact, in one statement (a run's step reads both)."""
    runs, contacts = rows(m.Run, RunRecord, dialect), rows(m.Contact, ContactRecord, dialect)
    return sql(query(dialect).from_(runs.table).left_join(contacts.table).on(contacts.table.id == runs.table.contact_id)
               .select(*runs.columns, *contacts.columns).where(runs.table.id == Parameter(idx=1)))


@cache
def _recent_messages(dialect: str) -> str:
    """A contact's messages created, due, claimed or sent since a moment (caps and offers), by id."""
    messages, since = rows(m.Message, MessageRecord, dialect), params(2, 4)
    return sql(messages.select().where((MESSAGES.contact_id == Parameter(idx=1)) & (
        (MESSAGES.created_at >= since[0]) | (MESSAGES.send_at >= since[1]) | (MESSAGES.sent_at >= since[2])
        | (MESSAGES.claimed_at >= since[3]))).orderby(MESSAGES.id))


@cache
def _contacts_page(dialect: str) -> str:
    contacts = rows(m.Contact, ContactRecord, dialect)
    t = contacts.table
    return sql(contacts.select().where((t.workspace == Parameter(idx=1)) & (t.id > Parameter(idx=2))
                                       & (t.id <= Parameter(idx=3)) & t.merged_into.isnull())
               .orderby(t.id).limit(Parameter(idx=4)))


@cache
def _contact_runs(dialect: str, by_rule: bool, statuses: int | None) -> str:
    """A contact's runs by id; parameters: the contact, the rule if `by_rule`, then `statuses` statuses."""
    condition = RUNS.contact_id == Parameter(idx=1)
    if by_rule:
        condition &= RUNS.rule_id == Parameter(idx=2)
    if statuses is not None:
        condition &= RUNS.status.isin(params(2 + by_rule, statuses))
    return sql(rows(m.Run, RunRecord, dialect).select().where(condition).orderby(RUNS.id))


@cache
def _runs_of_contacts(dialect: str, count: int) -> str:
    return sql(rows(m.Run, RunRecord, dialect).select()
               .where((RUNS.rule_id == Parameter(idx=1)) & RUNS.contact_id.isin(params(2, count))).orderby(RUNS.id))


@cache
def _existing_occurrences(dialect: str, count: int) -> str:
    return sql(query(dialect).from_(RUNS).select(RUNS.occurrence)
               .where((RUNS.workspace == Parameter(idx=1)) & RUNS.occurrence.isin(params(2, count))))


def _due(first: int) -> Any:
    """Pending messages of the workspace (parameter `first`) due at `first + 1`."""
    return (MESSAGES.workspace == Parameter(idx=first)) & (MESSAGES.status == "pending") & (
        MESSAGES.send_at.isnull() | (MESSAGES.send_at <= Parameter(idx=first + 1)))


@cache
def _due_contacts(dialect: str) -> str:
    """The contacts of the oldest due messages (workspace, now, how many messages, how many contacts).

    On PostgreSQL locks are tried contact by contact, oldest first, until enough are held; OFFSET 0
    keeps the planner from moving the try into the grouping, where every candidate would be tried and held."""
    q = query(dialect)
    due = q.from_(MESSAGES).select(MESSAGES.contact_id, MESSAGES.id).where(_due(1)) \
        .orderby(MESSAGES.id).limit(Parameter(idx=3)).as_("due")
    grouped = q.from_(due).select(due.contact_id).groupby(due.contact_id).orderby(fn.Min(due.id))
    if dialect != "sqlite":
        grouped = grouped.offset(0)
    contacts = grouped.as_("contacts")
    found = q.from_(contacts).select(contacts.contact_id)
    if dialect != "sqlite":
        found = found.where(TRY_LOCK(contacts.contact_id))
    return sql(found.limit(Parameter(idx=4)))


@cache
def _claim_messages(dialect: str, contacts: int) -> str:
    """Claim the due messages of these contacts (now, workspace, now, the contacts, how many), most
    urgent first: on PostgreSQL the contacts as one array (one statement whatever their number)."""
    messages, q = rows(m.Message, MessageRecord, dialect), query(dialect)
    if dialect == "postgres":
        among, limit = MESSAGES.contact_id == ANY(fn.Cast(Parameter(idx=4), "BIGINT[]")), Parameter(idx=5)
    else:
        among, limit = MESSAGES.contact_id.isin(params(4, contacts)), Parameter(idx=4 + contacts)
    chosen = q.from_(MESSAGES).select(MESSAGES.id).where(_due(2) & among) \
        .orderby(MESSAGES.priority, order=Order.desc).orderby(MESSAGES.created_at, MESSAGES.id).limit(limit)
    return sql(q.update(MESSAGES).set(MESSAGES.status, "sending").set(MESSAGES.claimed_at, Parameter(idx=1))
               .where(MESSAGES.id.isin(chosen) & (MESSAGES.status == "pending")).returning(*messages.columns))


class _Tx(IntakeQueries):
    """Queries inside one database transaction."""

    def __init__(self, db: BaseDBAsyncClient) -> None:
        self.db = db
        self.dialect = db.capabilities.dialect
        self.locking = self.dialect != "sqlite"
        self.contact_rows: Rows[ContactRecord] = rows(m.Contact, ContactRecord, self.dialect)
        self.run_rows: Rows[RunRecord] = rows(m.Run, RunRecord, self.dialect)
        self.message_rows: Rows[MessageRecord] = rows(m.Message, MessageRecord, self.dialect)
        self._read_with_run: ContactRecord | None = None  # by locked_run, for the get_contact after it

    # events
    async def insert_event(self, event: EventRecord) -> bool:
        # the unique (workspace, event_id) decides, with ON CONFLICT DO NOTHING: a repeated id leaves
        # the transaction usable (an IntegrityError caught would abort it on PostgreSQL)
        row_id = await rows(m.Event, EventRecord, self.dialect).add(self.db, event)
        if row_id is None:
            return False
        event.id = row_id
        return True

    async def insert_events(self, events: Sequence[EventRecord]) -> None:
        if not events:
            return
        rows = [m.Event(**_columns(event)) for event in events]
        await m.Event.bulk_create(rows, ignore_conflicts=True, using_db=self.db)

    async def get_events(self, workspace: str, event_ids: Sequence[str]) -> dict[str, EventRecord]:
        found: dict[str, EventRecord] = {}
        for start in range(0, len(event_ids), CHUNK):
            rows = await m.Event.filter(workspace=workspace, event_id__in=list(event_ids[start:start + CHUNK])) \
                .using_db(self.db)
            found.update((row.event_id, _record(EventRecord, row)) for row in rows)
        return found

    async def claim_event(self, event: EventRecord, contact_id: int | None) -> bool:
        claimed = await m.Event.filter(id=event.id, processed=False).using_db(self.db) \
            .update(processed=True, contact_id=contact_id)
        return claimed == 1

    # contacts
    async def lock_contact(self, contact_id: int) -> bool:
        if not self.locking:
            return False  # SQLite: one writer at a time already
        await self.db.execute_query(LOCK_CONTACT, [contact_id])
        return True

    async def lock_contacts(self, contact_ids: Sequence[int]) -> None:
        if self.locking and contact_ids:  # a subquery's order is the order the locks are taken in
            await self.db.execute_query(LOCK_CONTACTS, [sorted(set(contact_ids))])

    async def lock_identity(self, workspace: str, kind: str, value: str) -> None:
        if self.locking:  # the two-key lock space: (1, hash) never meets a contact id's one-key lock
            await self.db.execute_query(LOCK_IDENTITY, [f"{workspace}\x1f{kind}\x1f{value}"])

    async def get_contact(self, contact_id: int) -> ContactRecord | None:
        read_with_run = self._read_with_run
        self._read_with_run = None
        if read_with_run is not None and read_with_run.id == contact_id:
            return read_with_run
        return await self.contact_rows.get(self.db, contact_id)

    async def get_contacts(self, contact_ids: Sequence[int]) -> dict[int, ContactRecord]:
        found: dict[int, ContactRecord] = {}
        ids = sorted(set(contact_ids))
        for start in range(0, len(ids), CHUNK):
            found.update((c.id, c) for c in await self.contact_rows.many(self.db, "id", ids[start:start + CHUNK]))
        return found

    async def create_contact(self, contact: ContactRecord) -> ContactRecord:
        contact_id = await self.contact_rows.add(self.db, contact)
        assert contact_id is not None, "contacts have no unique key but their id"
        contact.id = contact_id
        return contact

    async def save_contact(self, contact: ContactRecord) -> None:
        await self.contact_rows.save(self.db, contact)

    async def merge_contacts(self, survivor: ContactRecord, merged: ContactRecord) -> None:
        for model in (m.Identity, m.Event, m.Run, m.Message, m.Task, m.Order, m.Decision):
            await model.filter(contact_id=merged.id).using_db(self.db).update(contact_id=survivor.id)
        merged.merged_into = survivor.id
        await self.save_contact(merged)

    async def contacts(self, workspace: str, after_id: int, limit: int,
                       until_id: int | None = None) -> list[ContactRecord]:
        _, found = await self.db.execute_query(
            _contacts_page(self.dialect), [workspace, after_id, until_id if until_id is not None else 2 ** 63 - 1, limit])
        return [self.contact_rows.read(row) for row in found]

    # runs
    async def create_run(self, run: RunRecord) -> RunRecord:
        run_id = await self.run_rows.add(self.db, run)
        if run_id is None:
            raise IntegrityError(f"a run for occurrence {run.occurrence!r} exists")
        run.id = run_id
        return run

    async def create_timed_runs(self, runs: Sequence[RunRecord]) -> None:
        for start in range(0, len(runs), 50):  # 50 rows: well under SQLite's limit on bound parameters
            await self.run_rows.add_all(self.db, runs[start:start + 50], "occurrence")

    async def get_run(self, run_id: int) -> RunRecord | None:
        return await self.run_rows.get(self.db, run_id)

    async def locked_run(self, run_id: int) -> RunRecord | None:
        """See Transaction.locked_run; the run's contact is read in the same statement, and the next
        `get_contact` of it in this transaction takes that instead of a query."""
        locked: set[int] = set()
        while True:
            if self.locking and not locked:  # the contact's lock, taken before reading the run
                _, found = await self.db.execute_query(LOCK_RUN_CONTACT, [run_id])
                if not found:
                    return None
                locked.add(int(found[0][0]))
            _, found = await self.db.execute_query(_run_and_contact(self.dialect), [run_id])
            if not found:
                return None
            values = tuple(found[0])
            run = self.run_rows.read(values)
            contact_values = values[len(self.run_rows.names):]
            self._read_with_run = self.contact_rows.read(contact_values) if contact_values[0] is not None else None
            if not self.locking or run.contact_id in locked:
                return run
            await self.lock_contact(run.contact_id)  # merged into another contact meanwhile: that one's too
            locked.add(run.contact_id)

    async def save_run(self, run: RunRecord) -> None:
        await self.run_rows.save(self.db, run)

    async def save_runs(self, runs: Sequence[RunRecord]) -> None:
        await self.run_rows.save_all(self.db, runs)

    async def contact_runs(self, contact_id: int, rule_id: str | None = None,
                           statuses: Sequence[str] | None = None) -> list[RunRecord]:
        values: list[object] = [contact_id]
        if rule_id is not None:
            values.append(rule_id)
        if statuses is not None:
            values += statuses
        shape = _contact_runs(self.dialect, rule_id is not None, None if statuses is None else len(statuses))
        _, found = await self.db.execute_query(shape, values)
        return [self.run_rows.read(row) for row in found]

    async def runs_of_contacts(self, contact_ids: Sequence[int], rule_id: str) -> dict[int, list[RunRecord]]:
        found: dict[int, list[RunRecord]] = {}
        ids = sorted(set(contact_ids))
        for start in range(0, len(ids), CHUNK):
            chunk = ids[start:start + CHUNK]
            _, rows = await self.db.execute_query(_runs_of_contacts(self.dialect, len(chunk)), [rule_id, *chunk])
            for row in rows:
                run = self.run_rows.read(row)
                found.setdefault(run.contact_id, []).append(run)
        return found

    async def existing_occurrences(self, workspace: str, occurrences: Sequence[str]) -> set[str]:
        found: set[str] = set()
        for start in range(0, len(occurrences), CHUNK):
            chunk = list(occurrences[start:start + CHUNK])
            _, rows = await self.db.execute_query(_existing_occurrences(self.dialect, len(chunk)), [workspace, *chunk])
            found.update(row[0] for row in rows)
        return found

    # rule versions
    async def rule_version(self, workspace: str, rule_id: str, version: str) -> tuple[int, str] | None:
        row = await m.RuleVersion.filter(workspace=workspace, rule_id=rule_id, version=version).using_db(self.db) \
            .first().values_list("id", "snapshot")
        return (int(row[0]), str(row[1])) if row else None

    async def snapshot(self, workspace: str, digest: str) -> dict[str, str] | None:
        return await m.WorkspaceSnapshot.filter(workspace=workspace, digest=digest).using_db(self.db) \
            .first().values_list("sources", flat=True)  # type: ignore[return-value]

    # decisions
    async def insert_decisions(self, decisions: Sequence[DecisionRecord]) -> None:
        if decisions:
            await m.Decision.bulk_create([m.Decision(**_columns(d)) for d in decisions], using_db=self.db)

    async def contact_decisions(self, contact_id: int, rule_id: str | None = None,
                                limit: int = 100) -> list[DecisionRecord]:
        query = m.Decision.filter(contact_id=contact_id).using_db(self.db)
        if rule_id is not None:
            query = query.filter(rule_id=rule_id)
        rows = await query.order_by("-id").limit(limit)
        return [_record(DecisionRecord, r) for r in reversed(rows)]

    # outbox and tasks
    async def contact_messages(self, contact_id: int, since: datetime) -> list[MessageRecord]:
        moment = m.Message._meta.fields_map["created_at"].to_db_value(since, None)
        _, found = await self.db.execute_query(_recent_messages(self.dialect), [contact_id, *[moment] * 4])
        return [self.message_rows.read(row) for row in found]

    async def insert_message(self, message: MessageRecord) -> bool:
        # the unique key decides: a step taken twice cannot queue its message twice
        message_id = await self.message_rows.add(self.db, message)
        if message_id is None:
            return False
        message.id = message_id
        return True

    async def save_message(self, message: MessageRecord) -> None:
        await self.message_rows.save(self.db, message)

    async def save_messages(self, messages: Sequence[MessageRecord]) -> None:
        await self.message_rows.save_all(self.db, messages)

    async def claim_due_messages(self, workspace: str, now: datetime, limit: int) -> list[MessageRecord]:
        """See Transaction.claim_due_messages. On PostgreSQL a contact is taken only if its lock is free
        (another dispatcher or a step holds it): a claim never waits for a lock, so it cannot deadlock,
        and dispatchers claiming at once take different contacts."""
        _, found = await self.db.execute_query(_due_contacts(self.dialect), [workspace, now, limit * CANDIDATES, limit])
        contact_ids = [int(row[0]) for row in found]
        if not contact_ids:
            return []
        among = [contact_ids] if self.dialect == "postgres" else contact_ids
        count = len(contact_ids) if self.dialect == "sqlite" else 0  # PostgreSQL: one statement for any count
        rows = await self.db.execute_query_dict(_claim_messages(self.dialect, count),
                                                [now, workspace, now, *among, limit])
        claimed = [self.message_rows.read(row) for row in rows]  # RETURNING promises no order
        return sorted(claimed, key=lambda message: (-message.priority, message.created_at, message.id or 0))

    async def insert_task(self, task: TaskRecord) -> TaskRecord:
        row = await m.Task.create(using_db=self.db, **_columns(task))
        task.id = row.id
        return task


    async def get_message(self, message_id: int) -> MessageRecord | None:
        return await self.message_rows.get(self.db, message_id)

    async def get_task(self, task_id: int) -> TaskRecord | None:
        row = await m.Task.filter(id=task_id).using_db(self.db).first()
        return _record(TaskRecord, row) if row else None

    async def save_task(self, task: TaskRecord) -> None:
        await m.Task.filter(id=task.id).using_db(self.db).update(**_columns(task))

    async def get_order(self, workspace: str, order_id: str) -> OrderRecord | None:
        row = await m.Order.filter(workspace=workspace, order_id=order_id).using_db(self.db).first()
        return _record(OrderRecord, row) if row else None

    async def insert_order(self, order: OrderRecord) -> None:
        row = await m.Order.create(using_db=self.db, **_columns(order))
        order.id = row.id

    async def save_order(self, order: OrderRecord) -> None:
        await m.Order.filter(id=order.id).using_db(self.db).update(**_columns(order))

    async def contact_identities(self, contact_id: int) -> list[tuple[str, str]]:
        rows = await m.Identity.filter(contact_id=contact_id).order_by("id").using_db(self.db).values_list("kind", "value")
        return [(str(kind), str(value)) for kind, value in rows]

    async def add_suppressions(self, workspace: str, digests: Sequence[str], reason: str, at: datetime) -> None:
        rows = [m.Suppression(workspace=workspace, digest=digest, reason=reason, at=at) for digest in set(digests)]
        if rows:
            await m.Suppression.bulk_create(rows, ignore_conflicts=True, using_db=self.db)

    async def suppressed(self, workspace: str, digests: Sequence[str]) -> dict[str, tuple[str, datetime]]:
        rows = await m.Suppression.filter(workspace=workspace, digest__in=list(digests)).using_db(self.db) \
            .values_list("digest", "reason", "at")
        return {digest: (reason, at) for digest, reason, at in rows}

    async def contact_data(self, contact_id: int) -> tuple[list[EventRecord], list[RunRecord], list[MessageRecord],
                                                          list[TaskRecord]]:
        found = []
        for model, record in ((m.Event, EventRecord), (m.Run, RunRecord), (m.Message, MessageRecord),
                              (m.Task, TaskRecord)):
            rows = await model.filter(contact_id=contact_id).order_by("id").using_db(self.db)
            found.append([_record(record, r) for r in rows])
        return found[0], found[1], found[2], found[3]  # type: ignore[return-value]

    async def erase_contact(self, contact_id: int) -> None:
        merged = await m.Contact.filter(merged_into=contact_id).using_db(self.db).values_list("id", flat=True)
        ids = [contact_id, *merged]
        for model in (m.Identity, m.Event, m.Run, m.Message, m.Task, m.Order, m.Decision):
            await model.filter(contact_id__in=ids).using_db(self.db).delete()
        await m.Contact.filter(id__in=ids).using_db(self.db).delete()


class TortoiseStore(PagedReads):
    """The store on a database URL: `sqlite://relance.sqlite3`, `sqlite://:memory:`, `postgres://…`."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.context = TortoiseContext()

    async def open(self) -> None:
        # The context is the process-wide fallback: requests and jobs run in tasks of their own.
        # Tortoise caches each table's SQL by connection name, whatever the dialect: a name per
        # backend keeps SQLite's SQL away from PostgreSQL when one process uses both (tests, simulate).
        connection = f"relance_{self.url.split(':', 1)[0].lower()}"
        config = {"connections": {connection: _connection_config(self.url)},
                  "apps": {"relance": {"models": [m.__name__], "default_connection": connection}}}
        with self.context:
            await self.context.init(config=config, _enable_global_fallback=True)
            db = self.context.connections.get(connection)
            fresh = not await migrations.table_exists(db, "relance_events")
            if not fresh:  # bring an older database to the models before creating what is missing
                await migrations.migrate(db, fresh=False)
            # Only when a table is missing: CREATE … IF NOT EXISTS still locks the tables, and
            # would deadlock with the other processes at work on them.
            tables = [model._meta.db_table for model in MODELS]
            if not all([await migrations.table_exists(db, table) for table in tables]):
                await self.context.generate_schemas(safe=True)
            if fresh:
                await migrations.migrate(db, fresh=True)

    async def close(self) -> None:
        if self.context.inited:
            await self.context.close_connections()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[_Tx]:
        async with in_transaction(self.context.default_connection) as db:
            yield _Tx(db)

    async def due_runs(self, workspace: str, now: datetime, limit: int) -> list[tuple[int, int]]:
        rows = await m.Run.filter(workspace=workspace, wake_at__lte=now, status__in=list(OPEN_STATUSES)) \
            .order_by("wake_at", "id").limit(limit).values_list("id", "version")
        return [(int(i), int(v)) for i, v in rows]

    async def upcoming_runs(self, workspace: str, until: datetime, limit: int,
                            after: tuple[datetime, int] | None = None) -> list[tuple[int, int, datetime]]:
        query = m.Run.filter(workspace=workspace, wake_at__lte=until, status__in=list(OPEN_STATUSES))
        if after is not None:
            query = query.filter(Q(wake_at__gt=after[0]) | Q(wake_at=after[0], id__gt=after[1]))
        rows = await query.order_by("wake_at", "id").limit(limit).values_list("id", "version", "wake_at")
        return [(int(i), int(v), w) for i, v, w in rows]

    async def contact_id_bounds(self, workspace: str) -> tuple[int, int] | None:
        query = m.Contact.filter(workspace=workspace, merged_into=None)
        first = await query.order_by("id").first().values_list("id", flat=True)
        last = await query.order_by("-id").first().values_list("id", flat=True)
        return None if first is None else (int(first), int(last))  # type: ignore[call-overload]

    async def next_wake(self, workspace: str) -> datetime | None:
        row = await m.Run.filter(workspace=workspace, wake_at__not_isnull=True, status__in=list(OPEN_STATUSES)) \
            .order_by("wake_at").first().values_list("wake_at", flat=True)
        return row  # type: ignore[return-value]

    async def next_send(self, workspace: str) -> datetime | None:
        return await m.Message.filter(workspace=workspace, status="pending", send_at__not_isnull=True) \
            .order_by("send_at").first().values_list("send_at", flat=True)  # type: ignore[return-value]

    async def publish_versions(self, workspace: str, digest: str, sources: dict[str, str],
                               versions: Sequence[tuple[str, str]], at: datetime) -> dict[tuple[str, str], int]:
        async with self.transaction() as tx:
            await m.WorkspaceSnapshot.bulk_create(
                [m.WorkspaceSnapshot(workspace=workspace, digest=digest, sources=sources, created_at=at)],
                ignore_conflicts=True, using_db=tx.db)
            await m.RuleVersion.bulk_create(
                [m.RuleVersion(workspace=workspace, rule_id=rule_id, version=version, snapshot=digest, created_at=at)
                 for rule_id, version in versions], ignore_conflicts=True, using_db=tx.db)
            found = await m.RuleVersion.filter(workspace=workspace, rule_id__in=sorted({r for r, _ in versions})) \
                .using_db(tx.db).values_list("rule_id", "version", "id")
            key = f"rules:{workspace}"  # the current rules: what processes that follow the store load
            if not await m.ServerSetting.filter(key=key).using_db(tx.db).update(value=digest):
                await m.ServerSetting.bulk_create([m.ServerSetting(key=key, value=digest)], ignore_conflicts=True,
                                                  using_db=tx.db)
        wanted = set(versions)
        return {(rule_id, version): int(seq) for rule_id, version, seq in found if (rule_id, version) in wanted}

    async def current_snapshot(self, workspace: str, unless: str | None = None) -> tuple[str, dict[str, str]] | None:
        async with self.transaction() as tx:
            digest = await m.ServerSetting.filter(key=f"rules:{workspace}").using_db(tx.db).first() \
                .values_list("value", flat=True)
            if not digest or digest == unless:
                return None
            sources = await tx.snapshot(workspace, str(digest))
        return (str(digest), sources) if sources is not None else None

    async def prune_decisions(self, workspace: str, before: datetime) -> int:
        return await m.Decision.filter(workspace=workspace, at__lt=before).delete()

    async def inbox_backlog(self, workspace: str) -> tuple[int, datetime | None]:
        query = m.Event.filter(workspace=workspace, processed=False)
        oldest = await query.order_by("id").first().values_list("received_at", flat=True)
        return await query.count(), oldest  # type: ignore[return-value]

    async def inbox(self, workspace: str, limit: int) -> list[EventRecord]:
        rows = await m.Event.filter(workspace=workspace, processed=False).order_by("id").limit(limit)
        return [_record(EventRecord, r) for r in rows]

    async def kept_value(self, key: str, make: Callable[[], str]) -> str:
        row, _ = await m.ServerSetting.get_or_create(key=key, defaults={"value": make()})
        return row.value

    async def swap_value(self, key: str, value: str) -> str | None:
        async with self.transaction() as tx:
            if tx.locking:  # the two-key lock space, as identities; SQLite has one writer at a time
                await tx.db.execute_query(LOCK_SETTING, [key])
            row = await m.ServerSetting.filter(key=key).using_db(tx.db).first()
            if row is None:
                await m.ServerSetting.create(key=key, value=value, using_db=tx.db)
                return None
            await m.ServerSetting.filter(key=key).using_db(tx.db).update(value=value)
            return row.value

    async def add_api_key(self, workspace: str, digest: str, prefix: str, created_at: datetime,
                          name: str | None = None) -> None:
        await m.ApiKey.create(workspace=workspace, digest=digest, prefix=prefix, created_at=created_at, name=name)

    async def api_key_workspace(self, digest: str) -> str | None:
        return await m.ApiKey.filter(digest=digest).first().values_list("workspace", flat=True)  # type: ignore[return-value]

    async def api_keys(self, workspace: str | None = None) -> list[ApiKeyRecord]:
        query = m.ApiKey.all() if workspace is None else m.ApiKey.filter(workspace=workspace)
        return [_record(ApiKeyRecord, row) for row in await query.order_by("id")]

    async def touch_api_key(self, digest: str, at: datetime) -> None:
        await m.ApiKey.filter(digest=digest).update(last_used_at=at)

    async def revoke_api_keys(self, digests: Sequence[str]) -> int:
        return await m.ApiKey.filter(digest__in=list(digests)).delete()

    async def api_key_count(self, workspace: str) -> int:
        return await m.ApiKey.filter(workspace=workspace).count()

    async def gauges(self, workspace: str) -> dict[str, int]:
        found = {}
        for status in OPEN_STATUSES:
            found[f"runs_{status}"] = await m.Run.filter(workspace=workspace, status=status).count()
        for status in ("pending", "sending", "draft", "failed"):
            found[f"messages_{status}"] = await m.Message.filter(workspace=workspace, status=status).count()
        found["events_inbox"] = await m.Event.filter(workspace=workspace, processed=False).count()
        return found

    async def requeue_sending(self, workspace: str, claimed_before: datetime | None = None) -> int:
        query = m.Message.filter(workspace=workspace, status="sending")
        if claimed_before is not None:
            query = query.filter(Q(claimed_at__isnull=True) | Q(claimed_at__lt=claimed_before))
        return await query.update(status="pending")

    async def messages(self, workspace: str, status: str | None = None) -> list[MessageRecord]:
        query = m.Message.filter(workspace=workspace)
        if status is not None:
            query = query.filter(status=status)
        return [_record(MessageRecord, r) for r in await query.order_by("id")]

    async def tasks(self, workspace: str) -> list[TaskRecord]:
        return [_record(TaskRecord, r) for r in await m.Task.filter(workspace=workspace).order_by("id")]

    async def runs(self, workspace: str, rule_id: str | None = None, contact_id: int | None = None,
                   limit: int | None = None) -> list[RunRecord]:
        query = m.Run.filter(workspace=workspace)
        if rule_id is not None:
            query = query.filter(rule_id=rule_id)
        if contact_id is not None:
            query = query.filter(contact_id=contact_id)
        if limit is not None:
            rows = list(reversed(await query.order_by("-id").limit(limit)))
        else:
            rows = await query.order_by("id")
        return [_record(RunRecord, r) for r in rows]


@hookimpl
def relance_store(url: str) -> TortoiseStore | None:
    scheme = url.split(":", 1)[0].lower()
    return TortoiseStore(url) if scheme in SCHEMES else None
