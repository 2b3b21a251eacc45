"""Loading YAML (dsl/loader.py): aliases are expanded under a budget, nesting is bounded, refusals name line:col."""
from __future__ import annotations

import time

import pytest

HEAD = """\
workspace: bomb
channels: {chat: {plugin: log}}
templates: {t: {chat: "hi"}}
rules:
"""


def alias_bomb(levels: int, width: int = 10) -> str:
    """Each rule's steps are `width` if-blocks holding the previous rule's steps: width**levels steps
    from a file of a few hundred bytes a level."""
    rules = [f"  - id: r0\n    when: a.b\n    steps: &a0 [{', '.join(['send chat t'] * width)}]\n"]
    for level in range(1, levels + 1):
        steps = ", ".join([f"if contact.x: *a{level - 1}"] * width)
        rules.append(f"  - id: r{level}\n    when: a.b\n    steps: &a{level} [{steps}]\n")
    return HEAD + "".join(rules)


@pytest.mark.parametrize("levels, width", [(4, 10), (3, 20), (6, 5), (8, 3)])
def test_an_alias_bomb_is_refused_at_the_alias_that_passes_the_budget(compile_text, levels, width) -> None:
    text = alias_bomb(levels, width)
    started = time.monotonic()
    workspace, [problem] = compile_text(text)
    assert time.monotonic() - started < 0.5 and workspace is None
    assert problem.message.startswith("aliases expand this file by more than 5,000 nodes (*a")
    line = text.splitlines()[problem.line - 1]
    anchor = problem.message.split("(*")[1].split(" ")[0]
    assert line[problem.column - 1:].startswith(f"*{anchor}")  # the caret is on the alias


def test_aliases_within_the_budget_are_read_as_written(compile_text) -> None:
    text = HEAD + ("  - id: r0\n    when: a.b\n    steps: &shared [tag vu, send chat t]\n"
                   "  - id: r1\n    when: c.d\n    steps: *shared\n")
    workspace, problems = compile_text(text)
    assert problems == [] and workspace is not None
    assert sorted(n.origin.text for n in workspace.rules["r1"].nodes.values()) == ["send chat t", "tag vu"]
    workspace, problems = compile_text(alias_bomb(2))  # 100 steps from aliases: fine
    assert problems == [] and workspace is not None


def test_an_alias_inside_the_node_it_names_is_refused(compile_text) -> None:
    workspace, [problem] = compile_text(HEAD + "  - id: r\n    when: a.b\n    steps: &loop [tag a, if x: *loop]\n")
    assert (problem.line, problem.column) == (7, 32)  # at *loop
    assert problem.message == "the alias *loop is inside the node it names: it would repeat for ever"


@pytest.mark.parametrize("nesting", ["[" * 1000, "{a: " * 1000, "\n      " + "- " * 300 + "x"],
                         ids=["flow-sequences", "flow-mappings", "block-sequences"])
def test_yaml_nested_too_deep_is_a_problem_not_a_crash(compile_text, nesting) -> None:
    workspace, [problem] = compile_text(HEAD + f"  - id: r\n    when: a.b\n    steps: {nesting}\n")
    assert workspace is None and problem.message == "YAML nested more than 200 levels deep"
