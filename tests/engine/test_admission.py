"""Admission: the trigger, the rule's `if:` and its entry (once, always, after) decide whether a run starts."""
from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from types import SimpleNamespace

import pytest

from relance.engine.admission import Admission, entry_refusal
from relance.engine.clock import VirtualClock
from relance.engine.events import ContactRef, Event
from relance.engine.records import RunRecord

from .conftest import T0, contact_record

RULES = """\
workspace: shop
channels: {chat: {plugin: log}}
segments: {vip: contact.score >= 100}
templates: {a: {chat: "a"}}
rules:
  - id: big-cart
    when: checkout.started where event.cart.total >= 20
    if: contact.first_name
    steps: [send chat a]
  - id: once
    when: page.viewed
    entry: once
    steps: [send chat a]
  - id: always
    when: page.viewed
    entry: always
    steps: [send chat a]
  - id: after
    when: page.viewed
    entry: after 30d
    steps: [send chat a]
  - id: vip
    when: segment.entered vip
    steps: [send chat a]
"""


@pytest.fixture
def admission(compiled) -> Admission:
    """Admission of RULES for an engine at T0 (it reads only the engine's rules and clock)."""
    return Admission(SimpleNamespace(workspace=compiled(RULES), clock=VirtualClock(T0)))  # type: ignore[arg-type]


def event(type: str = "checkout.started", at=T0, **properties) -> Event:  # type: ignore[no-untyped-def]
    return Event("e1", type, at, ContactRef(email="alice@example.test"), properties)


def prior(status: str, started_at=T0, id: int = 3) -> RunRecord:  # type: ignore[no-untyped-def]
    return RunRecord("shop", 1, "r", "v", started_at, started_at, {}, status=status, id=id)


def test_an_event_meeting_the_trigger_and_the_condition_is_not_refused(admission: Admission) -> None:
    rule = admission.workspace.rules["big-cart"]
    assert admission.refusal(rule, contact_record(attributes={"first_name": "Alice"}), event(cart={"total": 80})) is None


@pytest.mark.parametrize("rule_id, properties, attributes, reason", [
    ("big-cart", {"cart": {"total": 12}}, {"first_name": "Alice"},
     "its trigger's condition is false for this event (when: checkout.started where event.cart.total >= 20)"),
    ("big-cart", {"cart": {"total": 80}}, {}, "its condition is false for this contact (if: contact.first_name)"),
    ("vip", {"segment": "buyers"}, {}, "the segment is buyers, not vip"),
])
def test_refusal_says_why(admission: Admission, rule_id: str, properties: dict, attributes: dict, reason: str) -> None:
    event_type = "segment.entered" if rule_id == "vip" else "checkout.started"
    rule = admission.workspace.rules[rule_id]
    assert admission.refusal(rule, contact_record(attributes=attributes), event(event_type, **properties)) == reason


def test_entry_once_refuses_after_any_run_even_ended(admission: Admission) -> None:
    rule = admission.workspace.rules["once"]
    assert entry_refusal(rule, [], T0) is None
    assert entry_refusal(rule, [prior("finished")], T0) == ("entry: once, and the contact already entered "
                                                            "(run 3, 2026-03-02 09:00)")


def test_entry_always_lets_the_contact_in_beside_its_active_runs(admission: Admission) -> None:
    assert entry_refusal(admission.workspace.rules["always"], [prior("active"), prior("waiting")], T0) is None


@pytest.mark.parametrize("rule_id", ["after", "vip"])  # `after` and the default: one run at a time
def test_one_run_at_a_time_while_one_is_active_or_waiting(admission: Admission, rule_id: str) -> None:
    reason = entry_refusal(admission.workspace.rules[rule_id], [prior("finished", id=1), prior("waiting", id=2)], T0)
    assert reason == ("the contact is already in this rule (run 2, waiting): one run at a time "
                      "(entry: always lets contacts in again)")


def test_entry_after_counts_from_the_latest_start(admission: Admission) -> None:
    rule = admission.workspace.rules["after"]
    runs_of_rule = [prior("finished", T0 - timedelta(days=40)), prior("finished", T0 - timedelta(days=10))]
    assert entry_refusal(rule, runs_of_rule, T0) == ("entry: after 30d: the contact may enter again from "
                                                     "2026-03-22 09:00")
    assert entry_refusal(rule, runs_of_rule, T0 + timedelta(days=20)) is None


def test_a_converting_run_does_not_keep_the_contact_out(admission: Admission) -> None:
    assert entry_refusal(admission.workspace.rules["vip"], [prior("converting")], T0) is None


def test_admit_makes_an_unstored_run_at_the_first_node_never_in_the_future(admission: Admission) -> None:
    rule = admission.workspace.rules["big-cart"]
    cause = event(at=T0 + timedelta(hours=1), cart={"total": 80})  # an event dated ahead of the clock
    run, why = admission.admit(rule, contact_record(attributes={"first_name": "A"}), cause, "started by e1", [])
    assert run is not None and why == "started by e1"
    assert (run.id, run.rule_id, run.node_id, run.started_at, run.status) == (None, "big-cart", rule.start, T0, "active")
    assert run.trigger_event == cause.as_json()


def test_admit_refuses_with_the_first_reason(admission: Admission) -> None:
    rule = admission.workspace.rules["big-cart"]
    run, why = admission.admit(rule, contact_record(), event(cart={"total": 1}), "started by e1", [prior("active")])
    assert run is None and why.startswith("its trigger's condition is false")


def test_a_start_step_skips_the_trigger_and_passes_its_event_on(admission: Admission) -> None:
    """`seen_as`: the starting run's event; the trigger's and `if:` conditions are the other rule's business."""
    rule = admission.workspace.rules["big-cart"]
    cause = replace(event(at=T0 + timedelta(hours=1)), id="start:9:big-cart", type="start")
    run, _ = admission.admit(rule, contact_record(), cause, "started by r (run 9)", [],
                             seen_as={"id": "start:9:big-cart", "type": "checkout.started"})
    assert run is not None and run.started_at == T0 + timedelta(hours=1)
    assert run.trigger_event == {"id": "start:9:big-cart", "type": "checkout.started"}
    run, why = admission.admit(rule, contact_record(), cause, "started", [prior("waiting")], seen_as={})
    assert run is None and why.startswith("the contact is already in this rule")


async def test_a_start_step_for_a_rule_not_loaded_starts_nothing(admission: Admission) -> None:
    step = SimpleNamespace(started_runs=[], effects=[])  # nothing of the step is read before the rule is found
    assert await admission.start_from_step(step, "gone") == (None, "no rule gone in the rules loaded here")  # type: ignore[arg-type]
    assert (step.started_runs, step.effects) == ([], [])
