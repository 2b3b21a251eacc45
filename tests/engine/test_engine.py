"""The engine's façade: an event taken the whole way, what a repeat or a conflict answers, effects handed on."""
from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace

import pytest

from relance.engine.clock import VirtualClock
from relance.engine.engine import Engine, Outcome
from relance.engine.events import ContactRef, EventConflict, EventError
from relance.engine.timeline import Effect

from .conftest import T0

WORKSPACE = """\
workspace: shop
channels: {chat: {plugin: log}}
templates: {ping: {chat: "ping {{ event.n }}"}}
rules:
  - id: ping
    when: checkout.started
    exit: event contact.upgraded
    steps: [send chat ping]
"""


def engine_of(compiled, **options) -> Engine:  # type: ignore[no-untyped-def]
    """An engine whose store is never reached (what is tested here does no I/O)."""
    return Engine(compiled(WORKSPACE), SimpleNamespace(), VirtualClock(T0), {}, **options)  # type: ignore[arg-type]


async def test_ingest_goes_the_whole_way_and_a_repeat_changes_nothing(open_shop) -> None:
    shop = await open_shop(WORKSPACE)
    event = shop.make_event("checkout.started", id="e1", n=1)
    outcome = await shop.engine.ingest(event)
    assert (outcome.duplicate, outcome.contact_id) == (False, 1)
    assert [m.body for m in shop.channel.sent] == ["ping 1"]  # sent, not only queued
    assert await shop.engine.ingest(event) == Outcome(duplicate=True)
    with pytest.raises(EventConflict):
        await shop.engine.ingest(replace(event, properties={"n": 2}))
    late_retry = replace(event, at=T0.replace(hour=10))  # the sender left `at` to us: the retry is no conflict
    assert (await shop.engine.ingest(late_retry, at_given=False)).duplicate is True
    with pytest.raises(EventError) as raised:
        await shop.engine.ingest(replace(event, id="e2", contact=ContactRef(id=99)))
    assert raised.value.pointer == "/contact/id"
    assert len(shop.channel.sent) == 1


def test_effects_go_to_the_waiting_callers_outcome_and_to_on_effect(compiled) -> None:
    seen: list[Effect] = []
    engine = engine_of(compiled, on_effect=seen.append)
    outcome = Outcome(False)
    effects = [Effect(T0, "alice@example.test", "ping", "run.started", {})]
    engine.emit(effects, outcome)
    engine.emit(effects)
    assert outcome.effects == effects and seen == effects * 2


def test_a_reload_uses_the_new_rules_and_works_out_what_events_end_again(compiled) -> None:
    engine = engine_of(compiled)
    assert engine.endings.reactive_rules("contact.downgraded")[0] == ()
    engine.reload(compiled(WORKSPACE + "  - id: other\n    when: page.viewed\n    exit: event contact.downgraded\n"
                                       "    steps: [send chat ping]\n"))
    assert list(engine.workspace.rules) == ["ping", "other"]
    assert engine.endings.reactive_rules("contact.downgraded")[0] == ("other",)
    assert engine.endings.reactive_rules("contact.upgraded")[0] == ("ping",)


def test_settings_of_the_parts_read_and_write_through_the_facade(compiled) -> None:
    engine = engine_of(compiled)
    engine.inbox_limit = 10
    engine.timed_checked_at = T0
    assert (engine.intake.limit, engine.inbox_limit) == (10, 10)
    assert (engine.timed.checked_at, engine.timed_checked_at) == (T0, T0)
