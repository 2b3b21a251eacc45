"""Every change of a run's state: started, advanced, suspended, resumed, woken, ended.

Each function here is one transition: it writes the run's trace where a reader of the trace
needs it and adds one to `run.version`, the counter a reminder carries (a reminder for an older
version is stale). Nothing else changes a run's status, node or version: a step of the walker
is one transition (its node advances, suspends or ends the run through these functions).
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from relance.dsl import graph as g

from .records import RunRecord


def new_run(workspace: str, rule: g.Rule, contact_id: int, at: datetime, trigger_event: dict[str, Any], why: str,
            occurrence: str | None = None) -> RunRecord:
    """A run at the rule's first node, due now; `trigger_event` is what its steps see as `event`."""
    return RunRecord(workspace, contact_id, rule.id, rule.version, started_at=at, step_at=at,
                     trigger_event=trigger_event, node_id=rule.start, wake_at=at, occurrence=occurrence,
                     trace=[{"at": at.isoformat(), "node": None, "why": why}])


def advance(run: RunRecord, at: datetime, target: str) -> None:
    """Go on to the node `target`, due at once."""
    run.node_id = target
    run.wake_at = at
    run.version += 1


def done(run: RunRecord, at: datetime, goal_closes: datetime | None) -> bool:
    """The steps are done: the run waits for its goal while the goal's window is still open
    (converting, True), else it finishes."""
    run.node_id = None
    if goal_closes is None or goal_closes <= at:
        end(run, at, "finished")
        return False
    run.status = "converting"
    run.wake_at = goal_closes
    run.trace.append({"at": at.isoformat(), "node": None,
                      "why": f"steps done: open for its goal until {goal_closes.isoformat()}"})
    run.version += 1
    return True


def suspend(run: RunRecord, until: datetime, next_node: str | None, waiting_for: str | None = None) -> None:
    """Wait until a time (then go on at `next_node`), or for an event (`waiting_for`: the run stays on
    its node, whose `next` and `where` decide the resume)."""
    run.status = "waiting"
    run.wake_at = until
    if waiting_for is None:
        run.node_id = next_node
    else:
        run.waiting_for = waiting_for
        run.waited = None
    run.version += 1


def resume(run: RunRecord, node: g.WaitEventNode, at: datetime, why: str) -> None:
    """The event a run waits for came (at `at`): it goes on after the wait, `waited` true."""
    run.trace.append({"at": at.isoformat(), "node": node.id, "why": f"waited: {why}"})
    run.waited = True
    run.status = "active"
    run.node_id = node.next
    run.step_at = max(at, run.step_at)
    run.wake_at = run.step_at
    run.waiting_for = None
    run.version += 1


def time_out(run: RunRecord, node: g.WaitEventNode) -> None:
    """No awaited event by the end of the wait: the run goes on after it, `waited` false."""
    assert run.wake_at is not None
    run.trace.append({"at": run.wake_at.isoformat(), "node": node.id,
                      "why": f"not waited: no {node.event_type} by {run.wake_at.isoformat()}"})
    run.waited = False
    run.node_id = node.next
    run.step_at = run.wake_at
    run.waiting_for = None
    run.status = "active"
    run.version += 1


def wake(run: RunRecord) -> None:
    """A run's wait is over: active again, at the time it was due."""
    assert run.wake_at is not None
    run.step_at = run.wake_at
    run.status = "active"
    run.version += 1


def end(run: RunRecord, at: datetime, reason: str, why: str | None = None, status: str | None = None,
        revenue: float | None = None) -> None:
    """End a run for `reason` (goal, exited, finished, stopped, …; its status unless `status` says
    cancelled or failed), the trace saying `why` when given; a goal keeps its revenue."""
    if why is not None:
        run.trace.append({"at": at.isoformat(), "node": run.node_id, "why": why})
    run.status = status or reason
    run.end_reason = reason
    run.ended_at = at
    run.wake_at = None
    run.waiting_for = None
    if reason == "goal":
        run.revenue = revenue
    run.version += 1


def cancel(run: RunRecord, at: datetime, why: str) -> None:
    """End a run that cannot go on (its rule version or contact gone, a duplicate, the API)."""
    end(run, at, why, status="cancelled")


def fail(run: RunRecord, reason: str) -> None:
    """End a run whose step raised: the error in its trace."""
    end(run, run.step_at, reason, why=reason, status="failed")


def move_version(run: RunRecord, version: str) -> None:
    """The run goes on on a newer version of its rule (same node, same steps before it)."""
    run.trace.append({"at": run.step_at.isoformat(), "node": run.node_id, "version": version,
                      "why": f"rule edited: moved from version {run.rule_version} to {version}"})
    run.rule_version = version
    run.version += 1


def stay_on_version(run: RunRecord, version: str, blocker: str) -> None:
    """The run stays on its version, as the newer one `blocker` (said once a newer version)."""
    if not any(entry.get("version") == version for entry in run.trace):
        run.trace.append({"at": run.step_at.isoformat(), "node": run.node_id, "version": version,
                          "why": f"rule edited: stays on version {run.rule_version}, as version {version} {blocker}"})
