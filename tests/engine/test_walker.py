"""The walker: each node kind taken through a Step, as one transition of its run."""
from __future__ import annotations

from datetime import datetime, time, timedelta, timezone
from types import SimpleNamespace
from typing import Any

import pytest

from relance.dsl.errors import RelanceError
from relance.engine import runs
from relance.engine.records import RunRecord
from relance.engine.walker import Step, Walker, kept_value, next_time_of_day, split_bucket

from .conftest import T0, contact_record
from .test_runs import CHANNELS, rule

NO_TX: Any = SimpleNamespace()  # the statements that write nothing but the run and the contact never touch it


class Starts:
    """A `start_rule` for the walker: records what it is asked, answers as told."""

    def __init__(self, started: bool = True) -> None:
        self.asked: list[str] = []
        self.started = started

    async def __call__(self, step: Step, rule_id: str) -> tuple[RunRecord | None, str]:
        self.asked.append(rule_id)
        if not self.started:
            return None, "entry: once, and the contact already entered"
        return RunRecord("shop", step.contact.id, rule_id, "v", step.at, step.at, {}, id=99), "started run 99"


def stepped(compiled, steps: str, node: str = "r/steps/0", extra: str = "", tx: Any = NO_TX,
            **contact: Any) -> tuple[Any, Step]:
    """(the node, a Step of a run of `rule(steps)` standing on it at T0)."""
    workspace = compiled(rule(steps, extra) + "  - id: other\n    when: never.happens\n    steps: [tag x]\n")
    rule_ = workspace.rules["r"]
    trigger = {"id": "e1", "type": "checkout.started", "at": T0.isoformat(), "properties": {"cart": {"total": 80}}}
    run = runs.new_run("shop", rule_, 1, T0, trigger, "started by e1")
    run.id, run.node_id = 5, node
    return rule_.nodes[node], Step(tx, run, rule_, contact_record(**contact), workspace, T0)


async def take(node: Any, step: Step, starts: Starts | None = None) -> None:
    await Walker(starts or Starts()).take(node, step)


def kinds(step: Step) -> list[tuple[str, dict[str, Any]]]:
    return [(e.kind, e.details) for e in step.effects]


async def test_set_writes_the_contacts_attributes_and_goes_on(compiled) -> None:
    node, step = stepped(compiled, 'set stage = "relance", total = event.cart.total * 2\ntag x')
    await take(node, step)
    assert (step.contact.attributes["stage"], step.contact.attributes["total"]) == ("relance", 160)
    assert kinds(step) == [("attribute.set", {"field": "stage", "value": "relance"}),
                           ("attribute.set", {"field": "total", "value": 160})]
    assert (step.run.node_id, step.run.version, step.run.status) == ("r/steps/1", 2, "active")
    assert step.run.trace[-1] == {"at": T0.isoformat(), "node": "r/steps/0", "text": node.origin.text}


async def test_score_adds_points(compiled) -> None:
    node, step = stepped(compiled, "score +7", score=3)
    await take(node, step)
    assert (step.contact.score, kinds(step)[0]) == (10, ("score.changed", {"value": 7, "score": 10}))


@pytest.mark.parametrize("statement, tags, kind", [("tag hot", ["hot", "vip"], "tag.added"),
                                                   ("untag vip", [], "tag.removed"),
                                                   ("untag cold", ["vip"], "tag.removed")])
async def test_tag_and_untag(compiled, statement: str, tags: list[str], kind: str) -> None:
    node, step = stepped(compiled, statement, tags=["vip"])
    await take(node, step)
    assert (step.contact.tags, kinds(step)[0][0]) == (tags, kind)


async def test_the_last_step_finishes_the_run(compiled) -> None:
    node, step = stepped(compiled, "tag x")
    await take(node, step)
    assert (step.run.status, step.run.end_reason, step.run.node_id) == ("finished", "finished", None)
    assert kinds(step)[-1] == ("run.ended", {"reason": "finished"})


