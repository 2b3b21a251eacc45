"""Errors for the person who wrote the rule: file, line, column, plain words, a suggestion."""
from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass


class RelanceError(Exception):
    """Root of every error Relance reports to a user."""


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong in a workspace, at a 1-based line and column of a file.

    `severity` is "error" (the workspace does not compile) or "warning" (it compiles, but
    something looks like a mistake, such as a contact field nothing sets).
    """

    path: str
    line: int
    column: int
    message: str
    source_line: str = ""
    severity: str = "error"

    @property
    def is_error(self) -> bool:
        return self.severity == "error"

    def __str__(self) -> str:
        label = "" if self.is_error else f"{self.severity}: "
        head = f"{self.path}:{self.line}:{self.column}: {label}{self.message}"
        if not self.source_line:
            return head
        caret = " " * (self.column - 1) + "^"
        return f"{head}\n    {self.source_line}\n    {caret}"

    def as_dict(self) -> dict[str, object]:
        return {"path": self.path, "line": self.line, "column": self.column, "severity": self.severity,
                "message": self.message}


class RuleError(RelanceError):
    """A workspace that cannot be compiled; carries every problem found in one run."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """` (did you mean 'x'?)` when a candidate is close to `name`, else an empty string."""
    close = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""
