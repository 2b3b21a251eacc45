"""What the passes share: parsing with problems at their place, expressions checked and compiled, durations."""
from __future__ import annotations

from datetime import timedelta

import pytest
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from relance.dsl import Scope
from relance.dsl.checks import CONTACT_ROOTS
from relance.dsl.compile_context import inside, plain
from relance.dsl.source import Located, SourceFile

from .conftest import found

FILE = SourceFile("rules.yaml", ("when: a.b", "if: contact.score > 10 and evnt.x", "late: 3 dayz"))


def text(line: int) -> Located:
    raw = FILE.lines[line - 1]
    start = raw.index(": ") + 2
    return Located(raw[start:], FILE, line, start + 1)


def test_a_text_that_does_not_parse_is_a_problem_at_its_place(context) -> None:
    assert context.parse(Located("contact.score >", FILE, 2, 5), "expression") is None
    [(line, column, _)] = found(context)
    assert (line, column) == (2, 20)


def test_an_expression_is_checked_against_its_roots(context) -> None:
    expr, compiled = context.expression(text(2), CONTACT_ROOTS, "a segment condition")
    assert expr is not None and compiled is None
    [(line, column, message)] = found(context)
    assert (line, column) == (2, 28)
    assert message.startswith("unknown name 'evnt'")


def test_a_good_expression_compiles_and_notes_its_contact_fields(context) -> None:
    _, compiled = context.expression(Located("contact.score > 10", FILE, 2, 5), CONTACT_ROOTS, "a condition")
    assert compiled(Scope(contact={"score": 11})) is True
    assert [use.name for use in context.field_uses] == ["score"]
    assert context.problems == []


def test_positions_inside_a_placeholder_count_from_where_it_starts(context) -> None:
    expr = context.parse(Located("contact.x or evnt.y", FILE, 1, 1), "expression")
    context.compiled(expr, Located("Hello {{ contact.x or evnt.y }}", FILE, 1, 1), CONTACT_ROOTS, "a template", (1, 10))
    [(line, column, _)] = found(context)
    assert (line, column) == (1, 23)


@pytest.mark.parametrize("at, position, expected", [
    ((1, 1), (1, 1), (1, 1)),
    ((3, 10), (1, 5), (3, 14)),
    ((3, 10), (2, 5), (4, 5)),
])
def test_inside(at, position, expected) -> None:
    assert inside(at, position) == expected


def test_durations(context) -> None:
    assert context.duration(Located("36h", FILE, 3, 7)) == timedelta(hours=36)
    assert context.duration(text(3)) is None
    assert found(context) == [(3, 7, "bad duration '3 dayz' (did you mean '3d'?)")]


def test_plain_turns_ruamel_containers_into_python_values() -> None:
    data = CommentedMap({"a": CommentedSeq([1, CommentedMap({2: "x"})])})
    value = plain(data)
    assert value == {"a": [1, {"2": "x"}]}
    assert type(value) is dict and type(value["a"]) is list