async def test_the_last_step_with_a_goal_window_open_converts(compiled) -> None:
    node, step = stepped(compiled, "tag x", extra="    goal: order.completed within 7d\n")
    await take(node, step)
    assert (step.run.status, step.run.wake_at) == ("converting", T0 + timedelta(days=7))
    assert kinds(step)[-1] == ("run.converting", {"until": (T0 + timedelta(days=7)).isoformat()})


async def test_stop_ends_the_run_where_it_is(compiled) -> None:
    node, step = stepped(compiled, "stop")
    await take(node, step)
    assert (step.run.status, step.run.node_id, kinds(step)) == ("stopped", "r/steps/0",
                                                                [("run.ended", {"reason": "stopped"})])


async def test_wait_suspends_until_its_duration_has_passed(compiled) -> None:
    node, step = stepped(compiled, "wait 3d\ntag x")
    await take(node, step)
    until = T0 + timedelta(days=3)
    assert (step.run.status, step.run.wake_at, step.run.node_id) == ("waiting", until, "r/steps/1")
    assert kinds(step) == [("wait.started", {"until": until.isoformat()})]
    assert step.run.trace[-1]["why"] == f"until {until.isoformat()}"


async def test_a_late_wait_after_an_action_starts_when_the_step_is_taken(compiled) -> None:
    """A late run never releases several messages at once: the wait counts from now."""
    node, step = stepped(compiled, "tag x\nwait 1d\ntag y", node="r/steps/1")
    step.trace(step.rule.nodes["r/steps/0"])  # its last step was an action
    step.now = T0 + timedelta(hours=5)
    await take(node, step)
    assert step.run.wake_at == T0 + timedelta(days=1, hours=5)


@pytest.mark.parametrize("zone, until", [
    (None, datetime(2026, 3, 3, 8, 0, tzinfo=timezone.utc)),  # 09:00 in Paris, the workspace's: tomorrow
    ("America/New_York", datetime(2026, 3, 2, 14, 0, tzinfo=timezone.utc)),  # the contact's: today
])
async def test_wait_until_a_time_of_day_in_the_contacts_zone_else_the_workspaces(compiled, zone, until) -> None:
    node, step = stepped(compiled, "wait until 09:00\ntag x", timezone=zone)
    await take(node, step)
    assert (step.run.status, step.run.wake_at, step.run.node_id) == ("waiting", until, "r/steps/1")


async def test_wait_for_an_event_stays_on_its_node_waiting_for_it(compiled) -> None:
    node, step = stepped(compiled, "wait until email.opened within 24h\ntag x")
    await take(node, step)
    until = T0 + timedelta(hours=24)
    assert (step.run.status, step.run.node_id, step.run.waiting_for, step.run.wake_at) == (
        "waiting", "r/steps/0", "email.opened", until)
    assert kinds(step) == [("wait.started", {"event": "email.opened", "until": until.isoformat()})]


@pytest.mark.parametrize("total, target, why", [(150, "r/steps/0/if/0", "if event.cart.total > 100: true"),
                                                (80, "r/steps/0/elif-1/0", "elif event.cart.total > 50: true"),
                                                (10, "r/steps/0/else/0", "no condition true: else")])
async def test_branch_takes_the_first_true_condition_else_the_else(compiled, total, target, why) -> None:
    node, step = stepped(compiled, "if event.cart.total > 100:\n    - tag big\n  elif event.cart.total > 50:\n"
                                   "    - tag medium\n  else:\n    - tag small")
    step.run.trigger_event["properties"]["cart"] = {"total": total}
    await take(node, step)
    assert (step.run.node_id, step.run.trace[-1]["why"]) == (target, why)


