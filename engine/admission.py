"""Admission: whether a contact enters a rule, and the one way a run starts.

A run starts for an event (its trigger), for the clock (a date or `every …` trigger: a
`clock.due` event stands for the moment) or for another run's `start` step. The decision is
the same function in all three: the trigger's condition and the rule's `if:` (not for a
`start`, which is the other rule's decision), then its `entry` given the contact's runs.
"""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from relance.dsl import graph as g
from relance.dsl.durations import format_duration
from relance.dsl.expressions import Scope

from . import runs
from .events import ContactRef, Event
from .parts import EnginePart
from .records import ACTIVE_STATUSES, ContactRecord, RunRecord
from .store import Transaction
from .timeline import Effect
from .walker import Step


class Admission(EnginePart):
    """Starts runs of the engine's rules."""

    def refusal(self, rule: g.Rule, contact: ContactRecord, event: Event) -> str | None:
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

    def admit(self, rule: g.Rule, contact: ContactRecord, cause: Event, why: str, runs_of_rule: Sequence[RunRecord],
              occurrence: str | None = None, seen_as: dict[str, Any] | None = None) -> tuple[RunRecord | None, str]:
        """A new run of `rule` caused by `cause`, not stored yet, when the trigger matches and the entry
        lets the contact in given its `runs_of_rule`; else None and why not. `seen_as`: what the run's
        steps see as `event` for a `start` step (the starting run's; no trigger to match then)."""
        refusal = (self.refusal(rule, contact, cause) if seen_as is None else None) \
            or entry_refusal(rule, runs_of_rule, cause.at)
        if refusal is not None:
            return None, refusal
        at = min(cause.at, self.clock.now()) if seen_as is None else cause.at
        return runs.new_run(self.workspace.name, rule, contact.id, at, seen_as or cause.as_json(), why, occurrence), why

    async def start(self, tx: Transaction, rule: g.Rule, contact: ContactRecord, event: Event,
                    occurrence: str | None = None) -> tuple[RunRecord | None, str]:
        """Start the rule for this event if its trigger and entry let the contact in: the run (stored),
        or None and why not."""
        prior = await tx.contact_runs(contact.id, rule.id) if rule.entry.kind != "always" else []
        run, reason = self.admit(rule, contact, event, f"started by {event.type} {event.id}", prior, occurrence)
        if run is None:
            return None, reason
        created = await tx.create_run(run)
        await supersede(tx, prior, created)
        return created, reason

    async def start_from_step(self, step: Step, rule_id: str) -> tuple[RunRecord | None, str]:
        """A `start` step: the other rule's run, if its entry lets the contact in (walked after the step)."""
        rule = self.workspace.rules.get(rule_id)
        if rule is None:
            return None, f"no rule {rule_id} in the rules loaded here"
        prior = await step.tx.contact_runs(step.contact.id, rule.id) if rule.entry.kind != "always" else []
        cause = Event(f"start:{step.run.id}:{rule_id}", "start", step.at, ContactRef(id=step.contact.id), {})
        run, reason = self.admit(rule, step.contact, cause, f"started by {step.rule.id} (run {step.run.id})", prior,
                                 seen_as={**step.run.trigger_event, "id": cause.id})
        if run is None:
            return None, reason
        created = await step.tx.create_run(run)
        await supersede(step.tx, prior, created)
        step.started_runs.append(created.id)  # type: ignore[arg-type]
        step.effects.append(Effect(step.at, step.contact.label(), rule.id, "run.started", {"by": step.rule.id}))
        return created, f"started run {created.id}"


def entry_refusal(rule: g.Rule, runs_of_rule: Sequence[RunRecord], at: datetime) -> str | None:
    """Why the rule's `entry` keeps the contact out now, given its runs of the rule; None if it lets it in."""
    entry = rule.entry
    if entry.kind == "always":
        return None
    if entry.kind == "once" and runs_of_rule:
        first = runs_of_rule[0]
        return f"entry: once, and the contact already entered (run {first.id}, {first.started_at:%Y-%m-%d %H:%M})"
    active = [r for r in runs_of_rule if r.status in ACTIVE_STATUSES]
    if active:
        return (f"the contact is already in this rule (run {active[-1].id}, {active[-1].status}): one run at a "
                "time (entry: always lets contacts in again)")
    if entry.kind == "after" and runs_of_rule and entry.after is not None:
        again = max(r.started_at for r in runs_of_rule) + entry.after
        if again > at:
            return f"entry: after {format_duration(entry.after)}: the contact may enter again from {again:%Y-%m-%d %H:%M}"
    return None


async def supersede(tx: Transaction, prior: Sequence[RunRecord], new: RunRecord) -> None:
    """A run that took its steps and waits for its goal ends when the contact enters the rule again:
    the new run claims the goal."""
    for run in prior:
        if run.status == "converting":
            runs.end(run, new.started_at, "finished", f"finished: the contact entered the rule again (run {new.id})")
            await tx.save_run(run)

