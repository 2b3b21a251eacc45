"""The store interface: the database is the source of truth for contacts, events and runs.

The engine works through a `Transaction`: one per step, so a step's effects commit
together or not at all. The built-in implementation is Tortoise ORM
(`relance.plugins.builtins.tortoise_store`); another store plugs in through the
`relance_store` hook.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from .records import ApiKeyRecord, ContactRecord, DecisionRecord, EventRecord, MessageRecord, RunRecord, TaskRecord

if TYPE_CHECKING:
    from .orders import OrderRecord


class Transaction(Protocol):
    locking: bool  # lock_contact locks (PostgreSQL); False where writers are serialised anyway (SQLite)

    # events
    async def insert_event(self, event: EventRecord) -> bool:
        """Store an event; False (and nothing stored) if (workspace, event_id) exists."""

    async def insert_events(self, events: Sequence[EventRecord]) -> None:
        """Store new events at once (one statement); an id that exists meanwhile is skipped."""

    async def get_events(self, workspace: str, event_ids: Sequence[str]) -> dict[str, EventRecord]:
        """The stored events among these ids, by id."""

    async def claim_inbox(self, workspace: str, limit: int) -> list[EventRecord]:
        """Up to `limit` unprocessed events, oldest first, marked processed in this transaction (in the
        inbox again if it rolls back); other processes' claims are skipped, not waited for."""

    async def claim_events(self, workspace: str, event_ids: Sequence[str]) -> list[EventRecord]:
        """These events if still unprocessed, marked processed in this transaction, by arrival."""

    async def assign_contacts(self, pairs: Sequence[tuple[int, int | None]]) -> None:
        """Record the contact each of these (event row id, contact id) was processed for."""

    async def claim_event(self, event: EventRecord, contact_id: int | None) -> bool:
        """Mark an inbox event processed for this contact, in one conditional update: True for the one caller that won it."""

    async def contact_events(self, contact_id: int, types: Sequence[str], since: datetime,
                             until: datetime) -> list[EventRecord]:
        """The contact's events of these types with since <= at <= until, oldest first."""

    # contacts
    async def lock_contact(self, contact_id: int) -> bool:
        """Hold this contact's lock until the transaction ends (one contact's work at a time across
        processes); False where the database serialises writers anyway (SQLite)."""

    async def lock_identities(self, workspace: str, identities: Sequence[tuple[str, str]]) -> None:
        """`lock_identity` for each of them, in the order given, in one round trip."""

    async def lock_contacts(self, contact_ids: Sequence[int]) -> None:
        """`lock_contact` for each of them, in id order, in one round trip."""

    async def lock_identity(self, workspace: str, kind: str, value: str) -> None:
        """Hold the lock of one (kind, value) identity until the transaction ends, so that a contact
        new to the database is created once (where `locking`)."""

    async def find_contacts(self, workspace: str, identities: Sequence[tuple[str, str]]) -> list[ContactRecord]:
        """Contacts owning any of these (kind, value) identities, oldest first, merged ones excluded."""

    async def identity_owners(self, workspace: str, identities: Sequence[tuple[str, str]]) -> dict[tuple[str, str], int]:
        """Which contact owns each of these identities (those nobody owns are left out)."""

    async def save_contacts(self, contacts: Sequence[ContactRecord]) -> None:
        """`save_contact` for each, in one round trip."""

    async def get_contact(self, contact_id: int) -> ContactRecord | None: ...

    async def get_contacts(self, contact_ids: Sequence[int]) -> dict[int, ContactRecord]:
        """The contacts among these ids, by id."""

    async def create_contact(self, contact: ContactRecord) -> ContactRecord: ...

    async def save_contact(self, contact: ContactRecord) -> None: ...

    async def add_identities(self, contact: ContactRecord, identities: Sequence[tuple[str, str]]) -> None: ...

    async def merge_contacts(self, survivor: ContactRecord, merged: ContactRecord) -> None:
        """Move identities, events, runs, messages and tasks of `merged` to `survivor`."""

    async def contacts(self, workspace: str, after_id: int, limit: int,
                       until_id: int | None = None) -> list[ContactRecord]:
        """Up to `limit` contacts with after_id < id (<= until_id), by id, for periodic scans
        (date triggers, segments)."""

    # runs
    async def create_run(self, run: RunRecord) -> RunRecord: ...

    async def create_timed_runs(self, runs: Sequence[RunRecord]) -> None:
        """Create runs that each have an occurrence, many a statement; each gets its id, except
        one whose occurrence has a run already (its id stays None, nothing is written)."""

    async def get_run(self, run_id: int) -> RunRecord | None: ...

    async def locked_run(self, run_id: int) -> RunRecord | None:
        """The run, read after taking its contact's lock (see `lock_contact`): one contact's work
        at a time, across processes."""

    async def save_run(self, run: RunRecord) -> None: ...

    async def save_runs(self, runs: Sequence[RunRecord]) -> None:
        """Save many runs at once (a timed pass's group)."""

    async def reactive_runs(self, contact_id: int, rule_ids: Sequence[str], event_type: str) -> list[RunRecord]:
        """The contact's open runs of these rules, and its runs waiting for an event of this type, by id."""

    async def contact_runs(self, contact_id: int, rule_id: str | None = None,
                           statuses: Sequence[str] | None = None) -> list[RunRecord]: ...

    async def runs_of_contacts(self, contact_ids: Sequence[int], rule_id: str) -> dict[int, list[RunRecord]]:
        """Each of these contacts' runs of this rule (contacts without one are left out)."""

    async def existing_occurrences(self, workspace: str, occurrences: Sequence[str]) -> set[str]:
        """Those of `occurrences` that already started a run."""

    # rule versions
    async def rule_version(self, workspace: str, rule_id: str, version: str) -> tuple[int, str] | None:
        """(seq, snapshot digest) of a stored rule version, or None; a higher seq was seen later."""

    async def snapshot(self, workspace: str, digest: str) -> dict[str, str] | None:
        """The files (name -> text) of a stored workspace snapshot."""

    # why runs started or not
    async def insert_decisions(self, decisions: Sequence[DecisionRecord]) -> None:
        """Record whether each rule an event was considered for started, and why not."""

    async def contact_decisions(self, contact_id: int, rule_id: str | None = None,
                                limit: int = 100) -> list[DecisionRecord]:
        """The contact's latest decisions (of one rule), oldest first."""

    # outbox and tasks
    async def contact_messages(self, contact_id: int, since: datetime) -> list[MessageRecord]:
        """The contact's messages created, due or sent since then (for caps and offers), oldest first."""

    async def insert_message(self, message: MessageRecord) -> bool:
        """Queue a message; False (nothing stored) if its key exists."""

    async def save_message(self, message: MessageRecord) -> None: ...

    async def save_messages(self, messages: Sequence[MessageRecord]) -> None:
        """Save many messages at once (a dispatcher's group)."""

    async def claim_due_messages(self, workspace: str, now: datetime, limit: int) -> list[MessageRecord]:
        """Up to `limit` pending messages whose `send_at` (if any) has come, turned pending -> sending
        (claimed now) in one update: no other dispatcher gets them. They are the due messages of the
        contacts of the oldest due ones, highest priority then oldest first, so that a contact's due
        messages are judged together; where `locking`, those contacts' locks are held until the
        transaction ends (a contact whose lock is taken is left to a later claim)."""

    async def insert_task(self, task: TaskRecord) -> TaskRecord: ...

    async def get_message(self, message_id: int) -> MessageRecord | None: ...

    async def get_task(self, task_id: int) -> TaskRecord | None: ...

    async def save_task(self, task: TaskRecord) -> None: ...

    # orders (counted once by order_id)
    async def get_order(self, workspace: str, order_id: str) -> OrderRecord | None: ...

    async def insert_order(self, order: OrderRecord) -> None:
        """Keep a counted order; its (workspace, order_id) is unique."""

    async def save_order(self, order: OrderRecord) -> None:
        """Keep what refunds and a cancellation took back from an order."""

    # the suppression list (keyed hashes of addresses, see engine/suppressions.py)
    async def contact_identities(self, contact_id: int) -> list[tuple[str, str]]:
        """Every (kind, value) identity of the contact."""

    async def add_suppressions(self, workspace: str, digests: Sequence[str], reason: str, at: datetime) -> None:
        """Put these digests on the list (one already there keeps its first reason and time)."""

    async def suppressed(self, workspace: str, digests: Sequence[str]) -> dict[str, tuple[str, datetime]]:
        """Those of `digests` on the list: digest -> (reason, since when)."""

    # one contact's data (GDPR)
    async def contact_data(self, contact_id: int) -> tuple[list[EventRecord], list[RunRecord], list[MessageRecord],
                                                          list[TaskRecord]]:
        """Everything kept about a contact: events, runs, messages, tasks."""

    async def erase_contact(self, contact_id: int) -> None:
        """Delete the contact and everything about it, identities included."""