async def test_split_gives_a_contact_the_same_variant_every_time(compiled) -> None:
    node, step = stepped(compiled, "split:\n    a 50%: [tag a]\n    b 50%: [tag b]")
    await take(node, step)
    bucket = split_bucket("r", node.id, 1)
    chosen = "a" if bucket < 50 else "b"
    assert step.run.variants == {node.id: chosen}
    assert kinds(step) == [("split.assigned", {"value": chosen})]
    assert step.run.node_id == next(v.target for v in node.variants if v.name == chosen)
    assert step.run.trace[-1]["why"] == f"variant {chosen} (bucket {bucket:.2f})"


@pytest.mark.parametrize("started, why", [(True, "started run 99"),
                                          (False, "other not entered: entry: once, and the contact already entered")])
async def test_start_asks_for_the_other_rules_run_and_goes_on(compiled, started: bool, why: str) -> None:
    node, step = stepped(compiled, "start other\ntag x")
    starts = Starts(started)
    await take(node, step, starts)
    assert (starts.asked, step.run.trace[-1]["why"], step.run.node_id) == (["other"], why, "r/steps/1")


async def test_a_node_of_an_unknown_kind_fails_the_step(compiled) -> None:
    _, step = stepped(compiled, "tag x")
    with pytest.raises(RelanceError, match="no step for a node of kind object"):
        await take(object(), step)


async def test_send_and_task_write_to_the_steps_transaction(open_shop) -> None:
    """A send queues the rendered message once (key run:node:visit); a link to a host not listed skips it."""
    templates = CHANNELS.replace('ping: {chat: "ping"}', 'ping: {chat: "ping"}\n  bad: {chat: "see {{ event.url }}"}')
    shop = await open_shop(templates + "rules:\n  - id: r\n    when: checkout.started\n    steps:\n      - wait 1d\n"
                             '      - send email hello with code = "X1"\n      - send chat bad\n'
                             '      - task "Appeler" due 1d\n')
    await shop.event("checkout.started", {"email": "alice@example.test", "first_name": "Alice"}, cart={"total": 80},
                     url="https://evil.test/x")  # a host written in a template is the workspace's; one from data is not
    rule_ = shop.engine.workspace.rules["r"]
    async with shop.engine.store.transaction() as tx:
        [run] = await tx.contact_runs(1)
        contact = await tx.get_contact(1)
        step = Step(tx, run, rule_, contact, shop.engine.workspace, T0)  # type: ignore[arg-type]
        for node in ("r/steps/1", "r/steps/2", "r/steps/3"):
            await Walker(Starts()).take(rule_.nodes[node], step)
    assert [kind for kind, _ in kinds(step)] == ["message.queued", "message.skipped", "task.created", "run.ended"]
    assert kinds(step)[1][1]["reason"].startswith("a link leads to evil.test")
    hello, bad = await shop.engine.store.messages("shop")
    assert (hello.key, hello.status, hello.subject, hello.body, hello.params) == (
        f"{run.id}:r/steps/1:1", "pending", "Bonjour Alice", "Panier 80 X1", {"code": "X1"})
    assert (bad.status, bad.error.startswith("a link leads to evil.test")) == ("skipped", True)
    [task] = await shop.engine.store.tasks("shop")
    assert (task.title, task.due_at, task.run_id) == ("Appeler", T0 + timedelta(days=1), run.id)


def test_next_time_of_day_is_today_or_tomorrow() -> None:
    assert next_time_of_day(T0, time(9, 0), "UTC") == T0
    assert next_time_of_day(T0 + timedelta(minutes=1), time(9, 0), "UTC") == T0 + timedelta(days=1)


def test_kept_value_names_the_field_json_cannot_hold() -> None:
    assert kept_value("n", 3) == 3
    with pytest.raises(RelanceError, match="^n: "):
        kept_value("n", object())


def test_split_bucket_is_fixed_per_contact_and_split() -> None:
    buckets = [split_bucket("r", "r/steps/0", contact) for contact in range(200)]
    assert all(0 <= b < 100 for b in buckets) and buckets == [split_bucket("r", "r/steps/0", c) for c in range(200)]
    assert len(set(buckets)) > 150
