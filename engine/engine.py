"""The engine of one workspace: events in, runs walked step by step, messages out through the outbox."""
from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

from relance.dsl import graph as g
from relance.dsl.durations import format_duration
from relance.dsl.errors import RelanceError
from relance.dsl.expressions import Scope
from relance.dsl.values import zone_named

from .channels import Channel
from .dispatcher import Dispatcher
from .links import Links
from .clock import Clock
from .contact_cache import CachedContacts
from .events import ContactRef, Event, EventConflict, EventError, parse_event, stored_view
from .faults import is_transient
from .inbox import GroupCommit, Received, Status
from .profiles import apply_membership, apply_traits, resolve_contact, revenue, segment_changes
from .dates import date_field, offset_moment, yearly_moments
from .records import ACTIVE_STATUSES, OPEN_STATUSES, ContactRecord, DecisionRecord, EventRecord, RunRecord
from .scoring import Scorer
from .store import Store, Transaction
from .suppressions import Suppressions
from .timeline import Effect
from .versions import CompileSources, Pinned, Versions, move_blocker
from .walker import Step, Walker, end_run, finish, next_time_of_day

logger = logging.getLogger("relance.engine")
SEGMENT_EVENTS = ("segment.entered", "segment.left")
BATCH = 500
GROUP_EVENTS = 100  # inbox events processed in one transaction (their runs' first steps with them)
PARSED_KEPT = 50_000  # events accepted here kept parsed until processed (the rest are read back from the store)
STEPS_TOGETHER = 20  # steps of one run taken in one transaction when none waits in between
TIMED_TOGETHER = 50  # contacts whose due timed runs start, with their first steps, in one transaction


Reactive = tuple[tuple[str, ...], tuple[tuple[str, tuple[g.ContactCondition, ...]], ...]]  # see _reactive_rules
OnWait = Callable[[str, Sequence[tuple[int, int, datetime]]], Awaitable[object]]  # workspace, [(run id, version, wake_at)]


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


class _ProcessedElsewhere(Exception):
    """Another processor took this inbox event first."""


class _NotDue(Exception):
    """A reminder for a run that is not due at this version: stale (None) or early (its wake time)."""

    def __init__(self, wake_at: datetime | None) -> None:
        super().__init__(wake_at)
        self.wake_at = wake_at


