"""Goals and exits in runs: an event exit ends the run when the event comes, a condition before a step;
then engine/endings.py alone (the rules an event may end, `ended_by`, `meets`, `before_step`)."""
from __future__ import annotations

from datetime import timedelta

from types import SimpleNamespace
from typing import Any

import pytest

from relance.dsl.expressions import Scope
from relance.engine.endings import Endings, ended_by, meets
from relance.engine.events import ContactRef, Event
from relance.engine.records import EventRecord, RunRecord
from relance.engine.versions import Versions
from relance.engine.walker import Step

from .conftest import T0, contact_record
from .test_runs import rule


@pytest.mark.parametrize("extra", ["    exit: event contact.upgraded\n", "    exit: [event contact.upgraded]\n",
                                   "    goal: contact.upgraded within 7d\n"])
async def test_an_event_ending_ends_the_run_when_the_event_comes(open_shop, extra: str) -> None:
    shop = await open_shop(rule("wait 1d\nsend chat ping", extra=extra))
    await shop.event("checkout.started")
    await shop.event("contact.upgraded", at=T0 + timedelta(hours=2))
    await shop.wait(timedelta(days=2))
    assert shop.channel.sent == []
    [ended] = shop.kinds("run.ended")
    assert (ended.at, ended.details["event"]) == (T0 + timedelta(hours=2), "contact.upgraded")
    assert ended.details["reason"] == ("goal" if "goal" in extra else "exited")


async def test_a_condition_ending_ends_the_run_when_an_event_makes_it_true(open_shop) -> None:
    """Checked before every step, and as soon as an event changes the contact (issue 12 item 5)."""
    shop = await open_shop(rule("wait 1d\nsend chat ping", extra="    exit: if contact.plan == 'pro'\n"))
    await shop.event("checkout.started")
    await shop.event("contact.upgraded", {"email": "alice@example.test", "plan": "pro"}, at=T0 + timedelta(hours=2))
    await shop.wait(timedelta(days=2))
    assert shop.channel.sent == []
    [ended] = shop.kinds("run.ended")
    assert (ended.at, ended.details) == (T0 + timedelta(hours=2), {
        "reason": "exited", "event": "contact.upgraded", "condition": "if contact.plan == 'pro'"})


async def test_a_condition_ending_true_from_the_start_ends_the_run_before_its_first_step(open_shop) -> None:
    shop = await open_shop(rule("send chat ping", extra="    exit: if contact.plan == 'pro'\n"))
    await shop.event("checkout.started", {"email": "alice@example.test", "plan": "pro"})
    assert shop.channel.sent == []
    [ended] = shop.kinds("run.ended")
    assert (ended.at, ended.details) == (T0, {"reason": "exited", "condition": "if contact.plan == 'pro'"})


# ------------------------------------------------ engine/endings.py alone
ENDINGS = rule("wait 1d\nsend chat ping",
                                        extra="    goal: order.completed where event.total >= 10 within 7d\n"
                                              "    exit: if contact.plan == 'pro'\n") \
    + "  - id: plain\n    when: page.viewed\n    steps: [send chat ping]\n" \
    + "  - id: upgrades\n    when: page.viewed\n    exit: event contact.upgraded\n    steps: [send chat ping]\n"


def endings_of(compiled) -> Endings:  # type: ignore[no-untyped-def]
    workspace = compiled(ENDINGS)
    versions = Versions("shop")
    versions.load(workspace)
    return Endings(SimpleNamespace(workspace=workspace, versions=versions))  # type: ignore[arg-type]


def a_run(started_at=T0) -> RunRecord:  # type: ignore[no-untyped-def]
    return RunRecord("shop", 1, "r", "v", started_at, started_at, {"id": "e1", "type": "checkout.started"})


def order(at=T0 + timedelta(days=1), id: str = "o1", **properties) -> Event:  # type: ignore[no-untyped-def]
    return Event(id, "order.completed", at, ContactRef(email="alice@example.test"), properties)


def scope_of(event: Event, **attributes) -> Scope:  # type: ignore[no-untyped-def]
    return Scope(contact=contact_record(attributes=attributes).view(), event=event.view(), now=event.at,
                 zone="UTC", locale="fr")


