"""The store's queries on the path of every event, built once per dialect with pypika (see tortoise_rows.py).

Processing an event reads its contact by identity, the runs that may react to it and the events
a goal looks for, and writes the contact, its runs and its decisions: a handful of statements
an event, so each is one round trip and none is built anew by the ORM for each call.
"""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import cache

from pypika_tortoise import Criterion, Parameter
from pypika_tortoise.queries import QueryBuilder
from pypika_tortoise.terms import Star
from tortoise.backends.base.client import BaseDBAsyncClient

from relance.engine.records import OPEN_STATUSES, ContactRecord, EventRecord, RunRecord

from . import tortoise_models as m
from .tortoise_rows import Rows, field, params, query, rows, sql, table, union

CHUNK = 500  # values per IN (…): under SQLite's limit on bound parameters
EVENTS, IDENTITIES, RUNS = table(m.Event), table(m.Identity), table(m.Run)
UNPROCESSED = EVENTS.processed.eq(False)
# PostgreSQL only: the array keeps the locks in the order given; pypika has no WITH ORDINALITY.
LOCK_IDENTITIES = ("SELECT pg_advisory_xact_lock(1, hashtext(k)) FROM "
                   "(SELECT k FROM unnest($1::text[]) WITH ORDINALITY AS l(k, n) ORDER BY n) q")


def identity_pairs(first: int, count: int) -> Criterion:
    """(kind, value) is one of `count` pairs of parameters numbered from `first`."""
    return Criterion.any([(IDENTITIES.kind == Parameter(idx=first + 2 * n))
                          & (IDENTITIES.value == Parameter(idx=first + 2 * n + 1)) for n in range(count)])


@cache
def _claim(dialect: str) -> str:
    """Up to N unprocessed events of a workspace, oldest first, marked processed in the caller's
    transaction: if it rolls back, they are in the inbox again. On PostgreSQL, rows another process
    holds are skipped, so processes take disjoint groups."""
    events, q = rows(m.Event, EventRecord, dialect), query(dialect)
    oldest = q.from_(EVENTS).select(EVENTS.id).where((EVENTS.workspace == Parameter(idx=1)) & UNPROCESSED) \
        .orderby(EVENTS.id).limit(Parameter(idx=2))
    if dialect != "sqlite":
        oldest = oldest.for_update(skip_locked=True)
    return sql(q.update(EVENTS).set(EVENTS.processed, True).where(EVENTS.id.isin(oldest)).returning(*events.columns))


@cache
def _claim_events(dialect: str, count: int) -> str:
    events, q = rows(m.Event, EventRecord, dialect), query(dialect)
    return sql(q.update(EVENTS).set(EVENTS.processed, True)
               .where((EVENTS.workspace == Parameter(idx=1)) & UNPROCESSED & EVENTS.event_id.isin(params(2, count)))
               .returning(*events.columns))


@cache
def _assign_contact(dialect: str) -> str:
    return sql(query(dialect).update(EVENTS).set(EVENTS.contact_id, Parameter(idx=1))
               .where(EVENTS.id == Parameter(idx=2)))


@cache
def _contacts_by_identity(dialect: str, count: int) -> str:
    contacts, q = rows(m.Contact, ContactRecord, dialect), query(dialect)
    owners = q.from_(IDENTITIES).select(IDENTITIES.contact_id) \
        .where((IDENTITIES.workspace == Parameter(idx=1)) & identity_pairs(2, count))
    return sql(contacts.select().where(contacts.table.id.isin(owners) & contacts.table.merged_into.isnull())
               .orderby(contacts.table.id))


@cache
def _identity_owners(dialect: str, count: int) -> str:
    return sql(query(dialect).from_(IDENTITIES).select(IDENTITIES.kind, IDENTITIES.value, IDENTITIES.contact_id)
               .where((IDENTITIES.workspace == Parameter(idx=1)) & identity_pairs(2, count)))


@cache
def _add_identity(dialect: str) -> str:
    return sql(query(dialect).into(IDENTITIES).columns(IDENTITIES.workspace, IDENTITIES.kind, IDENTITIES.value,
                                                       IDENTITIES.contact_id)
               .insert(*params(1, 4)).on_conflict().do_nothing())


@cache
def _events_of_types(dialect: str, count: int) -> str:
    events = rows(m.Event, EventRecord, dialect)
    return sql(events.select().where(
        (EVENTS.contact_id == Parameter(idx=1)) & EVENTS.type.isin(params(2, count))
        & (EVENTS.at >= Parameter(idx=count + 2)) & (EVENTS.at <= Parameter(idx=count + 3)))
        .orderby(EVENTS.at, EVENTS.id))


