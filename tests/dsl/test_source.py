"""Where rule text came from (dsl/source.py): a position inside a string maps to its file's line and column."""
from __future__ import annotations

from relance.dsl.source import Located, SourceFile

FILE = SourceFile("rules.yaml", ("rules:", "  - when: a.b where x", "    steps:\n"))


def test_line_text_is_the_line_without_its_end_and_empty_outside_the_file() -> None:
    assert FILE.line_text(3) == "    steps:"
    assert FILE.line_text(0) == "" and FILE.line_text(4) == ""


def test_a_problem_carries_the_line_it_is_on() -> None:
    problem = FILE.problem(2, 10, "bad", "warning")
    assert (problem.path, problem.line, problem.column, problem.source_line, problem.severity) == (
        "rules.yaml", 2, 10, "  - when: a.b where x", "warning")


def test_a_position_on_the_first_line_counts_from_the_strings_column() -> None:
    text = Located("a.b where x", FILE, 2, 11)
    assert text.position(1, 1) == (2, 11)
    assert text.position(1, 11) == (2, 21)
    problem = text.problem("unknown name 'x'", 1, 11)
    assert (problem.line, problem.column, problem.message) == (2, 21, "unknown name 'x'")


def test_later_lines_of_a_plain_string_start_after_its_indent() -> None:
    text = Located("a\nand b", FILE, 2, 11, indent=4)
    assert text.position(2, 5) == (3, 9)


def test_a_yaml_node_maps_each_character_through_quotes_and_escapes() -> None:
    lines = ('when: "a\\tb where x"',)
    file = SourceFile("rules.yaml", lines)
    text = Located("a\tb where x", file, 1, 8, node=(1, 7))
    assert text.position(1, 1) == (1, 8)
    assert text.position(1, 3) == (1, 11)  # the escape `\t` takes two characters in the file


def test_columns_count_as_written_when_tabs_were_expanded() -> None:
    written = ("rules:", "\t- id: r")
    expanded = SourceFile("rules.yaml", ("rules:", "  - id: r"), written, tab_width=2)
    problem = expanded.problem(2, 5, "bad id")
    assert (problem.column, problem.source_line) == (4, "\t- id: r")
    assert expanded.problem(2, 1, "in the indent").column == 1
