"""The rules pass: rules gathered from each file, their headers compiled, ids unique, no start loops."""
from __future__ import annotations

from datetime import timedelta

import pytest

from relance.dsl import graph as g
from relance.dsl.rules import REQUIRED_RULE_KEYS, Rules, rule_version, start_loops
from relance.dsl.sections import Sections
from relance.dsl.template_parts import TemplateSources

from .conftest import found


@pytest.fixture
def compile_rules(context, yaml):
    """compile_rules(*files) → the rules compiled from each text's `rules:` (a file each)."""
    def run(*texts: str) -> dict[str, g.Rule]:
        rules, sections = Rules(context), Sections(context, None)
        for number, text in enumerate(texts):
            data, file = yaml(text, f"r{number}.yaml")
            for key in data:
                if key == "rules":
                    rules.add_section(data, key, file)
                else:
                    sections.read(data, key, file)
        return rules.compile(sections, TemplateSources(context))
    return run


def rule(lines: str) -> str:
    return f"rules:\n  - id: r\n    when: a.b\n    steps: [stop]\n{lines}"


def test_a_rule_and_its_header(compile_rules, context) -> None:
    rules = compile_rules("mode: assist\n" + rule("    name: R\n    entry: once\n    late: skip after 12h\n"
                                                  "    priority: high\n    if: contact.vip\n"))
    assert context.problems == []
    compiled = rules["r"]
    assert (compiled.name, compiled.mode, compiled.entry.kind, compiled.late_skip, compiled.priority) == (
        "R", "assist", "once", timedelta(hours=12), 10)
    assert compiled.condition_text == "contact.vip" and compiled.start == "r/steps/0"
    assert compiled.origin == g.Origin(compiled.origin.path, 3, 5, "r")


@pytest.mark.parametrize("lines, message", [
    ("    late: later\n", "late is 'skip after DURATION', for example 'skip after 12h', not 'later'"),
    ("    late: skip after 3dayz\n", "bad duration '3dayz' (did you mean '3d'?)"),
    ("    priority: hihg\n", "priority is high, normal (the default) or low, or a whole number from -100 to 100 "
                           "(higher goes first), not 'hihg' (did you mean 'high'?)"),
    ("    priority: 101\n", "priority is high, normal (the default) or low, or a whole number from -100 to 100 "
                          "(higher goes first), not '101'"),
    ("    mode: auto-ish\n", "unknown mode 'auto-ish' (did you mean 'auto'?); modes are: auto, assist, advise"),
])
def test_header_problems_leave_the_rule_out(compile_rules, context, lines: str, message: str) -> None:
    assert compile_rules(rule(lines)) == {}
    assert [m for _, _, m in found(context)] == [message]


def test_a_bad_rule_id(compile_rules, context) -> None:
    compile_rules("rules:\n  - {id: 'bad id', when: a.b, steps: [stop]}\n")
    assert [m for _, _, m in found(context)] == ["bad rule id 'bad id'; use letters, digits, '-' and '_'"]


def test_rule_ids_are_unique_across_files(compile_rules, context) -> None:
    rules = compile_rules(rule(""), rule("    name: again\n"))
    assert list(rules) == ["r"] and rules["r"].name == "r"
    [(line, column, message)] = found(context)
    assert (line, column) == (2, 9) and message.startswith("duplicate rule id 'r' (first at ")


def test_a_rule_may_start_a_rule_of_another_file(compile_rules, context) -> None:
    rules = compile_rules("rules:\n  - {id: a, when: a.b, steps: [start b]}\n", "rules:\n  - {id: b, when: c.d, steps: [stop]}\n")
    assert set(rules) == {"a", "b"} and context.problems == []


def test_start_loops_are_refused(compile_rules, context) -> None:
    compile_rules("rules:\n  - {id: a, when: a.b, steps: [start b]}\n  - {id: b, when: c.d, steps: [start a]}\n"
                  "  - {id: c, when: e.f, steps: [start c]}\n")
    assert [m for _, _, m in found(context)] == ["'start b' makes a loop: a → b → a", "'start a' makes a loop: b → a → b",
                                                 "'start c' makes a loop: c → c"]


def test_start_loops_of_rules_without_starts() -> None:
    assert start_loops({}) == []


def test_the_version_changes_with_the_rule_s_text(yaml) -> None:
    data, _ = yaml(rule("") + rule("    name: other\n").replace("rules:\n", ""))
    first, second = data["rules"]
    assert rule_version(first) != rule_version(second)
    assert rule_version(first) == rule_version(yaml(rule(""), "again.yaml")[0]["rules"][0])
    assert len(rule_version(first)) == 12


def test_required_keys_come_from_the_schema() -> None:
    assert REQUIRED_RULE_KEYS == ("id", "when", "steps")
