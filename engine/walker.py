"""The graph walker: one method per node kind, each one step (one transition of the run) inside the step's transaction."""
from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from relance.dsl import graph as g
from relance.dsl.durations import format_duration
from relance.dsl.errors import RelanceError
from relance.dsl.expressions import Scope
from relance.dsl.templates import Template
from relance.dsl.values import kept

from .events import stored_view
from .message_links import refused_host, unlink_unsafe
from .policies import Verdict, recent_messages
from .records import ContactRecord, MessageRecord, RunRecord, TaskRecord
from . import runs
from .store import Transaction
from .timeline import Effect
from .turns import judge_queued

STATUS_BY_MODE = {"auto": "pending", "assist": "draft", "advise": "advised"}
# A step queues; the dispatcher's `message.sent` says when the channel took the message.
EFFECT_BY_MODE = {"auto": "message.queued", "assist": "message.drafted", "advise": "message.advised"}


@dataclass
class Step:
    """One step of one run: what the node may read and change, and what it did."""

    tx: Transaction
    run: RunRecord
    rule: g.Rule
    contact: ContactRecord
    workspace: g.Workspace
    at: datetime  # the step's logical time
    effects: list[Effect] = field(default_factory=list)
    started_runs: list[int] = field(default_factory=list)  # by `start`, walked after this step commits
    now: datetime | None = None  # when the step is actually taken (later than `at` when the run is late)
    pinned_workspace: g.Workspace | None = None  # the workspace the run's version was compiled in

    def scope(self, **extra: Any) -> Scope:
        return Scope(contact=self.contact.view(), event=stored_view(self.run.trigger_event), now=self.at,
                     waited=self.run.waited, zone=self.workspace.timezone, locale=self.workspace.locale, **extra)

    def effect(self, kind: str, at: datetime | None = None, **details: Any) -> None:
        self.effects.append(Effect(at or self.at, self.contact.label(), self.rule.id, kind, details))

    def trace(self, node: g.Node, detail: str = "") -> None:
        entry = {"at": self.at.isoformat(), "node": node.id, "text": node.origin.text}
        if detail:
            entry["why"] = detail
        self.run.trace.append(entry)

    def advance(self, target: str | None) -> None:
        """Go on to `target` now; with none, the steps are done: the run waits for its goal while the
        goal's window is open (converting), else finishes."""
        if target is not None:
            runs.advance(self.run, self.at, target)
            return
        windows = [self.run.started_at + goal.within for goal in self.rule.goals
                   if isinstance(goal, g.EventCondition) and goal.within is not None]
        if runs.done(self.run, self.at, max(windows, default=None)):
            self.effect("run.converting", until=self.run.wake_at.isoformat())  # type: ignore[union-attr]
        else:
            self.effect("run.ended", reason="finished")

    def template(self, name: str, channel: str) -> Template | None:
        """The template as loaded now, else as the run's version had it (a version kept for a run)."""
        found = self.workspace.templates.get((name, channel))
        if found is None and self.pinned_workspace is not None:
            found = self.pinned_workspace.templates.get((name, channel))
        return found

    def late_by(self) -> timedelta:
        """How much later than its time the step is taken."""
        return max((self.now or self.at) - self.at, timedelta(0))

    def wait_base(self) -> datetime:
        """When a wait starts: the step's time, or when the step before it was actually taken if that
        was later (a late run never releases several messages at once), see `_acted_last`."""
        if self.now is not None and self.now > self.at and _acted_last(self.run, self.rule):
            return self.now
        return self.at

WAITS = (g.WaitNode, g.WaitUntilTimeNode, g.WaitEventNode)


def _acted_last(run: RunRecord, rule: g.Rule) -> bool:
    """Whether the step the run took last was an action (a send, a set, …), not its start or a wait."""
    for entry in reversed(run.trace):
        node = rule.nodes.get(entry.get("node") or "")
        if entry.get("node") is None or isinstance(node, WAITS):
            return False
        if "text" in entry:
            return True
    return False


def next_time_of_day(after: datetime, at: Any, zone: str) -> datetime:
    """The first moment >= `after` whose local time in `zone` is `at`."""
    tz = ZoneInfo(zone)
    local = after.astimezone(tz)
    candidate = local.replace(hour=at.hour, minute=at.minute, second=0, microsecond=0)
    if candidate < local:
        candidate = (local + timedelta(days=1)).replace(hour=at.hour, minute=at.minute, second=0, microsecond=0)
    return candidate.astimezone(after.tzinfo)


