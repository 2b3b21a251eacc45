"""Contact fields nobody sets are warned about, with "did you mean"; declared or set ones are not."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from relance.dsl import check_workspace
from relance.engine.profiles import CONTACT_FIELDS

WORKSPACE = """\
channels: {email: {plugin: log}}
templates:
  t: {email: {subject: "Bonjour {{ contact.first_name }}", body: "Votre niveau : {{ contact.niveau }}"}}
segments:
  fideles: contact.orders_count > 3 and contact.niveau == "or"
rules:
  - id: r
    when: a.b
    if: contact.email
    steps:
      - set niveau = "or"
      - send email t
"""


@pytest.fixture
def check(write: Callable[..., Path], functions) -> Callable[..., list]:
    def run(text: str, fields=CONTACT_FIELDS) -> list:
        workspace, problems = check_workspace([write(text)], functions, None, fields)
        assert workspace is not None and all(not p.is_error for p in problems), [str(p) for p in problems]
        return problems
    return run


def test_fields_set_by_a_rule_or_provided_are_known(check) -> None:
    assert check(WORKSPACE) == []


@pytest.mark.parametrize("where, text", [
    ("a rule condition", "    if: contact.email\n"),
    ("a segment", "  fideles: contact.orders_count > 3"),
    ("a template", "{{ contact.first_name }}"),
    ("a step", '      - set niveau = "or"\n'),
])
def test_a_misspelt_field_is_a_warning_pointing_at_it(check, where: str, text: str) -> None:
    misspelt = {"a rule condition": text.replace("email", "emial"), "a segment": text.replace("orders", "order"),
                "a template": text.replace("first_name", "firstname"),
                "a step": text + '      - send email t with n = contact.nivaeu\n'}[where]
    [warning] = check(WORKSPACE.replace(text, misspelt))
    field = {"a rule condition": "emial", "a segment": "order_count", "a template": "firstname",
             "a step": "nivaeu"}[where]
    suggestion = {"emial": "email", "order_count": "orders_count", "firstname": "first_name", "nivaeu": "niveau"}[field]
    assert warning.severity == "warning"
    assert warning.message.startswith(f"unknown contact field '{field}' (did you mean '{suggestion}'?): no rule sets "
                                      "it, no event or built-in provides it; declare it under 'fields:'")
    assert warning.source_line[warning.column - 1:].startswith(field)
    assert str(warning).split("\n")[0].endswith(warning.message) and ": warning: unknown contact field" in str(warning)


@pytest.mark.parametrize("rule", [
    "    goal: if contact.scroe > 10\n    steps: [stop]\n",
    "    exit: order.completed where contact.scroe > 10\n    steps: [stop]\n",
    "    steps:\n      - if contact.scroe > 10:\n          - stop\n",
    "    steps:\n      - wait until a.c where contact.scroe > 10 within 1d\n",
])
def test_goals_exits_blocks_and_waits_are_checked(check, rule: str) -> None:
    [warning] = check(f"rules:\n  - id: r\n    when: a.b\n{rule}")
    assert warning.message.startswith("unknown contact field 'scroe' (did you mean 'score'?)")
    assert warning.source_line[warning.column - 1:].startswith("scroe")


def test_date_triggers_are_checked(check) -> None:
    [warning] = check("rules:\n  - id: r\n    when: 3d before contact.next_paiment_at\n    steps: [stop]\n")
    assert (warning.line, warning.column) == (3, 29)
    assert warning.message.startswith("unknown contact field 'next_paiment_at'")


@pytest.mark.parametrize("fields", ["fields: [skin_type, next_payment_at]\n",
                                    "fields:\n  skin_type: from the quiz\n  next_payment_at: the next instalment\n"])
def test_declared_fields_are_known(check, fields: str) -> None:
    text = fields + ("rules:\n  - id: r\n    when: 3d before contact.next_payment_at\n    if: contact.skin_type\n"
                     "    steps: [stop]\n")
    assert check(text) == []
    assert [w.message.split(" (")[0] for w in check(text.replace(fields, ""))] == [
        "unknown contact field 'next_payment_at': no rule sets it, no event or built-in provides it; declare it "
        "under 'fields:' if your events bring it",
        "unknown contact field 'skin_type': no rule sets it, no event or built-in provides it; declare it under "
        "'fields:' if your events bring it"]


def test_a_field_set_in_another_file_is_known(write, functions, tmp_path) -> None:
    write("rules:\n  - id: a\n    when: a.b\n    steps: [set palier = 2]\n", "shop/a.yaml")
    write("rules:\n  - id: b\n    when: c.d\n    if: contact.palier > 1\n    steps: [stop]\n", "shop/b.yaml")
    assert check_workspace([tmp_path / "shop"], functions, None, CONTACT_FIELDS)[1] == []


@pytest.mark.parametrize("fields, message", [
    ("fields: skin_type\n", "'fields' lists contact fields: [skin_type, plan] or {skin_type: what it holds, …}"),
    ("fields: [skin-type]\n", "bad field name 'skin-type'; use letters, digits and '_'"),
    ("fields: [a, a]\n", "field 'a' is declared twice (first at"),
])
def test_bad_field_declarations_are_errors(compile_text, fields: str, message: str) -> None:
    workspace, problems = compile_text(fields)
    assert workspace is None and problems[0].message.startswith(message)


def test_without_the_provided_fields_nothing_is_checked(check) -> None:
    assert check("rules:\n  - id: r\n    when: a.b\n    if: contact.scroe\n    steps: [stop]\n", fields=None) == []
