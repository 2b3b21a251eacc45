"""Goals and exits: when an event, or the profile it updates, ends a run, or resumes one waiting for it.

Judged twice, on the events' own times: as an event arrives (the runs it completes, exits or
resumes, `Endings.react`), and before each step against every event known then
(`Endings.before_step`: a late order still stops the next reminder).
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from relance.dsl import graph as g
from relance.dsl.expressions import Scope

from . import runs
from .events import Event, stored_view
from .parts import EnginePart
from .profiles import revenue
from .records import ContactRecord, RunRecord
from .store import Transaction
from .timeline import Effect
from .walker import Step

Reactive = tuple[tuple[str, ...], tuple[tuple[str, tuple[g.ContactCondition, ...]], ...]]  # see `reactive_rules`


class Endings(EnginePart):
    """The goals and exits of the engine's rules, in every version loaded."""

    def __init__(self, engine: Any) -> None:
        super().__init__(engine)
        self._reactive: dict[str, Reactive] = {}  # event type -> the rules whose runs it may end

    def forget(self) -> None:
        """The rules changed: what each event type may end is worked out again."""
        self._reactive = {}

    async def react(self, tx: Transaction, contact: ContactRecord, event: Event, effects: list[Effect],
                    to_walk: list[RunRecord]) -> None:
        """End the runs this event completes or exits, as it arrives (a waiting run does not wait for its
        next step to notice); resume runs waiting for it (to walk: `to_walk`)."""
        view = event.view()
        by_event, by_contact = self.reactive_rules(event.type)
        now_scope = Scope(contact=contact.view(), event=view, now=event.at, zone=self.workspace.timezone,
                          locale=self.workspace.locale)  # a condition on the contact holds for all its runs or none
        rule_ids = sorted({*by_event, *(rule_id for rule_id, conditions in by_contact
                                        if any(c.predicate(now_scope) for c in conditions))})
        for run in await tx.reactive_runs(contact.id, rule_ids, event.type):
            pinned = await self.engine.versions.rule_for(tx, run, self.workspace)
            if pinned is None or event.at < run.started_at:
                continue
            rule = pinned.rule
            scope = Scope(contact=contact.view(), event=view, now=event.at, zone=self.workspace.timezone,
                          locale=self.workspace.locale)
            ending = ended_by(rule, run, event, scope)
            if ending is not None:
                reason, condition = ending
                gain = revenue(event.properties) if reason == "goal" else None
                runs.end(run, event.at, reason, f"{reason}: {condition} ({event.type} {event.id})", revenue=gain)
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
                runs.resume(run, node, event.at, f"{event.type} at {event.at.isoformat()}")
                await tx.save_run(run)
                effects.append(Effect(event.at, contact.label(), rule.id, "wait.resumed", {"waited": True}))
                to_walk.append(run)

    def reactive_rules(self, event_type: str) -> Reactive:
        """The rules whose runs an event of this type may end, in any version loaded here: those with
        a goal or exit on this type, and those with one on the contact (with those conditions: a rule
        only matters when one holds for the contact as the event leaves it)."""
        if event_type not in self._reactive:
            by_event: set[str] = set()
            by_contact: dict[str, list[g.ContactCondition]] = {}
            for rule in self.engine.versions.loaded():
                for condition in (*rule.goals, *rule.exits):
                    if isinstance(condition, g.ContactCondition):
                        by_contact.setdefault(rule.id, []).append(condition)
                    elif condition.event_type == event_type:
                        by_event.add(rule.id)
            self._reactive[event_type] = (tuple(sorted(by_event)),
                                          tuple((rule_id, tuple(c)) for rule_id, c in sorted(by_contact.items())))
        return self._reactive[event_type]

    @staticmethod
    async def before_step(step: Step) -> bool:
        """Goals and exits judged on the events' own times, against every event known now: a late order
        still stops the next reminder, and an order stored before its cart's late webhook ends the
        cart's run before its first step. True when the run ended."""
        run, rule = step.run, step.rule
        scope = step.scope()
        known = max(step.at, step.now or step.at)
        for reason, conditions in (("goal", rule.goals), ("exited", rule.exits)):
            for condition in conditions:
                if isinstance(condition, g.ContactCondition):
                    if condition.predicate(scope):
                        runs.end(run, step.at, reason, f"{reason}: {condition.text}")
                        step.effect("run.ended", reason=reason, condition=condition.text)
                        return True
                    continue
                until = known if condition.within is None else min(known, run.started_at + condition.within)
                for stored in await step.tx.contact_events(step.contact.id, [condition.event_type], run.started_at, until):
                    event_scope = Scope(contact=scope.contact, event=stored_view(stored.payload), now=stored.at,
                                        zone=scope.zone, locale=scope.locale)
                    if meets(condition, run, stored.event_id, stored.at, event_scope):
                        gain = revenue(stored.payload.get("properties") or {}) if reason == "goal" else None
                        runs.end(run, stored.at, reason, f"{reason}: {condition.text} ({stored.type} {stored.event_id})",
                                 revenue=gain)
                        details: dict[str, Any] = {"reason": reason, "event": stored.type}
                        if reason == "goal":
                            details["revenue"] = run.revenue
                        step.effect("run.ended", at=stored.at, **details)
                        return True
        return False


def ended_by(rule: g.Rule, run: RunRecord, event: Event, scope: Scope) -> tuple[str, str] | None:
    """(goal or exited, the condition as written) when this event, or the profile it just updated,
    ends the run."""
    for reason, conditions in (("goal", rule.goals), ("exited", rule.exits)):
        for condition in conditions:
            if isinstance(condition, g.EventCondition):
                if condition.event_type == event.type and meets(condition, run, event.id, event.at, scope):
                    return reason, condition.text
            elif condition.predicate(scope):
                return reason, condition.text
    return None


def meets(condition: g.EventCondition, run: RunRecord, event_id: str, at: datetime, scope: Scope) -> bool:
    """An event (of the condition's type) that ends this run: not its own trigger, in time, `where` true."""
    return (event_id != run.trigger_event.get("id")
            and (condition.within is None or at <= run.started_at + condition.within)
            and (condition.where is None or bool(condition.where(scope))))
