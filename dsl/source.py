"""Where a string of rule text came from, so a column inside it maps to the YAML file."""
from __future__ import annotations

from dataclasses import dataclass

from .errors import Problem


@dataclass(frozen=True, slots=True)
class SourceFile:
    """A file's name as the user gave it, and its lines for error context."""

    path: str
    lines: tuple[str, ...]

    def line_text(self, line: int) -> str:
        return self.lines[line - 1].rstrip("\r\n") if 0 < line <= len(self.lines) else ""

    def problem(self, line: int, column: int, message: str) -> Problem:
        return Problem(self.path, line, column, message, self.line_text(line))


@dataclass(frozen=True, slots=True)
class Located:
    """A YAML string value and the 1-based position of its first character in the file.

    `column` points at the first character of the text itself: one past the quote
    for a quoted scalar, the first content line for a block scalar, whose later lines start after
    `indent` spaces.
    """

    text: str
    file: SourceFile
    line: int
    column: int
    indent: int = 0

    def problem(self, message: str, line: int = 1, column: int = 1) -> Problem:
        """A problem at (line, column) counted inside this string (both 1-based)."""
        if line == 1:
            return self.file.problem(self.line, self.column + column - 1, message)
        return self.file.problem(self.line + line - 1, self.indent + column, message)
