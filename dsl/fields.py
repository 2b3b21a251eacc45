"""Contact fields: those a workspace knows, and a warning for each use of one nobody sets.

A field is known when a rule sets it (`set plan = …`), the workspace declares it under
`fields:`, or it is one the engine and event sources provide (given by the caller: the
engine's own fields and the usual traits). `contact.scroe` is then a warning with a
"did you mean", and the workspace still compiles.
"""
from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass

from . import syntax as s
from .checks import walk
from .errors import Problem, did_you_mean
from .source import Located

FIELD_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True, slots=True)
class FieldUse:
    """`contact.<name>…` written in `text`, its path at `pos` counted from `at` inside the text."""

    name: str
    path: s.Path
    text: Located
    at: s.Pos = (1, 1)

    def warning(self, message: str) -> Problem:
        line, column = self.path.pos
        line, column = (self.at[0], self.at[1] + column - 1) if line == 1 else (self.at[0] + line - 1, column)
        column += _field_offset(self.text.text, line, column, self.path)
        return self.text.problem(message, line, column, severity="warning")


def contact_fields(expr: s.Expr) -> Iterator[s.Path]:
    """The paths under `contact.` in an expression."""
    for node in walk(expr):
        if isinstance(node, s.Path) and node.root == "contact" and node.keys:
            yield node


def unknown_field_warnings(uses: Iterable[FieldUse], known: Collection[str]) -> list[Problem]:
    """A warning at each use of a field that is not in `known`."""
    return [use.warning(f"unknown contact field '{use.name}'{did_you_mean(use.name, known)}: no rule sets it, "
                        "no event or built-in provides it; declare it under 'fields:' if your events bring it")
            for use in uses if use.name not in known]


def _field_offset(text: str, line: int, column: int, path: s.Path) -> int:
    """From the path's start to its field name, when written `contact.name` (else 0: the path)."""
    lines = text.split("\n")
    after = lines[line - 1][column - 1:] if line <= len(lines) else ""
    prefix = f"{path.root}."
    return len(prefix) if after.startswith(prefix + path.keys[0]) else 0
