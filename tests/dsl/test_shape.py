"""A rules file's shape checked from the schema: each problem's message, line and column."""
from __future__ import annotations

import pytest

from relance.dsl.loader import load_document
from relance.dsl.shape import shape_problems


@pytest.fixture
def shape(write):
    def check(text: str) -> list[tuple[int, int, str]]:
        document, _ = load_document(write(text))
        return [(p.line, p.column, p.message) for p in shape_problems(document.data, document.file)]
    return check


def test_a_well_shaped_file_has_no_problem(shape) -> None:
    assert shape("""
        workspace: demo
        channels: {email: {plugin: smtp, host: mail.test}}
        policy: {frequency: {email: {max: 2, per: 1d}}, offers: {window: 7d}}
        templates: {t: {email: {subject: s, body: b}, sms: "b"}}
        rules:
          - id: r
            when: a.b
            steps: [stop, {if contact.vip: [stop]}]
        """) == []


def test_a_file_that_is_not_a_mapping(shape) -> None:
    assert shape("- a\n- b\n") == [(1, 1, "a rules file is a mapping of sections: workspace, channels, rules, …")]


@pytest.mark.parametrize("text, expected", [
    ("workspace: demo\nsegmnets: {}\n",
     (2, 1, "unknown section 'segmnets' (did you mean 'segments'?); sections are: workspace, timezone, locale, "
            "mode, channels, policy, templates, scoring, segments, fields, links, rules")),
    ("policy:\n  offer: {window: 7d}\n",
     (2, 3, "unknown policy 'offer' (did you mean 'offers'?); policies are: quiet_hours, frequency, offers, consent")),
    ("links: {host: [a.test]}\n", (1, 9, "unknown links setting 'host'; links takes: hosts")),
    ("templates:\n  t:\n    email: {subjet: s, body: b}\n",
     (3, 13, "unknown template key 'subjet' (did you mean 'subject'?); a template has a subject (email) and a body")),
])
def test_an_unknown_key_is_shown_at_its_line_and_column(shape, text: str, expected: tuple) -> None:
    assert shape(text) == [expected]


@pytest.mark.parametrize("text, expected", [
    ("workspace: [a, b]\n", (1, 12, "'workspace' takes a single value")),
    ("timezone:\n", (2, 1, "'timezone' takes a single value")),  # an empty value is where the next line starts
    ("channels: [email]\n", (1, 11, "'channels' is a mapping of names to values")),
    ("channels:\n  email: smtp\n", (2, 3, "channel 'email' needs settings with a plugin, for example {plugin: smtp, from: …}")),
    ("channels:\n  email: {host: x}\n", (2, 3, "channel 'email' needs settings with a plugin, for example {plugin: smtp, from: …}")),
    ("scoring:\n  order.completed: '5'\n", (2, 21, "points for 'order.completed' must be a whole number such as +5 or -10")),
    ("fields: skin_type\n", (1, 9, "'fields' lists contact fields: [skin_type, plan] or {skin_type: what it holds, …}")),
    ("links: {hosts: a.test}\n", (1, 16, 'hosts is a list such as [maison-demo.test, "*.maison-demo.test"]')),
    ("templates:\n  t: hello\n", (2, 3, "template 't' maps channels to messages, for example email: {subject: …, body: …}")),
    ("templates:\n  t: {email: [a]}\n", (2, 7, "a template is a body text, or {subject: …, body: …}")),
    ("templates:\n  t: {email: {subject: s}}\n", (2, 7, "template 't' for email has no body")),
    ("rules: {id: x}\n", (1, 8, "'rules' is a list of rules, each starting with '- id: …'")),
    ("rules:\n  - stop\n", (2, 5, "a rule is a mapping with id, when and steps")),
    ("rules:\n  - {id: x, when: a.b, steps: stop}\n", (2, 31, "'steps' is a list of steps, each '- …'")),
])
def test_a_value_of_the_wrong_shape_says_what_it_should_be(shape, text: str, expected: tuple) -> None:
    assert shape(text) == [expected]


def test_missing_rule_keys_name_the_rule_at_its_start(shape) -> None:
    assert shape("rules:\n  - id: x\n    name: X\n") == [(2, 5, "rule 'x' has no 'when'"), (2, 5, "rule 'x' has no 'steps'")]
    assert shape("rules:\n  - when: a.b\n    steps: [stop]\n") == [(2, 5, "this rule has no 'id'")]


def test_an_unknown_key_comes_before_the_keys_it_leaves_missing(shape) -> None:
    assert [message for _, _, message in shape("rules:\n  - idd: x\n    when: a.b\n    steps: [stop]\n")] == [
        "unknown rule key 'idd' (did you mean 'id'?); a rule has: id, name, description, when, if, goal, exit, "
        "entry, mode, priority, late, steps",
        "this rule has no 'id'",
    ]


@pytest.mark.parametrize("frequency", ["{max: 2}", "{max: 0, per: 1d, every: 2}", "{max: 2, per: 1d, evry: x}"])
def test_a_frequency_of_the_wrong_shape_is_one_problem_at_its_value(shape, frequency: str) -> None:
    assert shape(f"policy:\n  frequency: {frequency}\n") == [
        (2, 14, "frequency is {max: N, per: DURATION} with an optional over: defer|skip, for example {max: 2, per: 24h}")]


def test_frequencies_by_channel_are_each_checked(shape) -> None:
    assert shape("policy:\n  frequency:\n    email: {max: 0, per: 1d}\n    sms: 3\n") == [
        (3, 18, "frequency max is a whole number of messages, 1 or more"),
        (4, 10, "frequency is {max: N, per: DURATION} with an optional over: defer|skip, for example {max: 2, per: 24h}"),
    ]


def test_what_a_value_means_is_left_to_the_passes(shape) -> None:
    assert shape("""
        timezone: Mars/Olympus
        mode: sometimes
        policy: {consent: {email: maybe}, quiet_hours: {sms: "late"}, frequency: {max: 1, per: 1d, over: drop}}
        rules:
          - {id: "bad id", when: nonsense here, priority: urgent, steps: [{frobnicate: [stop]}, true]}
        """) == []