class Store(Protocol):
    async def open(self) -> None:
        """Connect and create or migrate the schema."""

    async def close(self) -> None: ...

    def transaction(self) -> AbstractAsyncContextManager[Transaction]: ...

    async def due_runs(self, workspace: str, now: datetime, limit: int) -> list[tuple[int, int]]:
        """(run id, version) of open runs (active, waiting, converting) with wake_at <= now, earliest first."""

    async def upcoming_runs(self, workspace: str, until: datetime, limit: int,
                            after: tuple[datetime, int] | None = None) -> list[tuple[int, int, datetime]]:
        """(run id, version, wake_at) of runs waking by `until`, by wake_at then id, after `after` (paging)."""

    async def contact_id_bounds(self, workspace: str) -> tuple[int, int] | None:
        """The lowest and highest id of the workspace's contacts (merged ones excluded), or None."""

    async def next_wake(self, workspace: str) -> datetime | None:
        """The earliest wake_at of the workspace's runs, or None."""

    async def next_send(self, workspace: str) -> datetime | None:
        """The earliest `send_at` of pending messages (deferred ones), or None."""

    async def inbox_backlog(self, workspace: str) -> tuple[int, datetime | None]:
        """How many events wait in the inbox, and when the oldest of them was received."""

    async def inbox(self, workspace: str, limit: int) -> list[EventRecord]:
        """Events stored but not processed yet, in arrival order."""

    async def publish_versions(self, workspace: str, digest: str, sources: dict[str, str],
                               versions: Sequence[tuple[str, str]], at: datetime) -> dict[tuple[str, str], int]:
        """Keep a workspace snapshot and the rule versions compiled from it (each kept once, with the
        first snapshot that held it), and make it the workspace's current rules; the seq of each of
        these versions, by (rule id, version)."""

    async def current_snapshot(self, workspace: str, unless: str | None = None) -> tuple[str, dict[str, str]] | None:
        """The workspace's current rules, as last published: (digest, files); None when none were
        published or their digest is `unless` (the ones a process has already)."""

    async def prune_decisions(self, workspace: str, before: datetime) -> int:
        """Forget decisions recorded before then; how many."""

    async def kept_value(self, key: str, make: Callable[[], str]) -> str:
        """A value kept across restarts: the stored one, or `make()` stored now (the first caller's wins)."""

    async def swap_value(self, key: str, value: str) -> str | None:
        """Keep `value` under `key`; the value it replaces (None at first). Two processes swapping
        at once get one another's values, never the same one."""

    async def add_api_key(self, workspace: str, digest: str, prefix: str, created_at: datetime,
                          name: str | None = None) -> None:
        """Keep a new API key's SHA-256 digest (never the key)."""

    async def api_key_workspace(self, digest: str) -> str | None:
        """The workspace a key's digest belongs to, or None (read each time: a revoked key is refused at once)."""

    async def api_keys(self, workspace: str | None = None) -> list[ApiKeyRecord]:
        """The keys of a workspace (of all when None), oldest first."""

    async def touch_api_key(self, digest: str, at: datetime) -> None:
        """Note that the key was used at `at`."""

    async def revoke_api_keys(self, digests: Sequence[str]) -> int:
        """Delete these keys; how many there were."""

    async def api_key_count(self, workspace: str) -> int: ...

    async def gauges(self, workspace: str) -> dict[str, int]:
        """Counts for monitoring: runs active and waiting, messages by status, events in the inbox."""

    async def requeue_sending(self, workspace: str, claimed_before: datetime | None = None) -> int:
        """Put back to pending the messages a dead process was sending (all, or those claimed before
        `claimed_before` when other processes may be sending right now); returns how many."""

    async def messages(self, workspace: str, status: str | None = None) -> list[MessageRecord]:
        """Every message of the workspace (tests, small tools; the API pages with `message_page`)."""

    async def message_page(self, workspace: str, status: str | None = None, limit: int = 100,
                           before: int | None = None, after: int | None = None) -> list[MessageRecord]:
        """A page of messages by id, oldest first: the newest `limit`, those before the id `before`,
        or the first `limit` after the id `after`; read in the database, a page at a time."""

    async def run_page(self, workspace: str, rule_id: str | None = None, contact_id: int | None = None,
                       limit: int = 100, before: int | None = None, after: int | None = None) -> list[RunRecord]:
        """A page of runs, as `message_page`."""

    async def task_page(self, workspace: str, limit: int = 100, before: int | None = None,
                        after: int | None = None) -> list[TaskRecord]:
        """A page of tasks, as `message_page`."""

    async def rule_counts(self, workspace: str) -> dict[str, dict[str, object]]:
        """Per rule: runs by status, conversions and their revenue, messages by status (counted in the database)."""

    async def tasks(self, workspace: str) -> list[TaskRecord]: ...

    async def runs(self, workspace: str, rule_id: str | None = None, contact_id: int | None = None,
                   limit: int | None = None) -> list[RunRecord]:
        """Runs of the workspace, oldest first (the newest `limit` when given)."""
