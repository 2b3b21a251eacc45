"""The forward pass over steps: statements and blocks parsed and checked against the workspace, in order."""
from __future__ import annotations

import pytest

from relance.dsl import syntax as s
from relance.dsl.source import SourceFile
from relance.dsl.steps import IfStep, SplitStep, StatementStep, StepChecker, defines_waited
from relance.dsl.template_parts import TemplateSources

from .conftest import found


@pytest.fixture
def check(context, yaml):
    """check(steps_yaml) → the steps as the forward pass gives them; problems go to `context`."""
    templates = TemplateSources(context)
    data, file = yaml("templates:\n  promo: {email: {subject: s, body: b}, sms: b}\n  solo: {email: {subject: s, body: b}}\n")
    templates.add_section(data["templates"], file)

    def run(steps: str) -> list:
        data, file = yaml(f"steps:\n{steps}")
        checker = StepChecker(context, file, {"email": None, "sms": None}, templates, {"bienvenue": None})
        return checker.steps(data["steps"])
    return run


def test_statements_in_order(check, context) -> None:
    steps = check("  - send email promo\n  - wait 1d\n  - tag vip\n  - start bienvenue\n")
    assert [type(step.statement) for step in steps] == [s.Send, s.Wait, s.Tag, s.Start]
    assert all(isinstance(step, StatementStep) for step in steps) and context.problems == []
    assert (steps[0].located.line, steps[0].located.column) == (2, 5)


@pytest.mark.parametrize("step, column, message", [
    ("send emial promo", 10, "unknown channel 'emial' (did you mean 'email'?); declared channels: email, sms"),
    ("send sms promoo", 14, "unknown template 'promoo' (did you mean 'promo'?)"),
    ("start bienvenu", 11, "unknown rule 'bienvenu' (did you mean 'bienvenue'?)"),
    ("send sms solo", 14, "template 'solo' has no sms version (it has: email)"),
    ("send email promo with n = waited", 31, "'waited' is only set after a 'wait until EVENT … within …' step"),
    ("set plan = evnt.plan", 16, "unknown name 'evnt' (did you mean 'event'?); in a step a name starts with contact, "
                                 "event, now, waited"),
])
def test_statement_problems(check, context, step: str, column: int, message: str) -> None:
    check(f"  - {step}\n")
    assert found(context) == [(2, column, message)]


def test_fields_set_are_noted(check, context) -> None:
    check("  - set plan = 'pro', score_max = contact.score\n")
    assert context.fields_set == {"plan", "score_max"}
    assert [use.name for use in context.field_uses] == ["score"]


def test_waited_is_known_after_a_wait_until_on_every_path(check, context) -> None:
    check("""\
  - wait until order.completed within 2d
  - if waited:
      - tag big
""")
    assert context.problems == []


def test_a_step_after_stop_can_never_run(check, context) -> None:
    check("  - stop\n  - tag lost\n  - tag gone\n")
    assert found(context) == [(3, 5, "this step can never run: it comes after 'stop'")]


def test_an_if_block_with_its_branches(check, context) -> None:
    [step] = check("""\
  - if contact.score > 100:
      - tag hot
    elif contact.score > 10:
      - tag warm
    else:
      - tag cold
""")
    assert isinstance(step, IfStep)
    assert [head.kind for head, _, _ in step.branches] == ["if", "elif"]
    assert [type(body[0].statement) for _, _, body in step.branches] == [s.Tag, s.Tag]
    assert step.otherwise is not None and step.otherwise[0].statement.name == "cold"


@pytest.mark.parametrize("block, message", [
    ("  - else:\n      - stop\n", "'else' must follow an 'if' in the same block"),
    ("  - if contact.vip:\n      - stop\n    else:\n      - stop\n    elif contact.x:\n      - stop\n",
     "'else' must come last in its block"),
    ("  - if contact.vip: stop\n", "'if contact.vip' is followed by a list of steps"),
    ("  - split:\n      a 50%: [stop]\n      b 40%: [stop]\n", "split weights add up to 90%, not 100%"),
    ("  - split: [stop]\n", "a split lists its variants with their weights, for example 'a 50%:', 'b 40%:', "
                            "'control 10%:'"),
    ("  - true\n", "a step is a statement such as 'wait 1d', or a block such as 'if …:'"),
])
def test_block_problems(check, context, block: str, message: str) -> None:
    check(block)
    assert [m for _, _, m in found(context)] == [message]


def test_a_split_with_its_variants(check, context) -> None:
    [step] = check("  - split:\n      a 50%: [tag a]\n      control 50%:\n")
    assert isinstance(step, SplitStep)
    assert [(variant.name, variant.weight, len(body)) for variant, body in step.variants] == [("a", 50, 1),
                                                                                             ("control", 50, 0)]


@pytest.mark.parametrize("steps, waited", [
    ("  - wait until a.b within 1d\n", True),
    ("  - wait 1d\n", False),
    ("  - if contact.x:\n      - wait until a.b within 1d\n", False),
    ("  - if contact.x:\n      - wait until a.b within 1d\n    else:\n      - wait until c.d within 1d\n", True),
    ("  - split:\n      a 50%: [wait until a.b within 1d]\n      b 50%: [stop]\n", False),
    ("  - split:\n      a 50%: [wait until a.b within 1d]\n      b 50%: [wait until a.b within 2d]\n", True),
])
def test_defines_waited(check, steps: str, waited: bool) -> None:
    [step] = check(steps)
    assert defines_waited(step) is waited


def test_file_positions(check) -> None:
    [step] = check("  - tag vip\n")
    assert isinstance(step.located.file, SourceFile) and step.located.text == "tag vip"
