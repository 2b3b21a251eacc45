"""`relance test` and `relance simulate` run the server's periodic pass: segments that change
with time alone (`days_since(…) >= 7`) enter and leave, without any date or `every` rule."""
from __future__ import annotations

import json

from click.testing import CliRunner

from relance.server.cli import main

RULES = """\
workspace: shop
timezone: Europe/Paris
channels: {email: {plugin: log}}
templates: {revenez: {email: {subject: "Vous nous manquez", body: "Revenez !"}}}
segments:
  dormant: days_since(contact.last_order_at) >= 7
  browsing: hours_since(contact.last_visit_at) < 6
rules:
  - id: reactivation
    when: segment.entered dormant
    steps: [send email revenez]
  - id: relance-visite
    when: segment.left browsing
    steps: [send email revenez]
"""
TESTS = """\
tests:
  - name: a customer without an order for a week is won back
    contact: {email: a@x.test, last_order_at: "2026-01-01T10:00:00+01:00"}
    events:
      - {type: order.completed, at: "2026-01-01T10:00:00+01:00"}
    until: 10d
    expect:
      - {after: 7d, kind: message.sent, rule: reactivation}   # 7 times 24 hours after the order
"""


def test_relance_test_sees_a_segment_entered_with_time(write) -> None:
    rules = write(RULES, "shop.yaml")
    write(TESTS, "shop.test.yaml")
    result = CliRunner().invoke(main, ["test", str(rules)])
    assert result.exit_code == 0, result.output
    assert result.stdout.rstrip().endswith("1 passed, 0 failed")


def test_relance_simulate_sees_a_segment_left_with_time(write) -> None:
    rules = write(RULES, "shop.yaml")
    visit = {"id": "v1", "type": "page.viewed", "at": "2026-03-02T10:20:00+01:00",
             "contact": {"email": "a@x.test", "last_visit_at": "2026-03-02T10:20:00+01:00"}}
    events = write(json.dumps(visit) + "\n", "events.jsonl")
    result = CliRunner().invoke(main, ["simulate", str(rules), str(events), "--until", "1d", "--json"])
    assert result.exit_code == 0, result.output
    timeline = [json.loads(line) for line in result.stdout.splitlines()]
    # six hours after the visit, at the first hourly pass that sees it (passes run from the first event)
    assert [(e["at"], e["kind"]) for e in timeline if e["rule"] == "relance-visite"] == [
        ("2026-03-02T16:20:00+01:00", "run.started"), ("2026-03-02T16:20:00+01:00", "message.queued"),
        ("2026-03-02T16:20:00+01:00", "run.ended"), ("2026-03-02T16:20:00+01:00", "message.sent")]
