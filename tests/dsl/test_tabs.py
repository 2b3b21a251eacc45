"""Tabs in indentation (dsl/tabs.py): each is a problem, and the file is still read."""
from __future__ import annotations

from ruamel.yaml import YAML

from relance.dsl.source import SourceFile
from relance.dsl.tabs import tab_problems, without_tabs


def load(text: str):
    return YAML(typ="rt").load(text)


def test_each_tab_in_indentation_is_a_problem_at_its_column() -> None:
    file = SourceFile("rules.yaml", ("rules:", "  \t- id: r", "\twhen: a.b", "    steps: [x\t]"))
    problems = tab_problems(file)
    assert [(p.line, p.column, p.message) for p in problems] == [
        (2, 3, "tab in indentation; YAML indents with spaces"),
        (3, 1, "tab in indentation; YAML indents with spaces"),
    ]


def test_no_tabs_no_problem() -> None:
    assert tab_problems(SourceFile("rules.yaml", ("rules:", "  - id: r", "    when: 'a\tb'"))) == []


def test_the_width_that_lines_a_tab_up_with_its_neighbours_is_tried_first() -> None:
    lines = ("rules:", "  - id: r", "\t  when: a.b", "    steps: [stop]")
    file, data = without_tabs(SourceFile("rules.yaml", lines), load)
    assert file.tab_width == 2
    assert file.lines[2] == "    when: a.b" and file.written == lines
    assert data["rules"][0]["when"] == "a.b"


def test_the_file_read_counts_columns_as_written() -> None:
    lines = ("rules:", "  - id: r", "\t  when: a.b")
    file, _ = without_tabs(SourceFile("rules.yaml", lines), load)
    assert file.problem(3, 11, "x").column == 10  # `a.b` is at column 10 of the line as written


def test_no_width_that_loads_gives_none() -> None:
    lines = ("a:", "\t- [", "\t  b")
    assert without_tabs(SourceFile("rules.yaml", lines), load) is None
