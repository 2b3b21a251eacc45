"""Stepping: a run's steps taken, in transactions, until it waits or ends; due runs woken.

Steps that follow one another without a wait share a transaction (up to STEPS_TOGETHER);
each step's effects still commit together or not at all. A step that raises fails its run
(never the other due runs); a transient error (engine/faults.py) is raised instead, so that
the run stays due and is tried again with backoff.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from relance.dsl import graph as g
from relance.dsl.expressions import Scope

from . import runs
from .events import stored_view
from .faults import is_transient
from .parts import EnginePart
from .records import ACTIVE_STATUSES, OPEN_STATUSES, ContactRecord, EventRecord, RunRecord
from .store import Transaction
from .timeline import Effect
from .versions import Pinned
from .walker import Step

logger = logging.getLogger("relance.engine")
BATCH = 500  # due runs read at once
STEPS_TOGETHER = 20  # steps of one run taken in one transaction when none waits in between


class NotDue(Exception):
    """A reminder for a run that is not due at this version: stale (None) or early (its wake time)."""

    def __init__(self, wake_at: Any) -> None:
        super().__init__(wake_at)
        self.wake_at = wake_at


class Stepping(EnginePart):
    """Walks the engine's runs."""

    async def run_due(self) -> int:
        """Resume every run whose time has come; returns how many were resumed."""
        resumed = 0
        while True:
            due = await self.store.due_runs(self.workspace.name, self.clock.now(), BATCH)
            if not due:
                break
            for run_id, version in due:
                resumed += await self.resume(run_id, version)
            if len(due) < BATCH:
                break
        return resumed

    async def resume(self, run_id: int, version: int) -> bool:
        """Resume one run if it still has this version, and walk it; a stale or duplicate reminder
        does nothing (False), an early one waits for the run's time first (loop timers may fire
        a little early). The messages its steps queued are left to the outbox."""
        for _ in range(3):
            try:
                await self.walk(run_id, wake=version)
                return True
            except NotDue as not_due:
                if not_due.wake_at is None:
                    return False
                await self.clock.sleep((not_due.wake_at - self.clock.now()).total_seconds())
        return False

    async def walk(self, run_id: int, outcome: Any = None, wake: int | None = None) -> None:
        """Take steps until the run waits or ends (woken first at version `wake`); see `walk_run`.
        A step that raises is rolled back and its run marked failed, with the error in its trace."""
        try:
            run = await self.walk_run(run_id, outcome, wake)
        except NotDue:
            raise
        except Exception as error:  # a rule or plugin error, not ours to crash on
            if is_transient(error):
                raise
            logger.exception("run %s failed", run_id)
            await self._fail(run_id, error)
            return
        if run is not None:
            await self.remind([run])

    async def remind(self, walked: Sequence[RunRecord]) -> None:
        """Tell `on_wait` (a queue) when each of these runs that now waits until a time is due."""
        waits = [(run.id, run.version, run.wake_at) for run in walked if run.status == "waiting" and run.wake_at]
        if waits and self.engine.on_wait is not None:
            await self.engine.on_wait(self.workspace.name, waits)  # type: ignore[arg-type]

    async def _fail(self, run_id: int, error: Exception) -> None:
        async with self.store.transaction() as tx:
            run = await tx.get_run(run_id)
            if run is None or run.status not in ACTIVE_STATUSES:
                return
            reason = f"step {run.node_id} failed: {type(error).__name__}: {error}"
            runs.fail(run, reason)
            await tx.save_run(run)
            contact = await tx.get_contact(run.contact_id)
        label = contact.label() if contact else f"contact:{run.contact_id}"
        self.engine.emit([Effect(run.step_at, label, run.rule_id, "run.ended", {"reason": "failed", "error": reason})])

    async def walk_run(self, run_id: int, outcome: Any, wake: int | None = None) -> RunRecord | None:
        """Steps of a run until it waits or ends; with `wake`, the run is first woken at that version,
        in the first step's transaction (raises NotDue when it is stale or early). When a
        transaction of several steps fails, the steps are taken again one transaction each, so
        that the step that fails is the one the run is marked failed on."""
        alone = False
        await self.engine.publish()
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
                        pinned = await self.engine.versions.rule_for(tx, run, self.workspace)
                        if contact is None or pinned is None:
                            runs.cancel(run, run.step_at, "rule version gone" if pinned is None else "contact gone")
                            await tx.save_run(run)
                            return run
                        profile_before = profile(contact)
                        first_version = run.version
                        await self.take_steps(tx, run, pinned, contact, effects, started, alone)
                        await tx.save_run(run)
                        if profile(contact) != profile_before:
                            await tx.save_contact(contact)
            except NotDue:
                raise
            except Exception:
                if alone or first_version is None or run.version == first_version:  # its first step failed:
                    raise  # that is the step the run fails on
                alone = True  # rolled back: again, a step a transaction, to find the one that fails
                continue
            wake = None
            self.engine.emit(effects, outcome)
            if ended:
                return run
            for started_id in started:
                await self.walk(started_id, outcome)
            if run.status != "active":
                return run

    async def walk_in(self, tx: Transaction, taken: Sequence[RunRecord], effects: list[Effect]) -> list[RunRecord]:
        """The steps of these runs (as this transaction left them), and of those they start, in `tx`,
        until each waits or ends."""
        walked: list[RunRecord] = []
        pending: list[RunRecord | int] = list(taken)
        while pending:
            item = pending.pop(0)
            run = await tx.get_run(item) if isinstance(item, int) else item
            contact = await tx.get_contact(run.contact_id) if run is not None else None
            if run is None or contact is None:
                continue
            while run.status == "active" and not (run.wake_at and run.wake_at > self.clock.now()):
                pinned = await self.engine.versions.rule_for(tx, run, self.workspace)
                if pinned is None:
                    runs.cancel(run, run.step_at, "rule version gone")
                    await tx.save_run(run)
                    break
                before, started = profile(contact), []
                await self.take_steps(tx, run, pinned, contact, effects, started)
                await tx.save_run(run)
                if profile(contact) != before:
                    await tx.save_contact(contact)
                pending += started
            walked.append(run)
        return walked

    async def take_steps(self, tx: Transaction, run: RunRecord, pinned: Pinned, contact: ContactRecord,
                         effects: list[Effect], started: list[int], one: bool = False) -> None:
        """Steps of an active run in `tx` until it waits or ends, starts another run, or has taken
        STEPS_TOGETHER (one with `one`); each step is one transition of the run (engine/runs.py).
        The caller saves the run and contact."""
        taken = 0
        rule = pinned.rule
        while True:
            step = Step(tx, run, rule, contact, self.workspace, run.step_at, effects, now=self.clock.now(),
                        pinned_workspace=pinned.workspace)
            if not await self.engine.endings.before_step(step):
                node = rule.nodes.get(run.node_id) if run.node_id else None
                if node is None:
                    step.advance(None)
                else:
                    await self.engine.walker.take(node, step)
            taken += 1
            started += step.started_runs
            if one or run.status != "active" or step.started_runs or taken >= STEPS_TOGETHER:
                return

    async def _wake(self, tx: Transaction, run: RunRecord | None, contact: ContactRecord | None, version: int,
                    effects: list[Effect]) -> bool:
        """Turn a due waiting run active, in the transaction that checked its version: the database
        decides. False when it ended instead (its goal's window closed, its rule version or its
        contact is gone)."""
        now = self.clock.now()
        if run is None or run.version != version or run.status not in OPEN_STATUSES or run.wake_at is None:
            raise NotDue(None)  # stale or duplicate
        if run.wake_at > now:
            raise NotDue(run.wake_at)
        if run.status == "active":
            return True
        if run.status == "converting":  # its goal's window closed without the goal
            closed = run.wake_at
            runs.end(run, closed, "finished", f"finished: no goal by {closed.isoformat()}")
            await tx.save_run(run)
            label = contact.label() if contact else f"contact:{run.contact_id}"
            effects.append(Effect(closed, label, run.rule_id, "run.ended", {"reason": "finished"}))
            return False
        pinned = await self.engine.versions.rule_for(tx, run, self.workspace)
        if pinned is None or contact is None:
            runs.cancel(run, now, "rule version gone" if pinned is None else "contact gone")
            await tx.save_run(run)
            return False
        node = pinned.rule.nodes.get(run.node_id or "")
        if run.waiting_for and isinstance(node, g.WaitEventNode):
            late = await self._late_awaited_event(tx, run, node, contact)
            if late is not None:
                runs.resume(run, node, late.at, f"{late.type} at {late.at.isoformat()} (arrived late)")
                effects.append(Effect(late.at, contact.label(), run.rule_id, "wait.resumed", {"waited": True}))
            else:
                runs.time_out(run, node)
                effects.append(Effect(run.step_at, contact.label(), run.rule_id, "wait.resumed", {"waited": False}))
        else:
            runs.wake(run)
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


def profile(contact: ContactRecord) -> tuple[dict[str, Any], list[str], int]:
    """What steps may change of a contact: compared before and after to know whether to save it."""
    return dict(contact.attributes), list(contact.tags), contact.score
