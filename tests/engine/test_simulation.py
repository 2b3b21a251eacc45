"""`relance simulate`: events read from JSON Lines, fed in arrival order on a virtual clock, the timeline returned."""
from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from relance.engine.events import EventError, parse_event
from relance.engine.simulation import read_events, simulate
from relance.plugins.registry import plugin_manager, store_for

from .conftest import T0, RecordingChannel
from .test_runs import rule


def line(**changes: object) -> str:
    data = {"id": "e1", "type": "checkout.started", "at": T0.isoformat(), "contact": {"email": "a@x.test"}}
    return json.dumps({**data, **changes})


def test_events_are_read_one_a_line_blank_lines_skipped(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text(line() + "\n\n" + line(id="e2", type="Order Completed") + "\n", encoding="utf-8")
    assert [(e.id, e.type, e.at) for e in read_events(path)] == [("e1", "checkout.started", T0),
                                                                 ("e2", "order.completed", T0)]


@pytest.mark.parametrize("text, pointer, message", [
    ("{not json", "", ":1:2: not JSON: "),
    (line() + "\n" + line(at="tomorrow"), "/at", ":2: /at: 'tomorrow' is not an ISO 8601 time"),
])
def test_an_error_names_the_line_and_the_field(tmp_path: Path, text: str, pointer: str, message: str) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(EventError) as raised:
        read_events(path)
    assert raised.value.pointer == pointer and f"{path}{message}" in raised.value.message


async def test_a_simulation_runs_every_wait_on_a_fresh_store_and_a_late_webhook_arrives_late(
        compiled, database: str) -> None:
    workspace = compiled(rule("wait 1d\nsend chat ping", extra="    goal: order.completed within 7d\n"))
    events = [parse_event(json.loads(line())),
              parse_event(json.loads(line(id="o1", type="order.completed", at=(T0 + timedelta(hours=30)).isoformat(),
                                          properties={"total": 40})))]
    store = store_for(plugin_manager(load_entry_points=False), database)
    channel = RecordingChannel()
    effects = await simulate(workspace, store, events, {"log": channel}, until=timedelta(days=1),
                             arrivals=[None, T0 + timedelta(days=2)])  # the order's webhook comes a day late
    timeline = [(e.kind, e.at) for e in effects if e.kind in ("message.sent", "run.ended")]
    assert timeline == [("message.sent", T0 + timedelta(days=1)), ("run.ended", T0 + timedelta(hours=30))]
    [ended] = [e for e in effects if e.kind == "run.ended"]
    assert ended.details == {"reason": "goal", "event": "order.completed", "revenue": 40.0}
    assert len(channel.sent) == 1
    assert await simulate(workspace, store_for(plugin_manager(False), database), [], {"log": channel}) == []
