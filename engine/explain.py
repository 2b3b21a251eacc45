"""Why a contact is where it is, in plain words: its runs with their traces, and the rules its events did not start."""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from .records import DecisionRecord, RunRecord

STATUS_WORDS = {
    "active": "taking its steps", "waiting": "waiting", "converting": "its steps done, open for its goal",
    "finished": "finished", "goal": "reached its goal", "exited": "exited", "stopped": "stopped",
    "cancelled": "cancelled", "failed": "failed",
}


def _when(moment: datetime | str | None, zone: str) -> str:
    if moment is None:
        return "?"
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    return f"{moment.astimezone(ZoneInfo(zone)):%Y-%m-%d %H:%M}"


def explain_run(run: RunRecord, zone: str) -> list[str]:
    """A run as lines: what it is now, then each entry of its trace."""
    status = STATUS_WORDS.get(run.status, run.status)
    head = f"run {run.id} of {run.rule_id} (version {run.rule_version}): {status}"
    if run.status == "goal" and run.revenue:
        head += f", revenue {run.revenue:g}"
    if run.status in ("waiting", "converting") and run.wake_at is not None:
        head += f" until {_when(run.wake_at, zone)}"
    lines = [head]
    for entry in run.trace:
        words = " — ".join(part for part in (entry.get("text"), entry.get("why")) if part)
        lines.append(f"  {_when(entry.get('at'), zone)}  {words or entry.get('node') or ''}")
    return lines


def explain_decision(decision: DecisionRecord, zone: str) -> str:
    what = f"started {decision.rule_id}" if decision.started else f"did not start {decision.rule_id}: {decision.reason}"
    return f"{_when(decision.at, zone)}  {decision.event_type} {decision.event_id} {what}"


def explain(contact: str, runs: Sequence[RunRecord], decisions: Sequence[DecisionRecord], zone: str) -> list[str]:
    """The whole story of one contact, runs first, then the recent decisions of its events."""
    lines = [f"{contact}: {len(runs)} run{'s' if len(runs) != 1 else ''}"]
    for run in runs:
        lines += explain_run(run, zone)
    refused = [d for d in decisions if not d.started]
    if decisions:
        lines.append(f"recent events and the rules they were considered for ({len(refused)} not started):")
        lines += [f"  {explain_decision(d, zone)}" for d in decisions]
    else:
        lines.append("no recent event was considered for a rule")
    return lines
