"""Timed passes: runs of date and `every …` triggers started when their moment comes, segments
re-evaluated as time passes (a contact turns 30 days inactive without any event).

A pass covers (since, now]: `since` is kept in the store, so whichever process runs the next
pass, and a restart, go on from there; an occurrence starts one run at most (its key is
unique), so a pass done twice starts nothing twice.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

from relance.dsl import graph as g
from relance.dsl.values import zone_named

from .admission import supersede
from .dates import date_field, offset_moment, yearly_moments
from .events import ContactRef, Event
from .parts import EnginePart
from .profiles import segment_changes
from .records import ContactRecord, RunRecord
from .stepping import BATCH, profile
from .timeline import Effect
from .versions import Pinned
from .walker import next_time_of_day

logger = logging.getLogger("relance.engine")
TIMED_TOGETHER = 50  # contacts whose due timed runs start, with their first steps, in one transaction


class Timed(EnginePart):
    """The engine's timed passes."""

    def __init__(self, engine: Any) -> None:
        super().__init__(engine)
        self.checked_at: datetime | None = None  # when this process last began a pass
        self._redo: datetime | None = None  # the start of a pass that did not finish

    async def run(self, window_start: datetime | None = None) -> int:
        """Start runs of date and `every …` triggers due since the last check; re-evaluate segments."""
        window = await self.window(window_start)
        if window is None:
            return 0
        try:
            return await self.run_range(*window)
        except Exception:
            self.unfinished(window[0])
            raise

    def unfinished(self, since: datetime) -> None:
        """A pass from `since` did not finish (the database or Redis went away): the next pass of this
        process starts there again (an occurrence starts one run at most, so none starts twice)."""
        self._redo = min(since, self._redo or since)

    async def window(self, window_start: datetime | None = None) -> tuple[datetime, datetime] | None:
        """(since, now) for the next timed pass, or None when nothing depends on time passing
        (no timed rule, no segment): then no contact needs to be read. `since` is when the last
        pass of any process began (kept in the store: whichever worker runs the next pass, and a
        restart, go on from there), else a day ago."""
        now = self.clock.now()
        last, self.checked_at = self.checked_at, now
        if not self.workspace.depends_on_time():
            return None
        kept = await self.store.swap_value(f"timed_checked_at:{self.workspace.name}", now.isoformat())
        since = window_start or (datetime.fromisoformat(kept) if kept else last) or (now - timedelta(days=1))
        since, self._redo = min(since, self._redo or since), None
        return min(since, now), now

    async def run_range(self, since: datetime, now: datetime, after_id: int = 0,
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
        await self.engine.publish()
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
                    run, _ = self.engine.admission.admit(rule, contact, event, f"started by {event.type} {event.id}", runs, key)
                    if run is not None:
                        admitted.append((run, rule, contact, list(runs)))
                        if rule.id in prior:
                            runs.append(run)
                await tx.create_timed_runs([run for run, *_ in admitted])
                changed: dict[int, ContactRecord] = {}
                for run, rule, contact, before in admitted:
                    if run.id is None:
                        continue  # its occurrence started a run meanwhile
                    await supersede(tx, before, run)
                    created.append(run)
                    effects.append(Effect(run.started_at, contact.label(), rule.id, "run.started", {"event": "clock"}))
                    profile_before = profile(contact)
                    await self.engine.stepping.take_steps(tx, run, Pinned(rule, self.workspace), contact, effects, started)
                    if profile(contact) != profile_before:
                        changed[contact.id] = contact
                await tx.save_runs(created)
                for contact in changed.values():
                    await tx.save_contact(contact)
        except Exception:
            logger.warning("timed runs of %d contacts failed together; taking them one at a time", len(contacts),
                           exc_info=True)
            return sum([await self._timed_for_contact(contact, rules, since, now) for contact in contacts])
        self.engine.emit(effects)
        await self.engine.stepping.remind(created)
        for run_id in [run.id for run in created if run.status == "active"] + started:  # more steps to take
            await self.engine.stepping.walk(run_id)  # type: ignore[arg-type]
        return len(created) + sum([await self._timed_for_contact(contact, rules, since, now) for contact in moved])

    async def _timed_for_contact(self, contact: ContactRecord, rules: Sequence[g.Rule], since: datetime,
                                 now: datetime) -> int:
        """The timed work of one contact: its segment events, then its due timed runs, each walked
        in its own transactions."""
        started: list[int] = []
        effects: list[Effect] = []
        derived: list[Event] = []
        await self.engine.publish()
        async with self.store.transaction() as tx:
            await tx.lock_contact(contact.id)  # one contact's work at a time: its events may be in hand elsewhere
            fresh = await tx.get_contact(contact.id)
            if fresh is None:
                return 0
            derived = self.engine.intake.segment_events(fresh, Event(f"clock:{now.isoformat()}", "clock.tick", now,
                                                        ContactRef(id=fresh.id), {}), now)
            await tx.insert_events([self.engine.intake.record(d, now) for d in derived])
            due = self._due(fresh, rules, since, now)
            taken = await tx.existing_occurrences(self.workspace.name, [key for *_, key in due])
            for rule, moment, occurrence in due:
                if occurrence in taken:
                    continue
                event = Event(f"clock:{occurrence}", "clock.due", moment, ContactRef(id=fresh.id), {})
                run, _ = await self.engine.admission.start(tx, rule, fresh, event, occurrence)
                if run is not None:
                    started.append(run.id)  # type: ignore[arg-type]
                    effects.append(Effect(moment, fresh.label(), rule.id, "run.started", {"event": "clock"}))
        self.engine.emit(effects)
        for run_id in started:
            await self.engine.stepping.walk(run_id)
        if derived:
            async with self.store.transaction() as tx:
                found = await tx.get_events(self.workspace.name, [d.id for d in derived])
            for record in found.values():
                if not record.processed:
                    await self.engine.intake.process_one(record, None)
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
