"""Rule-test files are checked like rules: no expectation that cannot fail, every mistake at its place."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from relance.dsl import check_workspace
from relance.engine.ruletests import check_tests

RULES = """\
channels: {email: {plugin: log}}
templates: {rappel: {email: {subject: "Panier", body: "Votre panier"}}}
rules:
  - id: panier
    when: checkout.started
    steps: [wait 1d, send email rappel]
"""
EVENT = '{type: checkout.started, at: "2026-03-02T10:00:00+01:00"}'


@pytest.fixture
def check(write: Callable[..., Path], functions) -> Callable[[str], list]:
    """check(expectation lines) → the problems of a test file holding one test with them."""
    workspace, problems = check_workspace([write(RULES, "shop.yaml")], functions)
    assert problems == []

    def run(body: str, events: str = f"      - {EVENT}\n") -> list:
        path = write("tests:\n  - name: t\n    contact: {email: a@b.test}\n    events:\n" + events + body,
                     "shop.test.yaml")
        tests, found = check_tests(path, workspace)
        assert (tests == []) == any(p.is_error for p in found)
        return [(p.severity, p.line, p.column, p.message) for p in found]
    return run


def test_a_clean_file_has_no_problems(check) -> None:
    assert check("    until: 3d\n    expect:\n      - {after: 1d, kind: message.sent, template: rappel}\n"
                 "    expect_not:\n      - {kind: run.ended, reason: goal}\n") == []


@pytest.mark.parametrize("expectation, at, message", [
    ("{kind: message.sent, templat: rappel}", "templat", "unknown key 'templat' (did you mean 'template'?); an "
                                                         "expectation has: kind, rule, contact, after, at, by, channel, "
                                                         "template"),
    ("{kind: mesage.sent, template: rappel}", "mesage", "unknown kind 'mesage.sent' (did you mean 'message.sent'?); "
                                                        "kinds are: run.started, run.ended, message.sent"),
    ("{kind: message.sent, reason: quiet}", "reason", "message.sent effects have no 'reason'; they have: kind, rule, "
                                                      "contact, channel, template"),
    ("{kind: message.sent, template: rapel}", "rapel", "unknown template 'rapel' (did you mean 'rappel'?)"),
    ("{kind: message.sent, channel: emial}", "emial", "unknown channel 'emial' (did you mean 'email'?)"),
    ("{rule: paner}", "paner", "unknown rule 'paner' (did you mean 'panier'?)"),
    ("{kind: message.sent, after: 1 day}", "1 day", "after: bad duration '1 day'"),
    ("{kind: message.sent, at: yesterday}", "yesterday", "at: 'yesterday' is not an ISO 8601 time"),
    ("{kind: message.sent, at: 2026-03-03T10:00:00+01:00}", "2026", "at: write the time in quotes"),
    ("{}", "{", "an expectation is a mapping such as {kind: message.sent, template: x}; an empty one matches any "
                "effect"),
    ("message.sent", "m", "an expectation is a mapping such as {kind: message.sent, template: x}"),
])
@pytest.mark.parametrize("key", ["expect", "expect_not"])
def test_an_expectation_that_cannot_match_is_an_error(check, key: str, expectation: str, at: str,
                                                      message: str) -> None:
    [(severity, line, column, found)] = check(f"    {key}:\n      - {expectation}\n")
    assert (severity, line, column) == ("error", 7, 9 + expectation.index(at)), found
    assert found.startswith(message), found


@pytest.mark.parametrize("body, events, line, at, message", [
    ("    expcet: []\n", None, 6, "expcet", "unknown key 'expcet' (did you mean 'expect'?); a test has: name, contact, "),
    ("    until: 3 days\n", None, 6, "3 days", "until: bad duration '3 days' (did you mean '3d'?)"),
    ("", '      - {type: checkout.started, at: "2026-03-02T10:00:00+01:00", propreties: {}}\n', 5, "propreties",
     "unknown key 'propreties' (did you mean 'properties'?); an event has: id, type, at, after, arrives, contact, properties"),
    ("", "      - {type: checkout.started, after: 1d}\n", 5, "after", "the first event needs an 'at'"),
    ("", "      - {type: checkout.started}\n", 5, "{", "an event needs an 'at' (a time) or"),
    ("", '      - {type: checkout.started, at: "2026-03-02T10:00:00"}\n', 5, '"2026',
     "at: '2026-03-02T10:00:00' has no timezone"),
    ("", f"      - {EVENT}\n      - {{type: checkout.started, after: 1d, contact: {{email: nobody}}}}\n", 6, "nobody",
     "contact/email: 'nobody' is not an email address"),
])
def test_test_and_event_mistakes_are_errors_at_their_place(check, body: str, events: str | None, line: int, at: str,
                                                           message: str) -> None:
    found = check(body, events) if events else check(body)
    written = (("tests:\n  - name: t\n    contact: {email: a@b.test}\n    events:\n" + (events or f"      - {EVENT}\n")
                + body).splitlines())[line - 1]
    assert [(severity, found_line, column) for severity, found_line, column, _ in found] == [
        ("error", line, written.index(at) + 1)], found
    assert found[0][3].startswith(message), found


def test_an_event_of_a_type_nothing_uses_is_a_warning(check) -> None:
    found = check("", f"      - {EVENT}\n      - {{type: chekout.started, after: 1h}}\n"
                      "      - {type: order.completed, after: 2h}\n")
    assert found == [("warning", 6, 16, "no rule listens to 'chekout.started' and the engine does not use it "
                                        "(did you mean 'checkout.started'?): this event changes little in the test")]
