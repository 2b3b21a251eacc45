"""Where a string of rule text came from, so a column inside it maps to the YAML file."""
from __future__ import annotations

from dataclasses import dataclass

from .errors import Problem
from .positions import Pos, scalar_positions


@dataclass(frozen=True, slots=True)
class SourceFile:
    """A file's name as the user gave it, and its lines for error context.

    `written`: the lines as written, when `lines` (what YAML read) had the tabs of their
    indentation expanded to `tab_width` spaces; problems show and count the written lines.
    """

    path: str
    lines: tuple[str, ...]
    written: tuple[str, ...] = ()
    tab_width: int = 1

    def line_text(self, line: int) -> str:
        lines = self.written or self.lines
        return lines[line - 1].rstrip("\r\n") if 0 < line <= len(lines) else ""

    def problem(self, line: int, column: int, message: str, severity: str = "error") -> Problem:
        return Problem(self.path, line, self._written_column(line, column), message, self.line_text(line), severity)

    def _written_column(self, line: int, column: int) -> int:
        if not self.written or not 0 < line <= len(self.written):
            return column
        text = self.written[line - 1]
        indent = text[: len(text) - len(text.lstrip(" \t"))]
        tabs = indent.count("\t")
        if not tabs:
            return column
        shift = tabs * (self.tab_width - 1)
        return column - shift if column > len(indent) + shift else min(column, len(indent) + 1)


@dataclass(frozen=True, slots=True)
class Located:
    """A YAML string value and the 1-based position of its first character in the file.

    `node` is where its YAML node starts: from it, a problem finds the position of the very
    character it is about, whatever the scalar's style (folded, quoted with escapes, block).
    Without it (text that is not a YAML scalar), `column` is that of the first character and
    later lines start after `indent` spaces.
    """

    text: str
    file: SourceFile
    line: int
    column: int
    indent: int = 0
    node: Pos | None = None

    def position(self, line: int = 1, column: int = 1) -> Pos:
        """The file position of (line, column) counted inside this string (both 1-based)."""
        positions = scalar_positions(self.file.lines, *self.node, self.text) if self.node else None
        if positions:
            index = _index(self.text, line, column)
            if index < len(positions):
                return positions[index]
            last_line, last_column = positions[-1]
            return last_line, last_column + index - len(positions) + 1
        if line == 1:
            return self.line, self.column + column - 1
        return self.line + line - 1, self.indent + column

    def problem(self, message: str, line: int = 1, column: int = 1, severity: str = "error") -> Problem:
        """A problem at (line, column) counted inside this string (both 1-based)."""
        return self.file.problem(*self.position(line, column), message, severity)


def _index(text: str, line: int, column: int) -> int:
    """The offset in `text` of (line, column) inside it."""
    start = 0
    for _ in range(line - 1):
        start = text.find("\n", start) + 1
        if start == 0:
            return len(text) + column - 1
    return start + column - 1
