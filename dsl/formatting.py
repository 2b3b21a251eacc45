"""`relance fmt`: one indentation and quoting style for rules files, comments kept.

A value keeps its meaning for every reader: numbers are written as they were (`+50`), and
strings stay quoted where a YAML 1.1 tool would read them as something else (`"yes"`,
`"on"`, `"10:00"`, which such tools read as true and 600). Full-line comments move with
the lines they sit among.
"""
from __future__ import annotations

import io
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.constructor import RoundTripConstructor
from ruamel.yaml.emitter import Emitter
from ruamel.yaml.error import MarkedYAMLError
from ruamel.yaml.nodes import ScalarNode
from ruamel.yaml.representer import RoundTripRepresenter
from ruamel.yaml.resolver import VersionedResolver
from ruamel.yaml.scalarint import ScalarInt

from .errors import Problem
from .loader import yaml_problem
from .source import SourceFile
from .tabs import tab_problems

STR = "tag:yaml.org,2002:str"
_YAML_1_1 = VersionedResolver(version=(1, 1))


class _SignedInt(ScalarInt):
    """An integer written with its sign, `+50`: written back so."""


class _Constructor(RoundTripConstructor):
    def construct_yaml_int(self, node: Any) -> Any:
        value = super().construct_yaml_int(node)
        return _SignedInt(value) if str(node.value).startswith("+") and type(value) is int else value


_Constructor.add_constructor("tag:yaml.org,2002:int", _Constructor.construct_yaml_int)


class _Representer(RoundTripRepresenter):
    def represent_signed_int(self, data: _SignedInt) -> ScalarNode:
        return self.represent_scalar("tag:yaml.org,2002:int", f"+{int(data)}")


_Representer.add_representer(_SignedInt, _Representer.represent_signed_int)


class _BothVersionsResolver(VersionedResolver):
    """Resolves plain text as YAML 1.2 does, unless YAML 1.1 would read it as no string: then a
    string written so must keep its quotes."""

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        tag = super().resolve(kind, value, implicit)
        if kind is ScalarNode and implicit[0] and str(tag) == STR:
            older = _YAML_1_1.resolve(kind, value, implicit)
            if str(older) != STR:
                return older
        return tag


class _DoubleQuotingEmitter(Emitter):
    """Plain scalars where YAML allows them, double quotes where it does not (never single)."""

    def choose_scalar_style(self) -> str | None:
        style = super().choose_scalar_style()
        return '"' if style == "'" else style


def _reader() -> YAML:
    yaml = YAML(typ="rt")
    yaml.Constructor = _Constructor
    return yaml


def _writer() -> YAML:
    yaml = YAML(typ="rt")
    yaml.Representer = _Representer
    yaml.Resolver = _BothVersionsResolver
    yaml.Emitter = _DoubleQuotingEmitter
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.width = 4096  # never fold a step onto two lines
    return yaml


def format_text(text: str, path: str = "<text>") -> tuple[str | None, list[Problem]]:
    """The formatted text, or None and the problems if it does not parse as YAML."""
    file = SourceFile(path, tuple(text.splitlines()))
    problems = tab_problems(file)
    if problems:
        return None, problems
    try:
        data = _reader().load(text)
    except MarkedYAMLError as error:
        return None, [yaml_problem(error, file)]
    out = io.StringIO()
    _writer().dump(data, out)
    return _indent_comments(text, out.getvalue()), []


def _indent_comments(original: str, formatted: str) -> str:
    """Full-line comments indented for the lines they sat among (ruamel writes them at their old column).

    Each comment goes with the code line after it when it was written at that line's
    column, else with the nearest line before it at its column or less: the block it
    closes, or (deeper than that line) the block that line opens. Where a line of code went
    is known by reading both texts' YAML events, which come in the same order.
    """
    moved = _moved_lines(original, formatted)
    old_lines, new_lines = original.split("\n"), formatted.split("\n")
    old_comments, new_comments = _comment_lines(original), _comment_lines(formatted)
    if moved is None or len(old_comments) != len(new_comments):
        return formatted
    code = sorted(moved)
    for old, new in zip(old_comments, new_comments):
        column = _indent(old_lines[old])
        before = next((i for i in reversed(code) if i < old and _indent(old_lines[i]) <= column), None)
        after = next((i for i in code if i > old), None)
        if after is not None and (_indent(old_lines[after]) == column or before is None):
            wanted = _indent(new_lines[moved[after]])
        elif before is None:
            wanted = 0
        elif _indent(old_lines[before]) == column or after is None:
            wanted = min(_indent(new_lines[moved[before]]), column) if after is None \
                else _indent(new_lines[moved[before]])
        elif _indent(old_lines[after]) > _indent(old_lines[before]):
            wanted = _indent(new_lines[moved[after]])
        else:
            wanted = _indent(new_lines[moved[before]]) + 2
        new_lines[new] = " " * wanted + new_lines[new].lstrip(" ")
    return "\n".join(new_lines)


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _moved_lines(original: str, formatted: str) -> dict[int, int] | None:
    """Where each line of code of `original` is in `formatted` (0-based), by their YAML events."""
    old, new = _events(original), _events(formatted)
    if len(old) != len(new):
        return None
    moved: dict[int, int] = {}
    for (old_line, _), (new_line, _) in zip(old, new):
        moved.setdefault(old_line, new_line)
    return moved


def _events(text: str) -> list[tuple[int, int]]:
    return [(event.start_mark.line, event.end_mark.line) for event in YAML(typ="rt").parse(io.StringIO(text))
            if event.start_mark is not None]


def _comment_lines(text: str) -> list[int]:
    """0-based numbers of full-line comments: `#` first on a line that does not continue a scalar."""
    inside = {line for start, end in _events(text) if end > start for line in range(start + 1, end + 1)}
    return [number for number, line in enumerate(text.split("\n"))
            if line.lstrip().startswith("#") and number not in inside]
