"""The store's queries on the path of every event, as SQL made once per dialect (see tortoise_rows.py).

Processing an event reads its contact by identity, the runs that may react to it and the events
a goal looks for, and writes the contact, its runs and its decisions: a handful of statements
an event, so each is one round trip and none is built anew by the ORM for each call.
"""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import cache

from tortoise.backends.base.client import BaseDBAsyncClient

from relance.engine.records import OPEN_STATUSES, ContactRecord, EventRecord, RunRecord

from . import tortoise_models as m
from .tortoise_rows import Rows, placeholder, placeholders, rows

CHUNK = 500  # values per IN (…): under SQLite's limit on bound parameters


@cache
def _claim(dialect: str) -> str:
    """Up to N unprocessed events of a workspace, oldest first, marked processed in the caller's
    transaction: if it rolls back, they are in the inbox again. On PostgreSQL, rows another process
    holds are skipped, so processes take disjoint groups."""
    events = rows(m.Event, EventRecord, dialect)
    p = [placeholder(dialect, n) for n in (1, 2)]
    skip = " FOR UPDATE SKIP LOCKED" if dialect != "sqlite" else ""
    return (f"UPDATE relance_events SET processed = TRUE WHERE id IN (SELECT id FROM relance_events WHERE "
            f"workspace = {p[0]} AND processed = FALSE ORDER BY id LIMIT {p[1]}{skip}) RETURNING {events.columns}")


@cache
def _contacts_by_identity(dialect: str, count: int) -> str:
    contacts = rows(m.Contact, ContactRecord, dialect)
    pairs = " OR ".join(f"(kind = {placeholder(dialect, 2 + 2 * n)} AND value = {placeholder(dialect, 3 + 2 * n)})"
                        for n in range(count))
    return (f"{contacts.select} WHERE id IN (SELECT contact_id FROM relance_identities WHERE workspace = "
            f"{placeholder(dialect, 1)} AND ({pairs})) AND merged_into IS NULL ORDER BY id")


@cache
def _events_of_types(dialect: str, count: int) -> str:
    events = rows(m.Event, EventRecord, dialect)
    return (f"{events.select} WHERE contact_id = {placeholder(dialect, 1)} AND type IN "
            f"({placeholders(dialect, count, 2)}) AND at >= {placeholder(dialect, count + 2)} "
            f"AND at <= {placeholder(dialect, count + 3)} ORDER BY at, id")


@cache
def _reactive_runs(dialect: str, rules: int) -> str:
    """Open runs of a contact that an event may end or resume: those of the rules given (their goals
    and exits), and those waiting for the event's type. Two index lookups, never the contact's
    every run (a contact with thousands of runs of an `entry: always` rule costs nothing more)."""
    runs = rows(m.Run, RunRecord, dialect)
    statuses = ", ".join(f"'{status}'" for status in OPEN_STATUSES)
    by_rule = (f"{runs.select} WHERE contact_id = {placeholder(dialect, 1)} AND rule_id IN "
               f"({placeholders(dialect, rules, 3)}) AND status IN ({statuses})") if rules else ""
    waiting = (f"{runs.select} WHERE contact_id = {placeholder(dialect, 1)} AND waiting_for = "
               f"{placeholder(dialect, 2)} AND status = 'waiting'")
    return f"SELECT * FROM ({by_rule} UNION {waiting}) found ORDER BY id" if rules else f"{waiting} ORDER BY id"


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
            claimed = await self.db.execute_query_dict(
                f"UPDATE relance_events SET processed = TRUE WHERE workspace = {placeholder(self.dialect, 1)} AND "
                f"processed = FALSE AND event_id IN ({placeholders(self.dialect, len(chunk), 2)}) "
                f"RETURNING {events.columns}", [workspace, *chunk])
            found += [events.read(row) for row in claimed]
        return sorted(found, key=lambda event: event.id or 0)

    async def lock_identities(self, workspace: str, identities: Sequence[tuple[str, str]]) -> None:
        """`lock_identity` for each, in their order, in one round trip (PostgreSQL)."""
        if self.dialect != "sqlite" and identities:
            await self.db.execute_query(
                "SELECT pg_advisory_xact_lock(1, hashtext(k)) FROM "
                "(SELECT k FROM unnest($1::text[]) WITH ORDINALITY AS l(k, n) ORDER BY n) q",
                [[f"{workspace}\x1f{kind}\x1f{value}" for kind, value in identities]])

    async def assign_contacts(self, pairs: Sequence[tuple[int, int | None]]) -> None:
        if pairs:
            p = [placeholder(self.dialect, n) for n in (1, 2)]
            await self.db.execute_many(f"UPDATE relance_events SET contact_id = {p[0]} WHERE id = {p[1]}",
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
            pairs = " OR ".join(f"(kind = {placeholder(self.dialect, 2 + 2 * n)} AND value = "
                                f"{placeholder(self.dialect, 3 + 2 * n)})" for n in range(len(chunk)))
            _, rows_found = await self.db.execute_query(
                f"SELECT kind, value, contact_id FROM relance_identities WHERE workspace = "
                f"{placeholder(self.dialect, 1)} AND ({pairs})", values)
            found.update(((str(row[0]), str(row[1])), int(row[2])) for row in map(tuple, rows_found))
        return found

    async def save_contacts(self, contacts: Sequence[ContactRecord]) -> None:
        await self.contact_rows.save_all(self.db, contacts)

    async def add_identities(self, contact: ContactRecord, identities: Sequence[tuple[str, str]]) -> None:
        if identities:  # the unique (workspace, kind, value) keeps an identity someone else took meanwhile
            p = placeholders(self.dialect, 4)
            await self.db.execute_many(
                f"INSERT INTO relance_identities (workspace, kind, value, contact_id) VALUES ({p}) "
                f"ON CONFLICT DO NOTHING", [[contact.workspace, kind, value, contact.id] for kind, value in identities])

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
            if self.dialect == "sqlite":  # `?` are bound in the order they are written
                values = [contact_id, *chunk, contact_id, event_type] if chunk else [contact_id, event_type]
            else:
                values = [contact_id, event_type, *chunk]
            _, rows_found = await self.db.execute_query(_reactive_runs(self.dialect, len(chunk)), values)
            found.update((run.id, run) for run in map(self.run_rows.read, rows_found))  # type: ignore[misc]
        return [found[run_id] for run_id in sorted(found)]
