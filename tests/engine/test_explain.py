"""`relance why`: a contact's runs and the rules its events did not start, in plain words, in a zone."""
from __future__ import annotations

from datetime import timedelta

from relance.engine.explain import explain, explain_decision, explain_run
from relance.engine.records import DecisionRecord, RunRecord

from .conftest import T0


def waiting_run() -> RunRecord:
    return RunRecord("shop", 1, "relance-panier", "abc123", T0, T0, {}, status="waiting", id=4,
                     wake_at=T0 + timedelta(days=1),
                     trace=[{"at": T0.isoformat(), "node": None, "why": "started by checkout.started e1"},
                            {"at": T0.isoformat(), "node": "r/steps/0", "text": "wait 1d",
                             "why": "until 2026-03-03T09:00:00+00:00"},
                            {"at": T0.isoformat(), "node": "r/steps/1"}])


def test_a_run_is_its_state_then_its_trace_in_the_zone_given() -> None:
    assert explain_run(waiting_run(), "Europe/Paris") == [
        "run 4 of relance-panier (version abc123): waiting until 2026-03-03 10:00",
        "  2026-03-02 10:00  started by checkout.started e1",
        "  2026-03-02 10:00  wait 1d — until 2026-03-03T09:00:00+00:00",
        "  2026-03-02 10:00  r/steps/1",  # an entry with no words says its node
    ]


def test_a_converted_run_says_its_revenue() -> None:
    run = RunRecord("shop", 1, "r", "v", T0, T0, {}, status="goal", revenue=42.5, id=2)
    assert explain_run(run, "UTC") == ["run 2 of r (version v): reached its goal, revenue 42.5"]


def test_a_decision_says_whether_the_event_started_the_rule_and_why_not() -> None:
    started = DecisionRecord("shop", 1, "r", "e1", "checkout.started", T0, True, "")
    refused = DecisionRecord("shop", 1, "r", "e2", "page.viewed", T0, False, "entry: once, and …")
    assert explain_decision(started, "UTC") == "2026-03-02 09:00  checkout.started e1 started r"
    assert explain_decision(refused, "UTC") == "2026-03-02 09:00  page.viewed e2 did not start r: entry: once, and …"


def test_the_whole_story_counts_runs_and_refusals() -> None:
    refused = DecisionRecord("shop", 1, "r", "e2", "page.viewed", T0, False, "its condition is false")
    story = explain("alice@example.test", [waiting_run()], [refused], "UTC")
    assert story[0] == "alice@example.test: 1 run"
    assert story[-2:] == ["recent events and the rules they were considered for (1 not started):",
                          "  2026-03-02 09:00  page.viewed e2 did not start r: its condition is false"]
    assert explain("bob@example.test", [], [], "UTC") == ["bob@example.test: 0 runs",
                                                          "no recent event was considered for a rule"]
