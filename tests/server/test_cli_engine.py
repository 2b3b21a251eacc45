"""`relance simulate` and `relance test` as a user runs them."""
from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from relance.server.cli import main

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "rules.example.yaml"

CART = {"id": "c1", "type": "checkout.started", "at": "2026-03-02T10:00:00+01:00",
        "contact": {"email": "alice@example.test", "first_name": "Alice"},
        "properties": {"cart": {"total": 80.5, "url": "https://maison-demo.test/cart/1"}}}


def run(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(main, list(args))


def test_simulate_ecom_03_gives_the_seeds_timeline(write) -> None:
    """Seed 000, ECOM-03: reminders at D+1, D+3 and D+5, the incentive last."""
    events = write(json.dumps(CART) + "\n", "events.jsonl")
    result = run("simulate", str(EXAMPLE), str(events), "--until", "10d", "--json")
    assert result.exit_code == 0, result.output
    timeline = [json.loads(line) for line in result.stdout.splitlines()]
    rule = [(e["at"], e["kind"], e.get("template") or e.get("reason") or e.get("until"))
            for e in timeline if e["rule"] == "ecom-03-panier-abandonne"]
    assert rule == [
        ("2026-03-02T10:00:00+01:00", "run.started", None),
        ("2026-03-02T10:00:00+01:00", "wait.started", "2026-03-03T09:00:00+00:00"),
        ("2026-03-03T10:00:00+01:00", "message.queued", "panier-rappel"),
        ("2026-03-03T10:00:00+01:00", "wait.started", "2026-03-05T09:00:00+00:00"),
        ("2026-03-03T10:00:00+01:00", "message.sent", "panier-rappel"),  # the channel took it
        ("2026-03-05T10:00:00+01:00", "message.queued", "panier-bonus"),
        ("2026-03-05T10:00:00+01:00", "wait.started", "2026-03-07T09:00:00+00:00"),
        ("2026-03-05T10:00:00+01:00", "message.sent", "panier-bonus"),
        ("2026-03-07T10:00:00+01:00", "message.queued", "panier-derniere-chance"),
        ("2026-03-07T10:00:00+01:00", "run.converting", "2026-03-09T09:00:00+00:00"),  # goal: within 7d
        ("2026-03-07T10:00:00+01:00", "message.sent", "panier-derniere-chance"),
        ("2026-03-09T10:00:00+01:00", "run.ended", "finished"),
    ]
    assert all(e["contact"] == "alice@example.test" for e in timeline)


def test_simulate_ecom_01_and_02_from_lead_messages(write) -> None:
    hot = {"id": "m1", "type": "message.received", "at": "2026-03-02T10:00:00+01:00",
           "contact": {"phone": "+33611111111"}, "properties": {"text": "où je paie ?", "channel": "whatsapp"}}
    warm = {"id": "m2", "type": "message.received", "at": "2026-03-02T10:05:00+01:00",
            "contact": {"email": "nina@example.test"}, "properties": {"text": "Est-ce vraiment efficace ?"}}
    events = write(json.dumps(hot) + "\n" + json.dumps(warm) + "\n", "events.jsonl")
    result = run("simulate", str(EXAMPLE), str(events), "--json")
    timeline = [json.loads(line) for line in result.stdout.splitlines()]
    hot_run = [(e["at"], e["kind"], e.get("template") or e.get("value")) for e in timeline
               if e["rule"] == "ecom-01-prospect-chaud" and e["kind"] in ("message.sent", "task.created")]
    assert hot_run == [("2026-03-02T10:00:00+01:00", "message.sent", "lien-paiement"),
                       ("2026-03-03T10:00:00+01:00", "task.created", "Vérifier conversion")]
    warm_sends = [(e["at"][:10], e["template"]) for e in timeline
                  if e["rule"] == "ecom-02-prospect-tiede" and e["kind"] == "message.sent"]
    assert warm_sends == [("2026-03-02", "rassurance"), ("2026-03-03", "temoignages"),
                          ("2026-03-05", "conseils-resultats")]


def test_simulate_reports_a_bad_event_with_its_line_and_field(write) -> None:
    events = write(json.dumps(CART) + "\n" + json.dumps({**CART, "id": "c2", "at": "yesterday"}) + "\n", "e.jsonl")
    result = run("simulate", str(EXAMPLE), str(events))
    assert result.exit_code == 1
    assert f"{events}:2: /at: 'yesterday' is not an ISO 8601 time" in result.stderr


def test_relance_test_passes_on_the_example() -> None:
    result = run("test", str(EXAMPLE))
    assert result.exit_code == 0, result.output
    assert result.stdout.rstrip().endswith("11 passed, 0 failed")


def test_relance_test_prints_expected_and_actual_on_failure(write) -> None:
    rules = write(EXAMPLE.read_text(encoding="utf-8"), "shop.yaml")
    write("tests:\n  - name: wrong day\n    contact: {email: a@x.test}\n    events:\n"
          "      - {type: checkout.started, at: \"2026-03-02T10:00:00+01:00\", properties: {cart: {total: 50}}}\n"
          "    expect:\n      - {after: 2d, kind: message.sent, template: panier-rappel}\n", "shop.test.yaml")
    result = run("test", str(rules))
    assert result.exit_code == 1
    assert "FAIL wrong day" in result.stdout
    assert "expected, not found: at 2026-03-04 10:00 kind=message.sent template=panier-rappel" in result.stdout
    assert "2026-03-03 10:00 a@x.test" in result.stdout and "0 passed, 1 failed" in result.stdout


def test_plugins_lists_the_builtins_and_their_hooks() -> None:
    result = run("plugins")
    assert result.exit_code == 0
    assert "relance.tortoise_store" in result.stdout and "relance_store" in result.stdout
    assert "relance.log_channel" in result.stdout and "relance_channels" in result.stdout


TEMPLAT = ("tests:\n  - name: the reminder is not sent\n    contact: {email: a@x.test}\n    events:\n"
           "      - {type: checkout.started, at: \"2026-03-02T10:00:00+01:00\", properties: {cart: {total: 50}}}\n"
           "    expect_not:\n      - {kind: message.sent, templat: panier-rappel}\n")


def test_relance_test_refuses_a_test_that_cannot_fail_before_running_anything(write) -> None:
    """The reminder is sent, so this test must fail; with `templat` it matched any message.sent of no template."""
    rules = write(EXAMPLE.read_text(encoding="utf-8"), "shop.yaml")
    tests = write(TEMPLAT, "shop.test.yaml")
    result = run("test", str(rules))
    assert result.exit_code == 1
    assert result.stdout == ""
    assert f"{tests}:7:30: unknown key 'templat' (did you mean 'template'?)" in result.stderr
    assert result.stderr.rstrip().endswith("1 problem in the rule tests; no test was run")
    write(TEMPLAT.replace("templat:", "template:"), "shop.test.yaml")
    result = run("test", str(rules))
    assert result.exit_code == 1 and "not expected, found:" in result.stdout and "0 passed, 1 failed" in result.stdout


def test_relance_check_checks_the_rule_tests_beside_the_rules(write) -> None:
    rules = write(EXAMPLE.read_text(encoding="utf-8"), "shop.yaml")
    tests = write(TEMPLAT.replace("kind: message.sent", "kind: mesage.sent"), "shop.test.yaml")
    result = run("check", str(rules))
    assert result.exit_code == 1
    assert f"{tests}:7:16: unknown kind 'mesage.sent' (did you mean 'message.sent'?)" in result.stderr
    assert result.stderr.rstrip().endswith("2 problems")


def test_a_test_event_of_a_type_nothing_uses_is_a_warning_and_the_tests_run(write) -> None:
    rules = write(EXAMPLE.read_text(encoding="utf-8"), "shop.yaml")
    tests = write(TEMPLAT.replace("checkout.started", "checkout.begun").replace("templat:", "template:"),
                  "shop.test.yaml")
    result = run("test", str(rules))
    assert f"{tests}:5:16: warning: no rule listens to 'checkout.begun'" in result.stderr
    assert result.exit_code == 0 and result.stdout.rstrip().endswith("1 passed, 0 failed")