def test_reactive_rules_are_those_with_an_ending_on_the_type_or_on_the_contact(compiled) -> None:
    endings = endings_of(compiled)
    by_event, by_contact = endings.reactive_rules("contact.upgraded")
    assert by_event == ("upgrades",)
    assert [(rule_id, [c.text for c in conditions]) for rule_id, conditions in by_contact] == [
        ("r", ["if contact.plan == 'pro'"])]
    assert endings.reactive_rules("order.completed")[0] == ("r",)
    assert endings.reactive_rules("page.viewed")[0] == ()
    assert endings.reactive_rules("order.completed") is endings.reactive_rules("order.completed")  # worked out once
    endings.forget()
    assert "order.completed" not in endings._reactive


@pytest.mark.parametrize("event, attributes, ending", [
    (order(total=20), {}, ("goal", "order.completed where event.total >= 10 within 7d")),
    (order(total=5), {}, None),                                             # its `where` is false
    (order(at=T0 + timedelta(days=8), total=20), {}, None),                 # past its window
    (order(id="e1", total=20), {}, None),                                   # the run's own trigger
    (order(total=5), {"plan": "pro"}, ("exited", "if contact.plan == 'pro'")),  # the profile the event left
])
def test_ended_by_judges_the_goals_then_the_exits(compiled, event: Event, attributes: dict, ending) -> None:
    rule_ = compiled(ENDINGS).rules["r"]
    assert ended_by(rule_, a_run(), event, scope_of(event, **attributes)) == ending


def test_meets_needs_another_event_in_time_whose_where_holds(compiled) -> None:
    [goal] = compiled(ENDINGS).rules["r"].goals
    event = order(total=20)
    assert meets(goal, a_run(), "o1", event.at, scope_of(event))
    assert not meets(goal, a_run(), "e1", event.at, scope_of(event))
    assert not meets(goal, a_run(T0 - timedelta(days=7)), "o1", event.at, scope_of(event))


async def test_before_step_ends_the_run_on_a_contact_condition(compiled) -> None:
    async def no_events(*_: object) -> list[EventRecord]:  # the goal's events: none yet
        return []

    workspace = compiled(ENDINGS)
    rule_ = workspace.rules["r"]
    run = a_run()
    run.node_id = rule_.start
    tx: Any = SimpleNamespace(contact_events=no_events)
    free = Step(tx, run, rule_, contact_record(attributes={"plan": "free"}), workspace, T0)
    assert await Endings.before_step(free) is False
    assert (run.status, run.version, free.effects) == ("active", 1, [])
    step = Step(tx, run, rule_, contact_record(attributes={"plan": "pro"}), workspace, T0)
    assert await Endings.before_step(step) is True
    assert (run.status, run.end_reason, run.trace[-1]["why"]) == ("exited", "exited", "exited: if contact.plan == 'pro'")
    assert [(e.kind, e.details) for e in step.effects] == [
        ("run.ended", {"reason": "exited", "condition": "if contact.plan == 'pro'"})]


async def test_before_step_ends_the_run_on_a_goal_event_stored_before_it(open_shop) -> None:
    """The goal is judged on the event's own time, against every event known when the step is taken."""
    shop = await open_shop(ENDINGS)
    await shop.event("checkout.started")
    paid = T0 + timedelta(hours=3)
    async with shop.engine.store.transaction() as tx:
        for id, total in (("small", 5), ("big", 30)):
            event = shop.make_event("order.completed", at=paid, id=id, total=total)
            await tx.insert_event(EventRecord("shop", id, event.type, paid, paid, event.as_json(), contact_id=1))
        [run] = await tx.contact_runs(1)
        contact = await tx.get_contact(1)
        assert contact is not None
        step = Step(tx, run, shop.engine.workspace.rules["r"], contact, shop.engine.workspace,
                    T0 + timedelta(days=1), now=T0 + timedelta(days=1))
        assert await Endings.before_step(step) is True
    assert (run.status, run.ended_at, run.revenue) == ("goal", paid, 30.0)
    assert run.trace[-1]["why"] == "goal: order.completed where event.total >= 10 within 7d (order.completed big)"
    assert [(e.at, e.details) for e in step.effects] == [(paid, {"reason": "goal", "event": "order.completed",
                                                                 "revenue": 30.0})]
