"""A rule's `when:` → its trigger: events, dates, yearly dates and schedules, with their checks."""
from __future__ import annotations

from datetime import time, timedelta

import pytest

from relance.dsl import Scope
from relance.dsl import graph as g
from relance.dsl.source import Located, SourceFile
from relance.dsl.triggers import compile_trigger

from .conftest import found

SEGMENTS = ["vip", "dormant"]


def when(text: str) -> Located:
    return Located(text, SourceFile("rules.yaml", (f"    when: {text}",)), 1, 11)


@pytest.fixture
def trigger(context):
    return lambda text: compile_trigger(context, when(text), SEGMENTS)


def test_an_event_trigger_with_its_filter(trigger, context) -> None:
    compiled = trigger("checkout.started where event.cart.total >= 20")
    assert isinstance(compiled, g.EventTrigger) and compiled.event_type == "checkout.started"
    assert compiled.where(Scope(contact={}, event={"cart": {"total": 25}})) is True
    assert context.problems == []


def test_segment_events_name_their_segment(trigger, context) -> None:
    assert trigger("segment.entered vip") == g.EventTrigger("segment.entered", "vip", None)
    trigger("segment.entered")
    trigger("segment.left vipp")
    trigger("order.completed vip")
    assert found(context) == [
        (1, 11, "'segment.entered' needs a segment name, for example 'segment.entered vip'"),
        (1, 24, "unknown segment 'vipp' (did you mean 'vip'?)"),
        (1, 27, "unexpected 'vip'; only segment.entered and segment.left take a segment name; to filter, "
                "write 'where …'"),
    ]


def test_a_date_trigger_counts_from_a_contact_field(trigger, context) -> None:
    assert trigger("3d before contact.renewal_at at 10:00") == g.DateTrigger(("renewal_at",), -timedelta(days=3),
                                                                             time(10), None)
    assert [use.name for use in context.field_uses] == ["renewal_at"]
    assert trigger("3d before event.renewal_at") is None
    assert found(context) == [(1, 21, "a date trigger counts from a contact field such as contact.birthday, "
                                      "not 'event.renewal_at'")]


def test_a_yearly_trigger(trigger) -> None:
    assert trigger("yearly on contact.birthday at 09:30") == g.YearlyTrigger(("birthday",), time(9, 30), None)


def test_a_schedule_for_a_segment(trigger, context) -> None:
    assert trigger("every monday at 09:00 for segment dormant") == g.EveryTrigger("monday", time(9), "dormant")
    trigger("every monday at 09:00 for segment dormnt")
    assert [m for _, _, m in found(context)] == ["unknown segment 'dormnt' (did you mean 'dormant'?)"]


def test_a_trigger_that_does_not_parse(trigger, context) -> None:
    assert trigger("when the cart is left") is None
    assert len(context.problems) == 1
