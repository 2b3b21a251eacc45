"""Tabs in indentation: YAML forbids them; each is a problem, and the file is still read."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ruamel.yaml.error import MarkedYAMLError

from .errors import Problem
from .source import SourceFile


def tab_problems(file: SourceFile) -> list[Problem]:
    """Tabs in indentation, which YAML forbids, each at its line and column."""
    problems = []
    for number, line in enumerate(file.lines, start=1):
        indent = _indent(line)
        if "\t" in indent:
            problems.append(file.problem(number, indent.index("\t") + 1,
                                         "tab in indentation; YAML indents with spaces"))
    return problems


def without_tabs(file: SourceFile, load: Callable[[str], Any]) -> tuple[SourceFile, Any] | None:
    """The file read with the tabs of its indentation expanded, so its other problems can be found.

    The width tried first lines the first tabbed line up with the line before or after it
    (where an editor showing tabs put it); then 2, 4, 8 and 1 spaces: the first that loads.
    The SourceFile returned counts columns as written. None when no width loads.
    """
    for width in _tab_widths(file.lines):
        lines = tuple(_expand(line, width) for line in file.lines)
        try:
            data = load("\n".join(lines) + "\n")
        except MarkedYAMLError:
            continue
        return SourceFile(file.path, lines, file.lines, width), data
    return None


def _indent(line: str) -> str:
    return line[: len(line) - len(line.lstrip(" \t"))]


def _expand(line: str, width: int) -> str:
    indent = _indent(line)
    return indent.replace("\t", " " * width) + line[len(indent):]


def _tab_widths(lines: Sequence[str]) -> list[int]:
    first = next(i for i, line in enumerate(lines) if "\t" in _indent(line))
    indent = _indent(lines[first])
    tabs, spaces = indent.count("\t"), indent.count(" ")

    def spaces_only(line: str) -> bool:
        return bool(line.strip()) and not line.lstrip().startswith("#") and "\t" not in _indent(line)

    before = next((line for line in reversed(lines[:first]) if spaces_only(line)), None)
    after = next((line for line in lines[first + 1:] if spaces_only(line)), None)
    widths = []
    for neighbour in (before, after):
        if neighbour is not None:
            width, rest = divmod(len(_indent(neighbour)) - spaces, tabs)
            if width > 0 and rest == 0:
                widths.append(width)
    return list(dict.fromkeys([*widths, 2, 4, 8, 1]))