def kept_value(name: str, value: Any) -> Any:
    """What a step keeps of `name = value` (JSON: dates and durations as ISO 8601 text, see `kept`);
    a value of a type JSON cannot hold fails the step with its name."""
    try:
        return kept(value)
    except TypeError as error:
        raise RelanceError(f"{name}: {error}") from None


def split_bucket(rule_id: str, node_id: str, contact_id: int) -> float:
    """A number in [0, 100) fixed for this contact and split: the same variant every time."""
    digest = hashlib.sha256(f"{rule_id}|{node_id}|{contact_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % 10_000 / 100


StartRule = Callable[[Step, str], Awaitable[tuple[RunRecord | None, str]]]  # the run started, or why not


class Walker:
    """Executes one node; `start_rule` starts another rule's run (the `start` statement); messages
    may link to the workspace's link hosts and to `server_hosts` (the server's own)."""

    def __init__(self, start_rule: StartRule, server_hosts: frozenset[str] = frozenset()) -> None:
        self.start_rule = start_rule
        self.server_hosts = server_hosts

    async def take(self, node: g.Node, step: Step) -> None:
        """Take the node's step: one transition of the run (engine/runs.py)."""
        match node:
            case g.SendNode():
                await self._send(node, step)
            case g.SetNode():
                self._set(node, step)
            case g.ScoreNode():
                self._score(node, step)
            case g.TagNode():
                self._tag(node, step)
            case g.TaskNode():
                await self._task(node, step)
            case g.StartNode():
                await self._start(node, step)
            case g.StopNode():
                self._stop(node, step)
            case g.WaitNode():
                self._wait(node, step)
            case g.WaitUntilTimeNode():
                self._wait_until_time(node, step)
            case g.WaitEventNode():
                self._wait_event(node, step)
            case g.BranchNode():
                self._branch(node, step)
            case g.SplitNode():
                self._split(node, step)
            case _:
                raise RelanceError(f"no step for a node of kind {type(node).__name__}")

    async def _send(self, node: g.SendNode, step: Step) -> None:
        params = {name: kept_value(name, value(step.scope())) for name, value in node.params}
        template = step.template(node.template, node.channel)
        scope = step.scope(params=params)
        subject = template.subject.render(scope) if template and template.subject else None
        body = template.body.render(scope) if template else ""
        html = template.html.render(scope, step.workspace.locale, step.contact.timezone or step.workspace.timezone) \
            if template and template.html else None  # a RenderError fails the step: nothing is sent
        html = unlink_unsafe(html) if html else html  # javascript: and the like never render as links
        visit = step.run.visits.get(node.id, 0) + 1
        step.run.visits[node.id] = visit
        message = MessageRecord(
            workspace=step.workspace.name, key=f"{step.run.id}:{node.id}:{visit}", contact_id=step.contact.id,
            run_id=step.run.id, rule_id=step.rule.id, node_id=node.id, channel=node.channel,
            template=node.template, subject=subject, body=body, html=html, created_at=step.at,
            status=STATUS_BY_MODE[step.rule.mode], transactional=node.transactional, offer=node.offer,
            priority=step.rule.priority,
            params={k: v for k, v in params.items() if isinstance(v, (str, int, float, bool, type(None)))},
        )
        policy = step.workspace.policy
        late = step.late_by()
        refused = refused_host(self.server_hosts | step.workspace.link_hosts, subject, body, html)
        if step.rule.late_skip is not None and late > step.rule.late_skip:
            verdict = Verdict("skip", f"late by {format_duration(late)} "
                                      f"(late: skip after {format_duration(step.rule.late_skip)})")
        elif refused is not None:
            verdict = Verdict("skip", f"a link leads to {refused}, which is not one of the workspace's hosts "
                                      "(list it under links: hosts)")
        else:
            history = await recent_messages(step.tx, policy, [message], step.at)
            verdict = judge_queued(policy, step.workspace.channels.get(node.channel), message, step.contact, history,
                                   step.at, step.workspace.timezone)
        if verdict.action == "skip":
            message.status, message.error = "skipped", verdict.reason
        elif verdict.action == "defer":
            message.send_at, message.error = verdict.until, verdict.reason
        if await step.tx.insert_message(message):
            if verdict.action == "send":
                step.effect(EFFECT_BY_MODE[step.rule.mode], channel=node.channel, template=node.template)
            else:
                details = {"channel": node.channel, "template": node.template, "reason": verdict.reason}
                if verdict.until is not None:
                    details["until"] = verdict.until.isoformat()
                step.effect(f"message.{verdict.action}ped" if verdict.action == "skip" else "message.deferred",
                            **details)
        why = f"message {message.key} {message.status}"
        if verdict.action != "send":
            why += f": {verdict.reason}" + (f", until {verdict.until.isoformat()}" if verdict.until else "")
        step.trace(node, why)
        step.advance(node.next)

    def _set(self, node: g.SetNode, step: Step) -> None:
        for name, value in node.fields:
            step.contact.attributes[name] = kept_value(name, value(step.scope()))
            step.effect("attribute.set", field=name, value=step.contact.attributes[name])
        step.trace(node)
        step.advance(node.next)

    def _score(self, node: g.ScoreNode, step: Step) -> None:
        step.contact.score += node.points
        step.effect("score.changed", value=node.points, score=step.contact.score)
        step.trace(node)
        step.advance(node.next)

    def _tag(self, node: g.TagNode, step: Step) -> None:
        tags = set(step.contact.tags)
        tags.add(node.tag) if node.add else tags.discard(node.tag)
        step.contact.tags = sorted(tags)
        step.effect("tag.added" if node.add else "tag.removed", value=node.tag)
        step.trace(node)
        step.advance(node.next)

    async def _task(self, node: g.TaskNode, step: Step) -> None:
        due = step.at + node.due if node.due else None
        await step.tx.insert_task(TaskRecord(step.workspace.name, step.contact.id, node.title, step.at,
                                             step.run.id, step.rule.id, due))
        step.effect("task.created", value=node.title)
        step.trace(node)
        step.advance(node.next)

    async def _start(self, node: g.StartNode, step: Step) -> None:
        started, why = await self.start_rule(step, node.rule_id)
        step.trace(node, why if started else f"{node.rule_id} not entered: {why}")
        step.advance(node.next)

    def _stop(self, node: g.StopNode, step: Step) -> None:
        step.trace(node)
        runs.end(step.run, step.at, "stopped")
        step.effect("run.ended", reason="stopped")

    def _wait(self, node: g.WaitNode, step: Step) -> None:
        until = step.wait_base() + node.duration
        runs.suspend(step.run, until, node.next)
        step.trace(node, f"until {until.isoformat()}")
        step.effect("wait.started", until=until.isoformat())

    def _wait_until_time(self, node: g.WaitUntilTimeNode, step: Step) -> None:
        until = next_time_of_day(step.wait_base(), node.at, step.contact.timezone or step.workspace.timezone)
        runs.suspend(step.run, until, node.next)
        step.trace(node, f"until {until.isoformat()}")
        step.effect("wait.started", until=until.isoformat())

    def _wait_event(self, node: g.WaitEventNode, step: Step) -> None:
        until = step.wait_base() + node.within
        runs.suspend(step.run, until, None, waiting_for=node.event_type)  # its `where` and `next` decide the resume
        step.trace(node, f"for {node.event_type} until {until.isoformat()}")
        step.effect("wait.started", event=node.event_type, until=until.isoformat())

    def _branch(self, node: g.BranchNode, step: Step) -> None:
        scope = step.scope()
        for branch in node.branches:
            if branch.condition(scope):
                step.trace(node, f"{branch.text}: true")
                step.advance(branch.target)
                return
        step.trace(node, "no condition true: else" if node.branches else "else")
        step.advance(node.otherwise)

    def _split(self, node: g.SplitNode, step: Step) -> None:
        bucket = split_bucket(step.rule.id, node.id, step.contact.id)
        cumulative = 0.0
        chosen = node.variants[-1]
        for variant in node.variants:
            cumulative += variant.weight
            if bucket < cumulative:
                chosen = variant
                break
        step.run.variants[node.id] = chosen.name
        step.effect("split.assigned", value=chosen.name)
        step.trace(node, f"variant {chosen.name} (bucket {bucket:.2f})")
        step.advance(chosen.target)
