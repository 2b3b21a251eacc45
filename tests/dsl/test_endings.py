"""Goals and exits: `event …` or `if …`; a bare one is read both ways and taken only if one holds."""
from __future__ import annotations

from datetime import timedelta

import pytest

from relance.dsl import Scope
from relance.dsl import graph as g


def rule_with(key: str, ending: str) -> str:
    return f"rules:\n  - id: r\n    when: a.b\n    {key}: {ending}\n    steps: [stop]\n"


@pytest.mark.parametrize("ending, event_type, within", [
    ("event contact.upgraded", "contact.upgraded", None),
    ("event contact.upgraded within 7d", "contact.upgraded", timedelta(days=7)),
    ("contact.upgraded within 7d", "contact.upgraded", timedelta(days=7)),
    ("contact.upgraded where event.plan == 'pro'", "contact.upgraded", None),
    ("order.completed within 7d", "order.completed", timedelta(days=7)),
    ("order.completed", "order.completed", None),
    ("event Order Completed where event.total > 10 within 2d", "order.completed", timedelta(days=2)),
    ("signup", "signup", None),
    ("event now", "now", None),
])
@pytest.mark.parametrize("key", ["goal", "exit"])
def test_read_as_an_event(compile_text, key: str, ending: str, event_type: str, within: timedelta | None) -> None:
    workspace, problems = compile_text(rule_with(key, ending))
    assert problems == [], [str(p) for p in problems]
    [condition] = getattr(workspace.rules["r"], f"{key}s")
    assert isinstance(condition, g.EventCondition)
    assert (condition.event_type, condition.within, condition.text) == (event_type, within, ending)


@pytest.mark.parametrize("ending, contact, holds", [
    ("if contact.upgraded", {"upgraded": True}, True),
    ("if contact.upgraded", {}, False),
    ("if contact.unsubscribed", {"unsubscribed": True}, True),
    ("contact.score > 100", {"score": 150}, True),
    ("not contact.vip", {"vip": True}, False),
    ("(contact.vip)", {"vip": True}, True),
    ("if now", {}, True),
])
@pytest.mark.parametrize("key", ["goal", "exit"])
def test_read_as_a_condition(compile_text, key: str, ending: str, contact: dict, holds: bool) -> None:
    workspace, problems = compile_text(rule_with(key, ending))
    assert problems == [], [str(p) for p in problems]
    [condition] = getattr(workspace.rules["r"], f"{key}s")
    assert isinstance(condition, g.ContactCondition)
    assert bool(condition.predicate(Scope(contact=contact, now=1))) is holds


@pytest.mark.parametrize("ending", ["contact.upgraded", "contact.unsubscribed", "contact.consent.email", "now"])
@pytest.mark.parametrize("key", ["goal", "exit"])
def test_text_that_reads_both_ways_is_a_problem_showing_both(compile_text, key: str, ending: str) -> None:
    _, problems = compile_text(rule_with(key, ending))
    assert [(p.line, p.column) for p in problems] == [(4, len(key) + 7)]
    assert problems[0].message == (f"'{ending}' reads two ways: the event {ending} (when one comes), or the condition "
                                   f"{ending} (while the contact matches it); write '{key}: event {ending}' or "
                                   f"'{key}: if {ending}'")


@pytest.mark.parametrize("ending, column, message", [
    ("event contact.upgraded wihtin 7d", 34, "unexpected 'wihtin'; expected the end of the text, 'where', 'within'"),
    ("contact.upgraded wihtin 7d", 28, "unexpected 'wihtin'"),
    ("if contact.score >", 29, "unexpected end of text"),
    ("if", 13, "unexpected end of text"),
    ("event", 16, "unexpected end of text"),
    ("contcat.score > 3", 11, "unknown name 'contcat' (did you mean 'contact'?)"),
    ("event.total > 3", 11, "'event' is not available in a rule exit; use contact, now"),
    ("event order.completed where contcat.x", 39, "unknown name 'contcat' (did you mean 'contact'?)"),
])
def test_problems_in_either_form(compile_text, ending: str, column: int, message: str) -> None:
    _, problems = compile_text(rule_with("exit", ending))
    assert [(p.line, p.column) for p in problems] == [(4, column)], [str(p) for p in problems]
    assert problems[0].message.startswith(message)
