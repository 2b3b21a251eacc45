"""Intake: events accepted into the inbox, then processed in arrival order, in groups.

Up to GROUP_EVENTS inbox events are processed in one transaction: each event's contact
resolved and its profile updated, the runs it ends or resumes, the runs it starts, the segment
events it causes (processed right after it), and the steps of those runs until they wait. A
group whose transaction fails is taken again one event a transaction, so that only the
failing event is set aside. Intake never sends: messages go out through the outbox.
"""
from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from . import runs
from .contact_cache import CachedContacts
from .events import ContactRef, Event, parse_event
from .faults import is_transient
from .inbox import GroupCommit, Received, Status
from .parts import EnginePart
from .profiles import apply_membership, apply_traits, resolve_contact, segment_changes
from .records import ACTIVE_STATUSES, ContactRecord, DecisionRecord, EventRecord, RunRecord
from .store import Transaction
from .timeline import Effect

logger = logging.getLogger("relance.engine")
SEGMENT_EVENTS = ("segment.entered", "segment.left")
GROUP_EVENTS = 100  # inbox events processed in one transaction (their runs' first steps with them)
PARSED_KEPT = 50_000  # events accepted here kept parsed until processed (the rest are read back from the store)


@dataclass
class Outcome:
    """What one event did: whether it was new, and the effects it caused (runs, messages, …)."""

    duplicate: bool
    contact_id: int | None = None
    effects: list[Effect] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Accepted:
    """An event's reception: accepted, duplicate or conflict; its outcome when processed while waiting."""

    event_id: str
    status: Status
    outcome: Outcome | None = None


class ProcessedElsewhere(Exception):
    """Another processor took this inbox event first."""