class Engine:
    """Runs one workspace's rules on a store, a clock and channel plugins."""

    def __init__(self, workspace: g.Workspace, store: Store, clock: Clock, channels: Mapping[str, Channel],
                 scorers: Sequence[Scorer] = (), on_effect: Callable[[Effect], None] | None = None,
                 links: Links | None = None, on_wait: OnWait | None = None,
                 compile_sources: CompileSources | None = None) -> None:
        self.workspace = workspace
        self.store = store
        self.clock = clock
        self.channels = channels
        self.scorers = tuple(scorers)
        self.on_effect = on_effect
        self.on_wait = on_wait  # a run now waits until a time: remind a queue (arq) to resume it then
        self.walker = Walker(self._start_from_step, frozenset({links.host}) if links else frozenset())
        self.versions = Versions(workspace.name, compile_sources)
        self.keep_decisions = timedelta(days=30)
        self._decisions_pruned: datetime | None = None
        self.timed_checked_at: datetime | None = None
        self._timed_redo: datetime | None = None  # the start of a timed pass that did not finish
        self._lock = asyncio.Lock()
        self._group = GroupCommit(store, workspace.name, clock)
        self.dispatcher = Dispatcher(store, clock, channels, links, lambda effects: self._emit(effects, None))
        self._waiting: dict[str, Outcome] = {}  # event id -> the outcome a waiting caller reads
        self._parsed: dict[str, Event] = {}  # events accepted here, not processed yet: parsed once
        self.inbox_limit: int | None = None  # events waiting past which intake asks senders to come back later
        self._backlog = 0  # the inbox's size as last read, and as this process changed it since
        self._backlog_reads = 0  # accepts since it was last read
        self._processing_rate: float | None = None  # events/s, as the last inbox rounds went
        self._reactive: dict[str, Reactive] = {}  # event type -> the rules whose runs it may end
        self.arrived = asyncio.Event()  # set when events were accepted: the inbox has work
        self.suppressions: Suppressions | None = None  # set by the server: erased addresses stay opted out
        self.reload(workspace)

    # ---------------------------------------------------------------- rules
    def reload(self, workspace: g.Workspace, publish: bool = True) -> None:
        """Use new rules; runs move to the same node of the new version, or stay on theirs (engine/versions.py).
        `publish=False`: the rules come from the store (a process that follows the published ones)."""
        self.workspace = workspace
        self.versions.load(workspace, publish)
        self._reactive = {}

    async def follow(self) -> bool:
        """Load the workspace's current rules, as last published in the store, when they are not the
        ones loaded here (`relance worker`: servers and workers walk the same rules); True if it did."""
        if self.versions.compile_sources is None:
            return False
        current = await self.store.current_snapshot(self.workspace.name, unless=self.versions.digest)
        if current is None:
            return False
        compiled = self.versions.compiled(*current)
        if compiled is None or compiled.name != self.workspace.name:
            return False
        self.reload(compiled, publish=False)
        logger.info("%s: loaded the rules published in the store (%d rules)", self.workspace.name, len(compiled.rules))
        return True

    async def publish(self) -> None:
        """Store the loaded rule versions, and make them the workspace's current rules for processes
        that follow the store (`relance worker`); done before any run is pinned to them, once."""
        await self.versions.publish(self.store, self.clock.now())

    async def _rule_for(self, tx: Transaction, run: RunRecord) -> Pinned | None:
        """The version a run walks on: the loaded one when it is pinned to it; else the newer loaded
        version when the run may move there (the trace says so), else its own, from the store if
        need be. None when that version is known nowhere."""
        current = self.workspace.rules.get(run.rule_id)
        if current is not None and current.version == run.rule_version:
            return Pinned(current, self.workspace)
        pinned = await self.versions.pinned(tx, run.rule_id, run.rule_version)
        if current is None:
            return pinned
        own_seq = await self.versions.seq(tx, run.rule_id, run.rule_version)
        current_seq = await self.versions.seq(tx, current.id, current.version)
        if own_seq is not None and current_seq is not None and current_seq < own_seq:
            return pinned  # the version loaded here is older than the run's (files behind the others)
        blocker = move_blocker(run.node_id, pinned.rule if pinned else None, current)
        if blocker is None:
            run.trace.append({"at": run.step_at.isoformat(), "node": run.node_id, "version": current.version,
                              "why": f"rule edited: moved from version {run.rule_version} to {current.version}"})
            run.rule_version = current.version
            return Pinned(current, self.workspace)
        if pinned is None:
            return None
        if not any(entry.get("version") == current.version for entry in run.trace):
            run.trace.append({"at": run.step_at.isoformat(), "node": run.node_id, "version": current.version,
                              "why": f"rule edited: stays on version {run.rule_version}, "
                                     f"as version {current.version} {blocker}"})
        return pinned

    async def _one_run_per_rule(self, tx: Transaction, contact: ContactRecord, at: datetime,
                                effects: list[Effect]) -> None:
        """After a merge, two active runs of a rule the contact may be in once: the newer is cancelled."""
        seen: set[str] = set()
        for run in await tx.contact_runs(contact.id, statuses=ACTIVE_STATUSES):
            rule = self.workspace.rules.get(run.rule_id)
            if rule is not None and rule.entry.kind == "always":
                continue
            if run.rule_id in seen:
                finish(run, at, "duplicate after a contact merge", "cancelled")
                run.version += 1
                await tx.save_run(run)
                effects.append(Effect(at, contact.label(), run.rule_id, "run.ended", {"reason": "merged"}))
            seen.add(run.rule_id)

    # --------------------------------------------------------------- events
    async def accept(self, items: Sequence[Received], wait: bool = False) -> list[Accepted]:
        """Store events for processing (a group commit shared with concurrent callers).

        Returns each event's status: accepted, duplicate (the same id and body, stored
        before: nothing more happens) or conflict (the same id with another body). With
        `wait`, the accepted events are processed before this returns, with their effects.
        """
        waiting = {item.event.id: self._waiting.setdefault(item.event.id, Outcome(False)) for item in items} \
            if wait else {}
        try:
            statuses = await self._group.submit(items)
            self._backlog += statuses.count("accepted")
            for item, status in zip(items, statuses):
                if status == "accepted" and len(self._parsed) < PARSED_KEPT:
                    self._parsed[item.event.id] = item.event
            self.arrived.set()
            if wait and "accepted" in statuses:
                await self.process_inbox()
        finally:
            for event_id in waiting:
                self._waiting.pop(event_id, None)
        return [Accepted(item.event.id, status, waiting.get(item.event.id) if status == "accepted" else None)
                for item, status in zip(items, statuses)]

    async def inbox_full(self) -> int | None:
        """Seconds a sender should wait before sending more, when the events waiting to be processed have
        reached `inbox_limit`; None while there is room. The inbox's size is read again from the store
        when it nears the limit (other processes fill it too) and every 100 calls."""
        if self.inbox_limit is None:
            return None
        self._backlog_reads += 1
        if self._backlog >= self.inbox_limit * 0.8 or self._backlog_reads >= 100:
            self._backlog, _ = await self.store.inbox_backlog(self.workspace.name)
            self._backlog_reads = 0
        if self._backlog < self.inbox_limit:
            return None
        drain = self._backlog - self.inbox_limit * 0.9 + 1  # come back once a tenth of the room is free
        return max(1, min(60, math.ceil(drain / (self._processing_rate or 100))))

    async def ingest(self, event: Event, at_given: bool = True) -> Outcome:
        """Store an event once and run everything it causes; a repeated id changes nothing.

        The same id with a different body raises EventConflict; `at_given=False` (the sender
        left the time to us) leaves `at` out of that comparison, so a retry is not a conflict.
        """
        [accepted] = await self.accept([Received(event, at_given)], wait=True)
        if accepted.status == "conflict":
            raise EventConflict(event.id)
        if accepted.status == "unknown_contact":
            raise EventError("/contact/id", f"no contact {event.contact.id} in this workspace")
        if accepted.status == "failed":
            raise RelanceError(f"event {event.id} could not be stored")
        return accepted.outcome or Outcome(duplicate=True)

    async def process_inbox(self) -> int:
        """Process every stored event not processed yet, in arrival order; returns how many."""
        processed = 0
        async with self._lock:
            while True:
                await self._group.idle()  # a request waiting to be stored is answered first
                started = time.perf_counter()  # how fast the engine goes (for Retry-After), not the domain's time
                done = await self._intake_group(GROUP_EVENTS)
                processed += done
                self._backlog = max(0, self._backlog - done)
                if not done:
                    break
                self._processing_rate = done / max(time.perf_counter() - started, 1e-6)
        if processed:
            await self.forget_old_decisions()  # they grow with the events processed: pruned as they come
            await self.dispatch()
        return processed

    async def _intake_group(self, limit: int) -> int:
        """Up to `limit` inbox events, oldest first, in one transaction: each event, the segment events
        it causes, and the steps of the runs it starts or resumes, in arrival order. When that
        transaction fails (a step raises, a plugin's bug), the events are taken again one at a time,
        so that only the failing event is set aside or the failing run failed. How many it took."""
        await self.publish()
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
                    contact, derived = await self._intake_in(tx, event, now, effects, to_walk, decisions)
                    assigned.append((record.id, contact.id))  # type: ignore[arg-type]
                    if derived is None:
                        continue  # a repeat of a segment change: nothing more
                    walked += await self._walk_in(tx, to_walk, effects)
                    done.append((effects, self._waiting.get(record.event_id), contact.id))
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
                await self._process(record, self._waiting.get(record.event_id))
                self._parsed.pop(record.event_id, None)
            return len(records)
        for record in records:
            self._parsed.pop(record.event_id, None)
        for effects, outcome, contact_id in done:
            if outcome is not None and outcome.contact_id is None:
                outcome.contact_id = contact_id
            self._emit(effects, outcome)
        await self._remind(walked)
        return len(records)

    async def _lock_group(self, tx: CachedContacts, events: Sequence[Event]) -> None:
        """`_lock_contacts` for a group of events at once: every identity they name, then every
        contact, each in order, before reading any of them; the contacts are read then, together."""
        identities = sorted({identity for event in events for identity in event.contact.identities()})
        if tx.locking:
            await tx.lock_identities(self.workspace.name, identities)
        found = {c.id for c in await tx.find_contacts(self.workspace.name, identities)}
        if tx.locking:
            await tx.lock_contacts(sorted(found | {e.contact.id for e in events if e.contact.id is not None}))

    async def _walk_in(self, tx: Transaction, runs: Sequence[RunRecord], effects: list[Effect]) -> list[RunRecord]:
        """The steps of these runs (as this transaction left them), and of those they start, in `tx`,
        until each waits or ends."""
        walked: list[RunRecord] = []
        pending: list[RunRecord | int] = list(runs)
        while pending:
            item = pending.pop(0)
            run = await tx.get_run(item) if isinstance(item, int) else item
            contact = await tx.get_contact(run.contact_id) if run is not None else None
            if run is None or contact is None:
                continue
            while run.status == "active" and not (run.wake_at and run.wake_at > self.clock.now()):
                pinned = await self._rule_for(tx, run)
                if pinned is None:
                    finish(run, run.step_at, "rule version gone", "cancelled")
                    run.version += 1
                    await tx.save_run(run)
                    break
                before, started = _profile(contact), []
                await self._take_steps(tx, run, pinned, contact, effects, started)
                await tx.save_run(run)
                if _profile(contact) != before:
                    await tx.save_contact(contact)
                pending += started
            walked.append(run)
        return walked

    async def _process(self, record: EventRecord, outcome: Outcome | None) -> None:
        """One event, then the segment events it caused, each in a transaction of its own."""
        pending = [record]
        while pending:
            current = pending.pop(0)
            try:
                derived = await self._intake(current, outcome)
            except _ProcessedElsewhere:
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
        self._emit([Effect(record.at, record.event_id, None, "event.failed",
                           {"error": f"{type(error).__name__}: {error}"})], outcome)

    async def _intake(self, record: EventRecord, outcome: Outcome | None) -> list[str]:
        """One event in a transaction of its own (see `_intake_in`), its runs walked after it commits.

        Returns the ids of the segment events this caused, stored in the same transaction.
        """
        event = self._parsed.get(record.event_id) or parse_event(record.payload)
        await self.publish()
        now = self.clock.now()
        effects: list[Effect] = []
        to_walk: list[RunRecord] = []
        decisions: list[DecisionRecord] = []
        async with self.store.transaction() as tx:
            await self._lock_contacts(tx, event.contact)
            if not await tx.claim_event(record, None):
                raise _ProcessedElsewhere
            contact, derived = await self._intake_in(tx, event, now, effects, to_walk, decisions)
            await tx.assign_contacts([(record.id, contact.id)])  # type: ignore[list-item]
            await tx.insert_decisions(decisions)
        if derived is None:
            return []  # a repeat of a segment change: nothing more
        if outcome is not None and outcome.contact_id is None:
            outcome.contact_id = contact.id
        self._emit(effects, outcome)
        for run in to_walk:
            await self._walk(run.id, outcome)  # type: ignore[arg-type]
        return [d.id for d in derived]

    async def _intake_in(self, tx: Transaction, event: Event, now: datetime, effects: list[Effect],
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
        points = sum(s.score(event, contact, self.workspace) for s in self.scorers)
        if points:
            contact.score += points
            effects.append(Effect(event.at, label, None, "score.changed", {"value": points, "score": contact.score}))
        derived: list[Event] = []
        if event.properties.get("derived_from") and event.type in SEGMENT_EVENTS:
            if not apply_membership(contact, event):
                return contact, None
        else:
            derived = self._segment_events(contact, event, now)
            await tx.insert_events([self._record(d, now) for d in derived])
        await tx.save_contact(contact)
        await self._existing_runs(tx, contact, event, effects, to_walk)
        for rule in self.workspace.rules_for(event.type):
            run, reason = await self._maybe_start(tx, rule, contact, event)
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
        if self.suppressions is not None:
            await self.suppressions.screen(tx, contact, identities, self.workspace)

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

    def _record(self, event: Event, now: datetime) -> EventRecord:
        return EventRecord(self.workspace.name, event.id, event.type, event.at, now, event.as_json(), processed=False)

    def _segment_events(self, contact: ContactRecord, cause: Event, now: datetime) -> list[Event]:
        entered, left = segment_changes(contact, self.workspace, now)
        ref = ContactRef(id=contact.id)
        return [Event(f"{kind}:{name}:{contact.id}:{cause.id}", kind, cause.at, ref,
                      {"segment": name, "derived_from": cause.id})
                for kind, names in (("segment.entered", entered), ("segment.left", left)) for name in names]

    async def _existing_runs(self, tx: Transaction, contact: ContactRecord, event: Event,
                             effects: list[Effect], to_walk: list[RunRecord]) -> None:
        """End the runs this event completes or exits, as it arrives (a waiting run does not wait for its
        next step to notice); resume runs waiting for it."""
        view = event.view()
        by_event, by_contact = self._reactive_rules(event.type)
        now_scope = Scope(contact=contact.view(), event=view, now=event.at, zone=self.workspace.timezone,
                          locale=self.workspace.locale)  # a condition on the contact holds for all its runs or none
        rule_ids = sorted({*by_event, *(rule_id for rule_id, conditions in by_contact
                                        if any(c.predicate(now_scope) for c in conditions))})
        for run in await tx.reactive_runs(contact.id, rule_ids, event.type):
            pinned = await self._rule_for(tx, run)
            if pinned is None or event.at < run.started_at:
                continue
            rule = pinned.rule
            scope = Scope(contact=contact.view(), event=view, now=event.at, zone=self.workspace.timezone,
                          locale=self.workspace.locale)
            ending = self._ending(rule, run, event, scope)
            if ending is not None:
                reason, condition = ending
                gain = revenue(event.properties) if reason == "goal" else None
                end_run(run, event.at, reason, f"{reason}: {condition} ({event.type} {event.id})", gain)
                run.version += 1
                await tx.save_run(run)
                details: dict[str, Any] = {"reason": reason, "event": event.type}
                if reason == "goal":
                    details["revenue"] = run.revenue
                if not any(isinstance(c, g.EventCondition) and c.text == condition for c in (*rule.goals, *rule.exits)):
                    details["condition"] = condition  # a condition on the contact, met by what this event changed
                effects.append(Effect(event.at, contact.label(), rule.id, "run.ended", details))
                continue
            node = rule.nodes.get(run.node_id or "")
            if run.status == "waiting" and isinstance(node, g.WaitEventNode) and node.event_type == event.type \
                    and run.wake_at is not None and run.step_at <= event.at <= run.wake_at \
                    and (node.where is None or node.where(scope)):
                self._resume_after_event(run, node, event.at, f"{event.type} at {event.at.isoformat()}")
                await tx.save_run(run)
                effects.append(Effect(event.at, contact.label(), rule.id, "wait.resumed", {"waited": True}))
                to_walk.append(run)

    def _reactive_rules(self, event_type: str) -> Reactive:
        """The rules whose runs an event of this type may end, in any version loaded here: those with
        a goal or exit on this type, and those with one on the contact (with those conditions: a rule
        only matters when one holds for the contact as the event leaves it)."""
        if event_type not in self._reactive:
            by_event: set[str] = set()
            by_contact: dict[str, list[g.ContactCondition]] = {}
            for rule in self.versions.loaded():
                for condition in (*rule.goals, *rule.exits):
                    if isinstance(condition, g.ContactCondition):
                        by_contact.setdefault(rule.id, []).append(condition)
                    elif condition.event_type == event_type:
                        by_event.add(rule.id)
            self._reactive[event_type] = (tuple(sorted(by_event)),
                                          tuple((rule_id, tuple(c)) for rule_id, c in sorted(by_contact.items())))
        return self._reactive[event_type]

    @staticmethod
    def _ending(rule: g.Rule, run: RunRecord, event: Event, scope: Scope) -> tuple[str, str] | None:
        """(goal or exited, the condition as written) when this event, or the profile it just updated,
        ends the run."""
        for reason, conditions in (("goal", rule.goals), ("exited", rule.exits)):
            for condition in conditions:
                if isinstance(condition, g.EventCondition):
                    if condition.event_type == event.type and _meets(condition, run, event.id, event.at, scope):
                        return reason, condition.text
                elif condition.predicate(scope):
                    return reason, condition.text
        return None

    @staticmethod
    def _resume_after_event(run: RunRecord, node: g.WaitEventNode, at: datetime, why: str) -> None:
        run.trace.append({"at": at.isoformat(), "node": node.id, "why": f"waited: {why}"})
        run.waited = True
        run.status = "active"
        run.node_id = node.next
        run.step_at = max(at, run.step_at)
        run.wake_at = run.step_at
        run.waiting_for = None
        run.version += 1

    # ------------------------------------------------------------ starting runs
    def _refusal(self, rule: g.Rule, contact: ContactRecord, event: Event) -> str | None:
        """Why this event does not start the rule for this contact (its trigger or its `if:`); None if it does."""
        trigger = rule.trigger
        if isinstance(trigger, g.EventTrigger) and trigger.segment is not None \
                and event.properties.get("segment") != trigger.segment:
            return f"the segment is {event.properties.get('segment')}, not {trigger.segment}"
        scope = Scope(contact=contact.view(), event=event.view(), now=event.at, zone=self.workspace.timezone,
                      locale=self.workspace.locale)
        where = trigger.where if isinstance(trigger, (g.EventTrigger, g.DateTrigger, g.YearlyTrigger)) else None
        if where is not None and not where(scope):
            return f"its trigger's condition is false for this event (when: {rule.when})"
        if rule.condition is not None and not rule.condition(scope):
            return f"its condition is false for this contact (if: {rule.condition_text})"
        return None

    @staticmethod
    def _entry_refusal(rule: g.Rule, runs: Sequence[RunRecord], at: datetime) -> str | None:
        """Why the rule's `entry` keeps the contact out now, given its `runs` of the rule; None if it lets it in."""
        entry = rule.entry
        if entry.kind == "always":
            return None
        if entry.kind == "once" and runs:
            return f"entry: once, and the contact already entered (run {runs[0].id}, {runs[0].started_at:%Y-%m-%d %H:%M})"
        active = [r for r in runs if r.status in ACTIVE_STATUSES]
        if active:
            return (f"the contact is already in this rule (run {active[-1].id}, {active[-1].status}): one run at a "
                    "time (entry: always lets contacts in again)")
        if entry.kind == "after" and runs and entry.after is not None:
            again = max(r.started_at for r in runs) + entry.after
            if again > at:
                return (f"entry: after {format_duration(entry.after)}: the contact may enter again from "
                        f"{again:%Y-%m-%d %H:%M}")
        return None

    async def _maybe_start(self, tx: Transaction, rule: g.Rule, contact: ContactRecord, event: Event,
                           occurrence: str | None = None) -> tuple[RunRecord | None, str]:
        """Start the rule for this event if its trigger and entry let the contact in: the run (stored),
        or None and why not."""
        runs = await tx.contact_runs(contact.id, rule.id) if rule.entry.kind != "always" else []
        run, reason = self._admitted(rule, contact, event, occurrence, runs)
        if run is None:
            return None, reason
        created = await tx.create_run(run)
        await self._supersede(tx, runs, created)
        return created, reason

    def _admitted(self, rule: g.Rule, contact: ContactRecord, event: Event, occurrence: str | None,
                  runs: Sequence[RunRecord]) -> tuple[RunRecord | None, str]:
        """A new run of `rule` for `event`, not stored yet, when its trigger matches and its entry lets
        the contact in (given the contact's `runs` of the rule); else None and why not."""
        refusal = self._refusal(rule, contact, event) or self._entry_refusal(rule, runs, event.at)
        if refusal is not None:
            return None, refusal
        at = min(event.at, self.clock.now())
        why = f"started by {event.type} {event.id}"
        return self._new_run(rule, contact.id, at, event.as_json(), why, occurrence), why

    @staticmethod
    async def _supersede(tx: Transaction, runs: Sequence[RunRecord], new: RunRecord) -> None:
        """A run that took its steps and waits for its goal ends when the contact enters the rule again:
        the new run claims the goal."""
        for run in runs:
            if run.status == "converting":
                end_run(run, new.started_at, "finished", f"finished: the contact entered the rule again (run {new.id})")
                run.version += 1
                await tx.save_run(run)

    def _new_run(self, rule: g.Rule, contact_id: int, at: datetime, trigger_event: dict[str, Any], why: str,
                 occurrence: str | None = None) -> RunRecord:
        """A run at the rule's first node, due now; `trigger_event` is what its steps see as `event`."""
        return RunRecord(self.workspace.name, contact_id, rule.id, rule.version, started_at=at, step_at=at,
                         trigger_event=trigger_event, node_id=rule.start, wake_at=at, occurrence=occurrence,
                         trace=[{"at": at.isoformat(), "node": None, "why": why}])

    async def _start_from_step(self, step: Step, rule_id: str) -> tuple[RunRecord | None, str]:
        rule = self.workspace.rules.get(rule_id)
        if rule is None:
            return None, f"no rule {rule_id} in the rules loaded here"
        runs = await step.tx.contact_runs(step.contact.id, rule.id) if rule.entry.kind != "always" else []
        refusal = self._entry_refusal(rule, runs, step.at)
        if refusal is not None:
            return None, refusal
        trigger = {**step.run.trigger_event, "id": f"start:{step.run.id}:{rule_id}"}
        created = await step.tx.create_run(self._new_run(rule, step.contact.id, step.at, trigger,
                                                         f"started by {step.rule.id} (run {step.run.id})"))
        await self._supersede(step.tx, runs, created)
        step.started_runs.append(created.id)  # type: ignore[arg-type]
        step.effects.append(Effect(step.at, step.contact.label(), rule.id, "run.started", {"by": step.rule.id}))
        return created, f"started run {created.id}"

    # ---------------------------------------------------------------- walking
    async def _walk(self, run_id: int, outcome: Outcome | None = None, wake: int | None = None) -> None:
        """Take steps until the run waits or ends (woken first at version `wake`); see `_steps`.

        A step that raises is rolled back and its run marked failed, with the error in its
        trace: it never holds back the other due runs. A transient error (engine/faults.py)
        is raised instead: the run stays due, and is tried again with backoff.
        """
        try:
            run = await self._steps(run_id, outcome, wake)
        except _NotDue:
            raise
        except Exception as error:  # a rule or plugin error, not ours to crash on
            if is_transient(error):
                raise
            logger.exception("run %s failed", run_id)
            await self._fail(run_id, error)
            return
        if run is not None:
            await self._remind([run])

    async def _remind(self, runs: Sequence[RunRecord]) -> None:
        """Tell `on_wait` (a queue) when each of these runs that now waits until a time is due."""
        waits = [(run.id, run.version, run.wake_at) for run in runs if run.status == "waiting" and run.wake_at]
        if waits and self.on_wait is not None:
            await self.on_wait(self.workspace.name, waits)  # type: ignore[arg-type]

    async def _fail(self, run_id: int, error: Exception) -> None:
        async with self.store.transaction() as tx:
            run = await tx.get_run(run_id)
            if run is None or run.status not in ACTIVE_STATUSES:
                return
            reason = f"step {run.node_id} failed: {type(error).__name__}: {error}"
            run.trace.append({"at": run.step_at.isoformat(), "node": run.node_id, "why": reason})
            finish(run, run.step_at, reason, "failed")
            run.version += 1
            await tx.save_run(run)
            contact = await tx.get_contact(run.contact_id)
        label = contact.label() if contact else f"contact:{run.contact_id}"
        self._emit([Effect(run.step_at, label, run.rule_id, "run.ended", {"reason": "failed", "error": reason})], None)

    async def _steps(self, run_id: int, outcome: Outcome | None, wake: int | None = None) -> RunRecord | None:
        """Steps of a run until it waits or ends; with `wake`, the run is first woken at that version,
        in the first step's transaction (raises _NotDue when it is stale or early).

        Steps that follow one another without waiting are taken in one transaction (up to
        STEPS_TOGETHER): each step's effects still commit together or not at all. When such
        a transaction fails, the steps are taken again one transaction each, so that the
        step that fails is the one the run is marked failed on.
        """
        alone = False
        await self.publish()
        while True:
            effects: list[Effect] = []
            started: list[int] = []
            first_version: int | None = None  # the run's, before its first step here
            ended = False
            try:
                async with self.store.transaction() as tx:
                    run = await tx.locked_run(run_id)
                    contact = await tx.get_contact(run.contact_id) if run is not None else None
                    if wake is not None and not await self._wake(tx, run, contact, wake, effects):
                        ended = True  # cancelled (its rule version or contact is gone), or its goal window closed
                    elif run is None or run.status != "active" or (run.wake_at and run.wake_at > self.clock.now()):
                        return run
                    else:
                        pinned = await self._rule_for(tx, run)
                        if contact is None or pinned is None:
                            why = "rule version gone" if pinned is None else "contact gone"
                            finish(run, run.step_at, why, "cancelled")
                            run.version += 1
                            await tx.save_run(run)
                            return run
                        profile_before = _profile(contact)
                        first_version = run.version
                        await self._take_steps(tx, run, pinned, contact, effects, started, alone)
                        await tx.save_run(run)
                        if _profile(contact) != profile_before:
                            await tx.save_contact(contact)
            except _NotDue:
                raise
            except Exception:
                if alone or first_version is None or run.version == first_version:  # its first step failed:
                    # that is the step the run fails on
                    raise
                alone = True  # rolled back: again, a step a transaction, to find the one that fails
                continue
            wake = None
            self._emit(effects, outcome)
            if ended:
                return run
            for started_id in started:
                await self._walk(started_id, outcome)
            if run.status != "active":
                return run

    async def _take_steps(self, tx: Transaction, run: RunRecord, pinned: Pinned, contact: ContactRecord,
                          effects: list[Effect], started: list[int], one: bool = False) -> None:
        """Steps of an active run in `tx` until it waits or ends, starts another run, or has taken
        STEPS_TOGETHER (one with `one`); each step adds one to the run's version. The caller saves
        the run and contact."""
        taken = 0
        rule = pinned.rule
        while True:
            step = Step(tx, run, rule, contact, self.workspace, run.step_at, effects, now=self.clock.now(),
                        pinned_workspace=pinned.workspace)
            if not await self._ended_before_step(step):
                node = rule.nodes.get(run.node_id) if run.node_id else None
                if node is None:
                    step.advance(None)
                else:
                    await self.walker.step(node, step)
            run.version += 1
            taken += 1
            started += step.started_runs
            if one or run.status != "active" or step.started_runs or taken >= STEPS_TOGETHER:
                return

    async def _ended_before_step(self, step: Step) -> bool:
        """Goals and exits judged on the events' own times, against every event known now: a late order
        still stops the next reminder, and an order stored before its cart's late webhook ends the
        cart's run before its first step."""
        run, rule = step.run, step.rule
        scope = step.scope()
        known = max(step.at, step.now or step.at)
        for reason, conditions in (("goal", rule.goals), ("exited", rule.exits)):
            for condition in conditions:
                if isinstance(condition, g.ContactCondition):
                    if condition.predicate(scope):
                        end_run(run, step.at, reason, f"{reason}: {condition.text}")
                        step.effect("run.ended", reason=reason, condition=condition.text)
                        return True
                    continue
                until = known if condition.within is None else min(known, run.started_at + condition.within)
                for stored in await step.tx.contact_events(step.contact.id, [condition.event_type], run.started_at, until):
                    event_scope = Scope(contact=scope.contact, event=stored_view(stored.payload), now=stored.at,
                                        zone=scope.zone, locale=scope.locale)
                    if _meets(condition, run, stored.event_id, stored.at, event_scope):
                        gain = revenue(stored.payload.get("properties") or {}) if reason == "goal" else None
                        end_run(run, stored.at, reason, f"{reason}: {condition.text} ({stored.type} {stored.event_id})",
                                gain)
                        details: dict[str, Any] = {"reason": reason, "event": stored.type}
                        if reason == "goal":
                            details["revenue"] = run.revenue
                        step.effect("run.ended", at=stored.at, **details)
                        return True
        return False

    # ------------------------------------------------------------ time passing
    async def run_due(self) -> int:
        """Resume every run whose time has come; returns how many were resumed."""
        resumed = 0
        async with self._lock:
            while True:
                due = await self.store.due_runs(self.workspace.name, self.clock.now(), BATCH)
                if not due:
                    break
                for run_id, version in due:
                    resumed += await self.resume(run_id, version)
                if len(due) < BATCH:
                    break
        await self.dispatch()
        return resumed

    async def resume(self, run_id: int, version: int) -> bool:
        """Resume one run if it still has this version, and walk it; a stale or duplicate reminder
        does nothing (False), an early one waits for the run's time first (loop timers may fire
        a little early). The messages its steps queued are left to `dispatch()`, which sends them
        in groups."""
        for _ in range(3):
            try:
                await self._walk(run_id, wake=version)
                return True
            except _NotDue as not_due:
                if not_due.wake_at is None:
                    return False
                await self.clock.sleep((not_due.wake_at - self.clock.now()).total_seconds())
        return False

    async def _wake(self, tx: Transaction, run: RunRecord | None, contact: ContactRecord | None, version: int,
                    effects: list[Effect]) -> bool:
        """Turn a due waiting run active, in the transaction that checked its version: the database
        decides. False when it was cancelled instead (its rule version or its contact is gone)."""
        now = self.clock.now()
        if run is None or run.version != version or run.status not in OPEN_STATUSES or run.wake_at is None:
            raise _NotDue(None)  # stale or duplicate
        if run.wake_at > now:
            raise _NotDue(run.wake_at)
        if run.status == "active":
            return True
        if run.status == "converting":  # its goal's window closed without the goal
            closed = run.wake_at
            end_run(run, closed, "finished", f"finished: no goal by {closed.isoformat()}")
            run.version += 1
            await tx.save_run(run)
            label = contact.label() if contact else f"contact:{run.contact_id}"
            effects.append(Effect(closed, label, run.rule_id, "run.ended", {"reason": "finished"}))
            return False
        pinned = await self._rule_for(tx, run)
        if pinned is None or contact is None:
            finish(run, now, "rule version gone" if pinned is None else "contact gone", "cancelled")
            run.version += 1
            await tx.save_run(run)
            return False
        rule = pinned.rule
        node = rule.nodes.get(run.node_id or "")
        if run.waiting_for and isinstance(node, g.WaitEventNode):
            late = await self._late_awaited_event(tx, run, node, contact)
            if late is not None:
                self._resume_after_event(run, node, late.at, f"{late.type} at {late.at.isoformat()} (arrived late)")
                effects.append(Effect(late.at, contact.label(), rule.id, "wait.resumed", {"waited": True}))
            else:
                run.trace.append({"at": run.wake_at.isoformat(), "node": node.id,
                                  "why": f"not waited: no {node.event_type} by {run.wake_at.isoformat()}"})
                run.waited = False
                run.node_id = node.next
                run.step_at = run.wake_at
                run.waiting_for = None
                run.status = "active"
                run.version += 1
                effects.append(Effect(run.step_at, contact.label(), rule.id, "wait.resumed", {"waited": False}))
        else:
            run.step_at = run.wake_at
            run.status = "active"
            run.version += 1
        return True

    async def _late_awaited_event(self, tx: Transaction, run: RunRecord, node: g.WaitEventNode,
                                  contact: ContactRecord) -> EventRecord | None:
        assert run.wake_at is not None
        for stored in await tx.contact_events(contact.id, [node.event_type], run.step_at, run.wake_at):
            scope = Scope(contact=contact.view(), event=stored_view(stored.payload), now=stored.at,
                          zone=self.workspace.timezone, locale=self.workspace.locale)
            if node.where is None or node.where(scope):
                return stored
        return None

    async def run_timed(self, window_start: datetime | None = None) -> int:
        """Start runs of date and `every …` triggers due since the last check; re-evaluate segments."""
        window = await self.timed_window(window_start)
        if window is None:
            return 0
        try:
            async with self._lock:
                started = await self.run_timed_range(*window)
        except Exception:
            self.timed_unfinished(window[0])
            raise
        await self.dispatch()
        return started

    def timed_unfinished(self, since: datetime) -> None:
        """A pass from `since` did not finish (the database or Redis went away): the next pass of this
        process starts there again (an occurrence starts one run at most, so none starts twice)."""
        self._timed_redo = min(since, self._timed_redo or since)

    async def timed_window(self, window_start: datetime | None = None) -> tuple[datetime, datetime] | None:
        """(since, now) for the next timed pass, or None when nothing depends on time passing
        (no timed rule, no segment): then no contact needs to be read. `since` is when the last
        pass of any process began (kept in the store: whichever worker runs the next pass, and a
        restart, go on from there), else a day ago."""
        now = self.clock.now()
        last, self.timed_checked_at = self.timed_checked_at, now
        if not self.workspace.depends_on_time():
            return None
        kept = await self.store.swap_value(f"timed_checked_at:{self.workspace.name}", now.isoformat())
        since = window_start or (datetime.fromisoformat(kept) if kept else last) or (now - timedelta(days=1))
        since, self._timed_redo = min(since, self._timed_redo or since), None
        return min(since, now), now

    async def forget_old_decisions(self) -> int:
        """Decisions (why an event started a rule or not) are a recent log: those older than
        `keep_decisions` go, looked at once an hour when events are processed. How many went."""
        now = self.clock.now()
        if self._decisions_pruned is not None and now - self._decisions_pruned < timedelta(hours=1):
            return 0
        self._decisions_pruned = now
        return await self.store.prune_decisions(self.workspace.name, now - self.keep_decisions)

    async def run_timed_range(self, since: datetime, now: datetime, after_id: int = 0,
                              until_id: int | None = None) -> int:
        """A timed pass over the contacts with after_id < id <= until_id (all by default): several
        processes can share one pass, each a range. Returns how many runs it started."""
        started = 0
        timed = self.workspace.timed_rules()
        while True:
            async with self.store.transaction() as tx:
                contacts = await tx.contacts(self.workspace.name, after_id, BATCH, until_id)
            if not contacts:
                break
            after_id = contacts[-1].id
            due: list[ContactRecord] = []
            for contact in contacts:  # most contacts, most passes: nothing due as read, no transaction
                try:
                    entered, left = segment_changes(contact, self.workspace, now)
                    if entered or left:
                        started += await self._timed_for_contact(contact, timed, since, now)
                    elif any(self._occurrences(rule, contact, since, now) for rule in timed):
                        due.append(contact)
                except Exception:  # a value in this profile no rule can use: the others' work goes on
                    logger.exception("timed pass: contact %s skipped", contact.id)
            for first in range(0, len(due), TIMED_TOGETHER):
                started += await self._timed_together(due[first:first + TIMED_TOGETHER], timed, since, now)
        return started

    async def _timed_together(self, contacts: Sequence[ContactRecord], rules: Sequence[g.Rule], since: datetime,
                              now: datetime) -> int:
        """Start the timed runs due for these contacts and take their first steps up to a wait, all
        in one transaction: a segment's blast costs a few queries a contact, not transactions.
        When that transaction fails (a step raises, a lock deadlocks), the contacts are taken
        again one at a time, so that only the failing run fails."""
        created: list[RunRecord] = []
        started: list[int] = []
        effects: list[Effect] = []
        moved: list[ContactRecord] = []
        await self.publish()
        try:
            async with self.store.transaction() as tx:
                await tx.lock_contacts([c.id for c in contacts])
                due: list[tuple[ContactRecord, g.Rule, datetime, str]] = []
                for contact in (await tx.get_contacts([c.id for c in contacts])).values():
                    entered, left = segment_changes(contact, self.workspace, now)
                    if entered or left:  # changed since it was read: taken alone, with its segment events
                        moved.append(contact)
                        continue
                    due += [(contact, *occurrence) for occurrence in self._due(contact, rules, since, now)]
                taken = await tx.existing_occurrences(self.workspace.name, [key for *_, key in due])
                prior = {rule.id: await tx.runs_of_contacts([c.id for c, r, *_ in due if r is rule], rule.id)
                         for rule in rules if rule.entry.kind != "always"}
                admitted: list[tuple[RunRecord, g.Rule, ContactRecord, list[RunRecord]]] = []
                for contact, rule, moment, key in due:
                    if key in taken:
                        continue
                    runs = prior[rule.id].setdefault(contact.id, []) if rule.id in prior else []
                    event = Event(f"clock:{key}", "clock.due", moment, ContactRef(id=contact.id), {})
                    run, _ = self._admitted(rule, contact, event, key, runs)
                    if run is not None:
                        admitted.append((run, rule, contact, list(runs)))
                        if rule.id in prior:
                            runs.append(run)
                await tx.create_timed_runs([run for run, *_ in admitted])
                changed: dict[int, ContactRecord] = {}
                for run, rule, contact, before in admitted:
                    if run.id is None:
                        continue  # its occurrence started a run meanwhile
                    await self._supersede(tx, before, run)
                    created.append(run)
                    effects.append(Effect(run.started_at, contact.label(), rule.id, "run.started", {"event": "clock"}))
                    profile_before = _profile(contact)
                    await self._take_steps(tx, run, Pinned(rule, self.workspace), contact, effects, started)
                    if _profile(contact) != profile_before:
                        changed[contact.id] = contact
                await tx.save_runs(created)
                for contact in changed.values():
                    await tx.save_contact(contact)
        except Exception:
            logger.warning("timed runs of %d contacts failed together; taking them one at a time", len(contacts),
                           exc_info=True)
            return sum([await self._timed_for_contact(contact, rules, since, now) for contact in contacts])
        self._emit(effects, None)
        await self._remind(created)
        for run_id in [run.id for run in created if run.status == "active"] + started:  # more steps to take
            await self._walk(run_id)  # type: ignore[arg-type]
        return len(created) + sum([await self._timed_for_contact(contact, rules, since, now) for contact in moved])

    async def _timed_for_contact(self, contact: ContactRecord, rules: Sequence[g.Rule], since: datetime,
                                 now: datetime) -> int:
        """The timed work of one contact: its segment events, then its due timed runs, each walked
        in its own transactions."""
        started: list[int] = []
        effects: list[Effect] = []
        derived: list[Event] = []
        await self.publish()
        async with self.store.transaction() as tx:
            await tx.lock_contact(contact.id)  # one contact's work at a time: its events may be in hand elsewhere
            fresh = await tx.get_contact(contact.id)
            if fresh is None:
                return 0
            derived = self._segment_events(fresh, Event(f"clock:{now.isoformat()}", "clock.tick", now,
                                                        ContactRef(id=fresh.id), {}), now)
            await tx.insert_events([self._record(d, now) for d in derived])
            due = self._due(fresh, rules, since, now)
            taken = await tx.existing_occurrences(self.workspace.name, [key for *_, key in due])
            for rule, moment, occurrence in due:
                if occurrence in taken:
                    continue
                event = Event(f"clock:{occurrence}", "clock.due", moment, ContactRef(id=fresh.id), {})
                run, _ = await self._maybe_start(tx, rule, fresh, event, occurrence)
                if run is not None:
                    started.append(run.id)  # type: ignore[arg-type]
                    effects.append(Effect(moment, fresh.label(), rule.id, "run.started", {"event": "clock"}))
        self._emit(effects, None)
        for run_id in started:
            await self._walk(run_id)
        if derived:
            async with self.store.transaction() as tx:
                found = await tx.get_events(self.workspace.name, [d.id for d in derived])
            for record in found.values():
                if not record.processed:
                    await self._process(record, None)
        return len(started)

    def _due(self, contact: ContactRecord, rules: Sequence[g.Rule], since: datetime,
             now: datetime) -> list[tuple[g.Rule, datetime, str]]:
        """(rule, moment, occurrence key) of every timed rule due for the contact in (since, now]:
        the key starts one run at most."""
        return [(rule, moment, f"{rule.id}:{contact.id}:{moment.isoformat()}")
                for rule in rules for moment in self._occurrences(rule, contact, since, now)]

    def _occurrences(self, rule: g.Rule, contact: ContactRecord, since: datetime, now: datetime) -> list[datetime]:
        """Moments in (since, now] at which this timed rule is due for this contact; none when its
        date field holds no date, or one off the calendar (see `dates`)."""
        trigger = rule.trigger
        zone = zone_named(contact.timezone) or zone_named(self.workspace.timezone) or UTC
        if isinstance(trigger, g.EveryTrigger):
            if trigger.segment not in contact.segments:
                return []
            return [m for m in _daily(since, now, trigger.at, zone) if _on_period(m.astimezone(zone), trigger.period)]
        value = date_field(contact.view(), trigger.field)
        if value is None:
            return []
        if isinstance(trigger, g.DateTrigger):
            moment = offset_moment(value, trigger.offset, trigger.at, zone)
            return [moment] if moment is not None and since < moment <= now else []
        return yearly_moments(value, trigger.at, zone, since, now)

    # ---------------------------------------------------------------- outbox
    async def recover(self, stuck: timedelta | None = None) -> int:
        """Messages claimed by a process that died are queued again (see Dispatcher.recover)."""
        return await self.dispatcher.recover(self.workspace.name, stuck)

    async def dispatch(self, until: datetime | None = None) -> int:
        """Hand committed pending messages whose time has come to their channel plugin (claiming
        none after `until`)."""
        return await self.dispatcher.dispatch(self.workspace, until)

    # ---------------------------------------------------------------- effects
    def _emit(self, effects: list[Effect], outcome: Outcome | None) -> None:
        for effect in effects:
            if outcome is not None:
                outcome.effects.append(effect)
            if self.on_effect is not None:
                self.on_effect(effect)
            if logger.isEnabledFor(logging.DEBUG):
                logger.debug("%s", effect.describe())


def _meets(condition: g.EventCondition, run: RunRecord, event_id: str, at: datetime, scope: Scope) -> bool:
    """An event (of the condition's type) that ends this run: not its own trigger, in time, `where` true."""
    return (event_id != run.trigger_event.get("id")
            and (condition.within is None or at <= run.started_at + condition.within)
            and (condition.where is None or bool(condition.where(scope))))


def _daily(since: datetime, now: datetime, at: Any, zone: tzinfo) -> list[datetime]:
    moments = []
    moment = next_time_of_day(since, at, str(zone))
    while moment <= now:
        if moment > since:
            moments.append(moment)
        moment = next_time_of_day(moment + timedelta(minutes=1), at, str(zone))
    return moments


WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def _on_period(local: datetime, period: str) -> bool:
    if period == "day":
        return True
    if period == "weekday":
        return local.weekday() < 5
    return WEEKDAYS[local.weekday()] == period


def _profile(contact: ContactRecord) -> tuple[dict[str, Any], list[str], int]:
    """What steps may change of a contact: compared before and after to know whether to save it."""
    return dict(contact.attributes), list(contact.tags), contact.score
