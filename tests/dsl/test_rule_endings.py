"""Goals and exits compiled from a rule's mapping: one text or a list, events or contact conditions."""
from __future__ import annotations

from datetime import timedelta

from relance.dsl import Scope
from relance.dsl import graph as g
from relance.dsl import syntax as s
from relance.dsl.parser import parse
from relance.dsl.rule_endings import compile_endings

from .conftest import found


def rule(yaml, lines: str):
    data, file = yaml(f"rules:\n  - id: r\n{lines}")
    return data["rules"][0], file


def test_no_goal_is_no_condition(context, yaml) -> None:
    assert compile_endings(context, *rule(yaml, "    when: a.b\n"), "goal") == ()


def test_one_text_or_a_list(context, yaml) -> None:
    mapping, file = rule(yaml, "    goal: order.completed within 7d\n    exit: [event contact.left, if contact.unsubscribed]\n")
    [goal] = compile_endings(context, mapping, "goal", file)
    assert goal == g.EventCondition("order.completed", None, timedelta(days=7), "order.completed within 7d")
    event, condition = compile_endings(context, mapping, "exit", file)
    assert isinstance(event, g.EventCondition) and event.event_type == "contact.left"
    assert isinstance(condition, g.ContactCondition)
    assert condition.predicate(Scope(contact={"unsubscribed": True})) is True
    assert context.problems == []


def test_a_bare_text_that_reads_two_ways_is_refused(context, yaml) -> None:
    mapping, file = rule(yaml, "    exit: contact.vip\n")
    assert compile_endings(context, mapping, "exit", file) == ()
    assert found(context) == [(3, 11, "'contact.vip' reads two ways: the event contact.vip (when one comes), or the "
                                      "condition contact.vip (while the contact matches it); write "
                                      "'exit: event contact.vip' or 'exit: if contact.vip'")]


def test_problems_in_a_where_are_shown_inside_the_text(context, yaml) -> None:
    mapping, file = rule(yaml, "    goal: event order.completed where evnt.total > 10\n")
    assert compile_endings(context, mapping, "goal", file) == ()
    [(line, column, message)] = found(context)
    assert (line, column) == (3, 39) and message.startswith("unknown name 'evnt'")


def test_the_explicit_forms_start_with_their_keyword() -> None:
    assert isinstance(parse("event a.b", "ending"), s.EventSpec)
    assert isinstance(parse("if contact.vip", "ending"), s.ConditionSpec)
    assert not isinstance(parse("events.count > 2", "ending"), s.EventSpec)  # a word that starts with one is not it
    assert isinstance(parse("iffy.thing", "ending"), s.EitherEnding)