class Intake(EnginePart):
    """The engine's inbox: accepted events and their processing."""

    def __init__(self, engine: Any) -> None:
        super().__init__(engine)
        self._commit = GroupCommit(engine.store, engine.workspace.name, engine.clock)
        self.waiting: dict[str, Outcome] = {}  # event id -> the outcome a waiting caller reads
        self._parsed: dict[str, Event] = {}  # events accepted here, not processed yet: parsed once
        self.limit: int | None = None  # events waiting past which intake asks senders to come back later
        self._backlog = 0  # the inbox's size as last read, and as this process changed it since
        self._backlog_reads = 0  # accepts since it was last read
        self._processing_rate: float | None = None  # events/s, as the last inbox rounds went
        self.keep_decisions = timedelta(days=30)
        self._decisions_pruned: datetime | None = None

    async def _one_run_per_rule(self, tx: Transaction, contact: ContactRecord, at: datetime,
                                effects: list[Effect]) -> None:
        """After a merge, two active runs of a rule the contact may be in once: the newer is cancelled."""
        seen: set[str] = set()
        for run in await tx.contact_runs(contact.id, statuses=ACTIVE_STATUSES):
            rule = self.workspace.rules.get(run.rule_id)
            if rule is not None and rule.entry.kind == "always":
                continue
            if run.rule_id in seen:
                runs.cancel(run, at, "duplicate after a contact merge")
                await tx.save_run(run)
                effects.append(Effect(at, contact.label(), run.rule_id, "run.ended", {"reason": "merged"}))
            seen.add(run.rule_id)

    async def accept(self, items: Sequence[Received], wait: bool = False) -> list[Accepted]:
        """Store events for processing (a group commit shared with concurrent callers).

        Returns each event's status: accepted, duplicate (the same id and body, stored
        before: nothing more happens) or conflict (the same id with another body). With
        `wait`, the accepted events are processed before this returns, with their effects.
        """
        waiting = {item.event.id: self.waiting.setdefault(item.event.id, Outcome(False)) for item in items} \
            if wait else {}
        try:
            statuses = await self._commit.submit(items)
            self._backlog += statuses.count("accepted")
            for item, status in zip(items, statuses):
                if status == "accepted" and len(self._parsed) < PARSED_KEPT:
                    self._parsed[item.event.id] = item.event
            self.engine.arrived.set()
            if wait and "accepted" in statuses:
                await self.process()
        finally:
            for event_id in waiting:
                self.waiting.pop(event_id, None)
        return [Accepted(item.event.id, status, waiting.get(item.event.id) if status == "accepted" else None)
                for item, status in zip(items, statuses)]

    async def inbox_full(self) -> int | None:
        """Seconds a sender should wait before sending more, when the events waiting to be processed have
        reached `inbox_limit`; None while there is room. The inbox's size is read again from the store
        when it nears the limit (other processes fill it too) and every 100 calls."""
        if self.limit is None:
            return None
        self._backlog_reads += 1
        if self._backlog >= self.limit * 0.8 or self._backlog_reads >= 100:
            self._backlog, _ = await self.store.inbox_backlog(self.workspace.name)
            self._backlog_reads = 0
        if self._backlog < self.limit:
            return None
        drain = self._backlog - self.limit * 0.9 + 1  # come back once a tenth of the room is free
        return max(1, min(60, math.ceil(drain / (self._processing_rate or 100))))

    async def process(self) -> int:
        """Process every stored event not processed yet, in arrival order; returns how many."""
        processed = 0
        async with self.engine.lock:
            while True:
                await self._commit.idle()  # a request waiting to be stored is answered first
                started = time.perf_counter()  # how fast the engine goes (for Retry-After), not the domain's time
                done = await self._group_of(GROUP_EVENTS)
                processed += done
                self._backlog = max(0, self._backlog - done)
                if not done:
                    break
                self._processing_rate = done / max(time.perf_counter() - started, 1e-6)
        if processed:
            await self.forget_old_decisions()  # they grow with the events processed: pruned as they come
        return processed

    async def _group_of(self, limit: int) -> int:
        """Up to `limit` inbox events, oldest first, in one transaction: each event, the segment events
        it causes, and the steps of the runs it starts or resumes, in arrival order. When that
        transaction fails (a step raises, a plugin's bug), the events are taken again one at a time,
        so that only the failing event is set aside or the failing run failed. How many it took."""
        await self.engine.publish()
        now = self.clock.now()
        records: list[EventRecord] = []
        done: list[tuple[list[Effect], Outcome | None, int]] = []
        walked: list[RunRecord] = []
        try:
            async with self.store.transaction() as store_tx:
                records = await store_tx.claim_inbox(self.workspace.name, limit)
                if not records:
                    return 0
                tx = CachedContacts(store_tx)
                events = {r.event_id: self._parsed.get(r.event_id) or parse_event(r.payload) for r in records}
                await self._lock_group(tx, list(events.values()))
                decisions: list[DecisionRecord] = []
                assigned: list[tuple[int, int | None]] = []
                queue = list(records)
                while queue:
                    record = queue.pop(0)
                    event = events.get(record.event_id) or parse_event(record.payload)
                    effects: list[Effect] = []
                    to_walk: list[RunRecord] = []
                    contact, derived = await self.take_event(tx, event, now, effects, to_walk, decisions)
                    assigned.append((record.id, contact.id))  # type: ignore[arg-type]
                    if derived is None:
                        continue  # a repeat of a segment change: nothing more
                    walked += await self.engine.stepping.walk_in(tx, to_walk, effects)
                    done.append((effects, self.waiting.get(record.event_id), contact.id))
                    if derived:  # processed right after their cause
                        queue[0:0] = await tx.claim_events(self.workspace.name, [d.id for d in derived])
                await tx.flush()
                await tx.assign_contacts(assigned)
                await tx.insert_decisions(decisions)
        except Exception as error:
            if is_transient(error) or not records:  # the database away: the events stay in the inbox
                raise
            logger.warning("%d events failed together; taking them one at a time", len(records), exc_info=True)
            for record in records:  # in the inbox again: the transaction rolled back
                await self.process_one(record, self.waiting.get(record.event_id))
                self._parsed.pop(record.event_id, None)
            return len(records)
        for record in records:
            self._parsed.pop(record.event_id, None)
        for effects, outcome, contact_id in done:
            if outcome is not None and outcome.contact_id is None:
                outcome.contact_id = contact_id
            self.engine.emit(effects, outcome)
        await self.engine.stepping.remind(walked)
        return len(records)

    async def _lock_group(self, tx: CachedContacts, events: Sequence[Event]) -> None:
        """`_lock_contacts` for a group of events at once: every identity they name, then every
        contact, each in order, before reading any of them; the contacts are read then, together."""
        identities = sorted({identity for event in events for identity in event.contact.identities()})
        if tx.locking:
            await tx.lock_identities(self.workspace.name, identities)
            owners = set((await tx.identity_owners(self.workspace.name, identities)).values())  # ids only: a
            # contact read before its lock could be changed meanwhile by a step elsewhere, and written back stale
            await tx.lock_contacts(sorted(owners | {e.contact.id for e in events if e.contact.id is not None}))
        await tx.prefetch(self.workspace.name, identities)  # the contacts, read once held

    async def process_one(self, record: EventRecord, outcome: Outcome | None) -> None:
        """One event, then the segment events it caused, each in a transaction of its own."""
        pending = [record]
        while pending:
            current = pending.pop(0)
            try:
                derived = await self._alone(current, outcome)
            except ProcessedElsewhere:
                continue
            except Exception as error:  # a bug or a plugin's: set the event aside, keep the others going
                if is_transient(error):  # the database away: the event stays in the inbox for the next try
                    raise
                logger.exception("event %s could not be processed; set aside", current.event_id)
                await self._set_aside(current, error, outcome)
                continue
            if derived:
                async with self.store.transaction() as tx:
                    found = await tx.get_events(self.workspace.name, derived)
                pending += [found[i] for i in derived if i in found and not found[i].processed]

    async def _set_aside(self, record: EventRecord, error: Exception, outcome: Outcome | None) -> None:
        async with self.store.transaction() as tx:
            await tx.claim_event(record, None)
        self.engine.emit([Effect(record.at, record.event_id, None, "event.failed",
                           {"error": f"{type(error).__name__}: {error}"})], outcome)

    async def _alone(self, record: EventRecord, outcome: Outcome | None) -> list[str]:
        """One event in a transaction of its own (see `_intake_in`), its runs walked after it commits.

        Returns the ids of the segment events this caused, stored in the same transaction.
        """
        event = self._parsed.get(record.event_id) or parse_event(record.payload)
        await self.engine.publish()
        now = self.clock.now()
        effects: list[Effect] = []
        to_walk: list[RunRecord] = []
        decisions: list[DecisionRecord] = []
        async with self.store.transaction() as tx:
            await self._lock_contacts(tx, event.contact)
            if not await tx.claim_event(record, None):
                raise ProcessedElsewhere
            contact, derived = await self.take_event(tx, event, now, effects, to_walk, decisions)
            await tx.assign_contacts([(record.id, contact.id)])  # type: ignore[list-item]
            await tx.insert_decisions(decisions)
        if derived is None:
            return []  # a repeat of a segment change: nothing more
        if outcome is not None and outcome.contact_id is None:
            outcome.contact_id = contact.id
        self.engine.emit(effects, outcome)
        for run in to_walk:
            await self.engine.stepping.walk(run.id, outcome)  # type: ignore[arg-type]
        return [d.id for d in derived]

    async def take_event(self, tx: Transaction, event: Event, now: datetime, effects: list[Effect],
                         to_walk: list[RunRecord], decisions: list[DecisionRecord]) -> tuple[ContactRecord, list[Event] | None]:
        """One event in `tx`: resolve its contact, update its profile, end or resume its runs, start new
        ones (to walk: `to_walk`). The contact and the segment events this caused (stored in `tx`),
        None when the event is a repeat of a segment change and does nothing."""
        contact, merged = await resolve_contact(tx, self.workspace.name, event.contact, now, self._screen)
        label = contact.label()
        for merged_id in merged:
            effects.append(Effect(event.at, label, None, "contact.merged", {"value": merged_id}))
        if merged:
            await self._one_run_per_rule(tx, contact, event.at, effects)
        await apply_traits(tx, contact, event)
        points = sum(s.score(event, contact, self.workspace) for s in self.engine.scorers)
        if points:
            contact.score += points
            effects.append(Effect(event.at, label, None, "score.changed", {"value": points, "score": contact.score}))
        derived: list[Event] = []
        if event.properties.get("derived_from") and event.type in SEGMENT_EVENTS:
            if not apply_membership(contact, event):
                return contact, None
        else:
            derived = self.segment_events(contact, event, now)
            await tx.insert_events([self.record(d, now) for d in derived])
        await tx.save_contact(contact)
        await self.engine.endings.react(tx, contact, event, effects, to_walk)
        for rule in self.workspace.rules_for(event.type):
            run, reason = await self.engine.admission.start(tx, rule, contact, event)
            decisions.append(DecisionRecord(self.workspace.name, contact.id, rule.id, event.id, event.type,
                                            event.at, run is not None, reason))
            if run is not None:
                effects.append(Effect(run.started_at, label, rule.id, "run.started", {"event": event.type}))
                to_walk.append(run)
            else:
                effects.append(Effect(event.at, label, rule.id, "run.not_started", {"reason": reason}))
        return contact, derived

    async def _screen(self, tx: Transaction, contact: ContactRecord, identities: Sequence[tuple[str, str]]) -> None:
        """Addresses on the suppression list come back opted out (engine/suppressions.py)."""
        if self.engine.suppressions is not None:
            await self.engine.suppressions.screen(tx, contact, identities, self.workspace)

    async def _lock_contacts(self, tx: Transaction, ref: ContactRef) -> None:
        """Lock the identities the event names (two processes must not both create the contact of a
        new email), then every contact it names, in id order, before reading any of them."""
        if not tx.locking:
            return
        for kind, value in sorted(ref.identities()):
            await tx.lock_identity(self.workspace.name, kind, value)
        found = {c.id for c in await tx.find_contacts(self.workspace.name, ref.identities())}
        for contact_id in sorted(found | ({ref.id} if ref.id is not None else set())):
            await tx.lock_contact(contact_id)

    def record(self, event: Event, now: datetime) -> EventRecord:
        return EventRecord(self.workspace.name, event.id, event.type, event.at, now, event.as_json(), processed=False)

    def segment_events(self, contact: ContactRecord, cause: Event, now: datetime) -> list[Event]:
        entered, left = segment_changes(contact, self.workspace, now)
        ref = ContactRef(id=contact.id)
        return [Event(f"{kind}:{name}:{contact.id}:{cause.id}", kind, cause.at, ref,
                      {"segment": name, "derived_from": cause.id})
                for kind, names in (("segment.entered", entered), ("segment.left", left)) for name in names]

    async def forget_old_decisions(self) -> int:
        """Decisions (why an event started a rule or not) are a recent log: those older than
        `keep_decisions` go, looked at once an hour when events are processed. How many went."""
        now = self.clock.now()
        if self._decisions_pruned is not None and now - self._decisions_pruned < timedelta(hours=1):
            return 0
        self._decisions_pruned = now
        return await self.store.prune_decisions(self.workspace.name, now - self.keep_decisions)
