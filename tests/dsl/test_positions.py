"""Every problem points at the character the user wrote, whatever the YAML scalar style."""
from __future__ import annotations

import pytest

from relance.dsl.loader import yaml_reader
from relance.dsl.positions import scalar_positions

HEADER = """\
channels: {email: {plugin: log}}
templates:
  rappel:
    email: {subject: "Hi", body: "Bonjour"}
rules:
  - id: panier
    when: checkout.started
    steps:
      - wait 1d
"""
FIRST_STEP_LINE = 10


def problem_at(compile_text, text: str) -> tuple[int, int, str, str]:
    """(line, column, message, the source line from that column) of the one problem in `text`."""
    _, problems = compile_text(text)
    assert len(problems) == 1, [str(p) for p in problems]
    [problem] = problems
    written = text.splitlines()[problem.line - 1]
    assert problem.source_line == written
    return problem.line, problem.column, problem.message, written[problem.column - 1:]


# Each step is written in one YAML style; the unknown name `contcat` comes after line breaks,
# escapes or folds that change the text between the file and the value.
STEPS = {
    "plain": "- set x = 1, y = contcat.email",
    "plain on two lines": "- set x = 1,\n        y = contcat.email",
    "plain on three lines, a blank between": "- set x = 1,\n\n        y = 2,\n        z = contcat.email",
    "single-quoted": "- 'set x = 1, y = contcat.email'",
    "single-quoted with '' escapes": "- 'set x = \"l''''a\", y = contcat.email'",
    "single-quoted on two lines": "- 'set x = \"l''a\",\n        y = contcat.email'",
    "double-quoted": '- "set x = 1, y = contcat.email"',
    "double-quoted with \\\" and \\u00e9": '- "set x = \\"\\u00e9t\\u00e9\\", y = contcat.email"',
    "double-quoted with \\x and \\U escapes": '- "set x = \\"\\xe9\\U0001F600\\", y = contcat.email"',
    "double-quoted on two lines": '- "set x = \\"\\u00e9\\",\n        y = contcat.email"',
    "double-quoted with an escaped line break": '- "set x = 1, \\\n        y = contcat.email"',
    "literal |": "- |\n        set x = 1,\n          y = contcat.email",
    "literal |- with a comment": "- |-  # two lines\n        set x = 1,\n        y = contcat.email",
    "folded >": "- >\n        set x = 1,\n        y = contcat.email",
    "folded >-": "- >-\n        set x = 1,\n\n        y = contcat.email",
    "an anchor before a plain scalar": "- &step set x = 1, y = contcat.email",
    "block key, plain": "- if contact.vip and contcat.email:\n          - stop",
    "block key, double-quoted": '- "if \\"\\u00e9\\" in contcat.tags":\n          - stop',
}


@pytest.mark.parametrize("step", STEPS.values(), ids=STEPS.keys())
def test_a_problem_points_at_its_character_in_every_style(compile_text, step: str) -> None:
    text = HEADER + "".join(f"      {line}\n" if i == 0 else f"{line}\n" for i, line in enumerate(step.split("\n")))
    line, column, message, at = problem_at(compile_text, text)
    assert message.startswith("unknown name 'contcat' (did you mean 'contact'?)")
    assert at.startswith("contcat.")
    assert line == FIRST_STEP_LINE + step.split("\n").index(next(s for s in step.split("\n") if "contcat" in s))


def test_a_step_in_a_flow_sequence(compile_text) -> None:
    text = HEADER.replace("    steps:\n      - wait 1d\n", '    steps: [wait 1d, "set x = \\"\\u00e9\\", y = contcat.email"]\n')
    line, column, message, at = problem_at(compile_text, text)
    assert (line, at[:8]) == (8, "contcat.")


@pytest.mark.parametrize("step, last_line", [
    ("- set x = 1,\n        y = 2 +", 2),
    ("- >-\n        set x = 1,\n        y = 2 +", 3),
    ('- "set x = \\"\\u00e9\\" +"', 1),
])
def test_the_end_of_the_text_is_just_past_its_last_character(compile_text, step: str, last_line: int) -> None:
    lines = step.split("\n")
    text = HEADER + f"      {lines[0]}\n" + "".join(f"{line}\n" for line in lines[1:])
    line, column, message, at = problem_at(compile_text, text)
    assert message.startswith("unexpected end of text")
    assert line == FIRST_STEP_LINE + last_line - 1
    written = text.splitlines()[line - 1]
    assert column == len(written.rstrip('"')) + 1


def test_template_placeholders_in_a_folded_body(compile_text) -> None:
    text = HEADER.replace('body: "Bonjour"}', 'body: x}\n    sms: >-\n      Bonjour,\n      votre code {{ parms.code }}')
    line, column, message, at = problem_at(compile_text, text)
    assert message.startswith("unknown name 'parms' (did you mean 'params'?)")
    assert (line, at[:5]) == (7, "parms")


def test_every_character_of_a_value_has_its_position() -> None:
    """The positions of a double-quoted multi-line value, character by character."""
    text = 'k: "a\\tb\n   c\\u00e9  \n\n   d"\n'
    value = yaml_reader().load(text)["k"]
    assert value == "a\tb c\u00e9\nd"
    assert scalar_positions(text.splitlines(), 1, 4, value) == (
        (1, 5), (1, 6), (1, 8), (1, 9), (2, 4), (2, 5), (2, 11), (4, 4), (4, 5))


def test_a_tab_in_indentation_is_one_problem_and_the_rest_is_still_checked(compile_text) -> None:
    text = HEADER + "      - send emial rappel\n  - id: other\n    when: a.b\n\tsteps:\n      - wait 3 dayz\n"
    _, problems = compile_text(text)
    assert [(p.line, p.column, p.message.split(" (")[0].split(";")[0]) for p in problems] == [
        (10, 14, "unknown channel 'emial'"),
        (13, 1, "tab in indentation"),
        (14, 14, "bad duration '3 dayz'"),
    ]


def test_positions_on_a_line_indented_with_a_tab_count_the_tab_as_written(compile_text) -> None:
    text = HEADER + "\t    - send emial rappel\n"
    _, problems = compile_text(text)
    assert [(p.line, p.column) for p in problems] == [(10, 1), (10, 13)]
    assert problems[1].source_line[problems[1].column - 1:].startswith("emial")


def test_tabs_in_one_file_do_not_make_problems_in_the_others(write, functions, tmp_path) -> None:
    from relance.dsl import check_workspace

    write("channels: {email: {plugin: log}}\ntemplates:\n\trappel:\n\t\temail: {subject: s, body: b}\n",
          "shop/base.yaml")
    write("rules:\n  - id: r\n    when: a.b\n    steps: [send email rappel]\n", "shop/rules.yaml")
    _, problems = check_workspace([tmp_path / "shop"], functions)
    assert [(p.path.rsplit("/", 1)[-1], p.line, p.column) for p in problems] == [("base.yaml", 3, 1), ("base.yaml", 4, 1)]