@cache
def _reactive_runs(dialect: str, rules: int) -> str:
    """Open runs of a contact that an event may end or resume: those of the rules given (their goals
    and exits), and those waiting for the event's type. Two index lookups, never the contact's
    every run (a contact with thousands of runs of an `entry: always` rule costs nothing more).
    Parameters: the contact, the rules, then (with rules) the contact again, the event type."""
    runs = rows(m.Run, RunRecord, dialect)

    def waiting(first: int) -> QueryBuilder:
        return runs.select().where((RUNS.contact_id == Parameter(idx=first))
                                   & (RUNS.waiting_for == Parameter(idx=first + 1)) & (RUNS.status == "waiting"))

    if not rules:
        return sql(waiting(1).orderby(RUNS.id))
    by_rule = runs.select().where((RUNS.contact_id == Parameter(idx=1)) & RUNS.rule_id.isin(params(2, rules))
                                  & RUNS.status.isin(list(OPEN_STATUSES)))
    found = union(by_rule, waiting(rules + 2)).as_("found")
    return sql(query(dialect).from_(found).select(Star()).orderby(field("id", found)))


class IntakeQueries:
    """Mixed into the store's transaction, which gives `db`, `dialect` and the row helpers."""

    db: BaseDBAsyncClient
    dialect: str
    contact_rows: Rows[ContactRecord]
    run_rows: Rows[RunRecord]

    async def claim_inbox(self, workspace: str, limit: int) -> list[EventRecord]:
        found = await self.db.execute_query_dict(_claim(self.dialect), [workspace, limit])
        events = rows(m.Event, EventRecord, self.dialect)
        return sorted((events.read(row) for row in found), key=lambda event: event.id or 0)

    async def claim_events(self, workspace: str, event_ids: Sequence[str]) -> list[EventRecord]:
        """These events if still unprocessed (segment events just stored), marked processed, by id."""
        events = rows(m.Event, EventRecord, self.dialect)
        found: list[EventRecord] = []
        for start in range(0, len(event_ids), CHUNK):
            chunk = list(event_ids[start:start + CHUNK])
            claimed = await self.db.execute_query_dict(_claim_events(self.dialect, len(chunk)), [workspace, *chunk])
            found += [events.read(row) for row in claimed]
        return sorted(found, key=lambda event: event.id or 0)

    async def lock_identities(self, workspace: str, identities: Sequence[tuple[str, str]]) -> None:
        """`lock_identity` for each, in their order, in one round trip (PostgreSQL)."""
        if self.dialect != "sqlite" and identities:
            await self.db.execute_query(LOCK_IDENTITIES, [[f"{workspace}\x1f{kind}\x1f{value}"
                                                           for kind, value in identities]])

    async def assign_contacts(self, pairs: Sequence[tuple[int, int | None]]) -> None:
        if pairs:
            await self.db.execute_many(_assign_contact(self.dialect),
                                       [[contact_id, event_id] for event_id, contact_id in pairs])

    async def find_contacts(self, workspace: str, identities: Sequence[tuple[str, str]]) -> list[ContactRecord]:
        if not identities:
            return []
        values: list[object] = [workspace]
        for kind, value in identities:
            values += [kind, value]
        _, found = await self.db.execute_query(_contacts_by_identity(self.dialect, len(identities)), values)
        return [self.contact_rows.read(row) for row in found]

    async def identity_owners(self, workspace: str, identities: Sequence[tuple[str, str]]) -> dict[tuple[str, str], int]:
        found: dict[tuple[str, str], int] = {}
        for start in range(0, len(identities), CHUNK // 2):
            chunk = identities[start:start + CHUNK // 2]
            values: list[object] = [workspace]
            for kind, value in chunk:
                values += [kind, value]
            _, rows_found = await self.db.execute_query(_identity_owners(self.dialect, len(chunk)), values)
            found.update(((str(row[0]), str(row[1])), int(row[2])) for row in map(tuple, rows_found))
        return found

    async def save_contacts(self, contacts: Sequence[ContactRecord]) -> None:
        await self.contact_rows.save_all(self.db, contacts)

    async def add_identities(self, contact: ContactRecord, identities: Sequence[tuple[str, str]]) -> None:
        if identities:  # the unique (workspace, kind, value) keeps an identity someone else took meanwhile
            await self.db.execute_many(_add_identity(self.dialect),
                                       [[contact.workspace, kind, value, contact.id] for kind, value in identities])

    async def contact_events(self, contact_id: int, types: Sequence[str], since: datetime,
                             until: datetime) -> list[EventRecord]:
        if not types:
            return []
        events = rows(m.Event, EventRecord, self.dialect)
        field = m.Event._meta.fields_map["at"]
        _, found = await self.db.execute_query(
            _events_of_types(self.dialect, len(types)),
            [contact_id, *types, field.to_db_value(since, None), field.to_db_value(until, None)])
        return [events.read(row) for row in found]

    async def reactive_runs(self, contact_id: int, rule_ids: Sequence[str], event_type: str) -> list[RunRecord]:
        found: dict[int, RunRecord] = {}
        for start in range(0, max(len(rule_ids), 1), CHUNK):
            chunk = list(rule_ids[start:start + CHUNK])
            values = [contact_id, *chunk, contact_id, event_type] if chunk else [contact_id, event_type]
            _, rows_found = await self.db.execute_query(_reactive_runs(self.dialect, len(chunk)), values)
            found.update((run.id, run) for run in map(self.run_rows.read, rows_found))  # type: ignore[misc]
        return [found[run_id] for run_id in sorted(found)]
