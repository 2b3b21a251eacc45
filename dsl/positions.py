"""Where each character of a YAML scalar's value was written, for every scalar style.

YAML changes text on its way to a value: quoted and plain scalars fold line breaks into
spaces and drop indentation, double quotes decode escapes (`\\"`, `\\u00e9`), single quotes
turn `''` into `'`, block scalars (`|`, `>`, `>-`) drop their indentation. To point an error
at the character the user wrote, the source is read again beside the value, character by
character: every character of the value is matched to the source character it came from.
"""
from __future__ import annotations

import bisect
from collections.abc import Sequence

Pos = tuple[int, int]  # 1-based line and column in the file

_ESCAPES = {"0": "\0", "a": "\x07", "b": "\x08", "t": "\t", "\t": "\t", "n": "\n", "v": "\x0b", "f": "\x0c",
            "r": "\r", "e": "\x1b", " ": " ", '"': '"', "/": "/", "\\": "\\", "N": "\x85", "_": "\xa0",
            "L": "\u2028", "P": "\u2029"}
_HEX_ESCAPES = {"x": 2, "u": 4, "U": 8}
_BLANK = " \t\r\n"


class _Source:
    """The file's text from a position on, read a line at a time as the match goes."""

    def __init__(self, lines: Sequence[str], line: int, column: int) -> None:
        self.lines, self.next_line = lines, line
        self.text, self.starts, self.numbers = "", [], []
        self._add_line(column - 1)

    def _add_line(self, skip: int = 0) -> bool:
        if self.next_line > len(self.lines):
            return False
        self.starts.append(len(self.text) - skip)
        self.numbers.append(self.next_line)
        self.text += self.lines[self.next_line - 1][skip:] + "\n"
        self.next_line += 1
        return True

    def char(self, index: int) -> str:
        while index >= len(self.text):
            if not self._add_line():
                return ""
        return self.text[index]

    def position(self, index: int) -> Pos:
        self.char(index)
        row = bisect.bisect_right(self.starts, index) - 1
        return self.numbers[row], index - self.starts[row] + 1


def scalar_positions(lines: Sequence[str], line: int, column: int, value: str) -> tuple[Pos, ...] | None:
    """The position of each character of `value`, and one past its end, for the scalar whose node
    starts at (line, column) of `lines`; None when the source does not read as that value
    (a number written `+50`, a tag the reader resolved)."""
    source = _Source(lines, line, column)
    start = _content_start(source)
    if start is None:
        return None
    index, style = start
    positions: list[Pos] = []
    for wanted in value:
        index = _match(source, index, wanted, style, positions)
        if index is None:
            return None
    positions.append(source.position(index))
    return tuple(positions)


def _content_start(source: _Source) -> tuple[int, str] | None:
    """Where the value's text starts, past the node's properties (`!tag`, `&anchor`) and its quote
    or block header, and the style: a quote, `|` for block scalars, '' for plain ones."""
    index = 0
    while source.char(index) in ("!", "&"):
        while source.char(index) not in ("", *_BLANK):
            index += 1
        while source.char(index) in (" ", "\t"):
            index += 1
    first = source.char(index)
    if first in ("\"", "'"):
        return index + 1, first
    if first in ("|", ">"):
        while source.char(index) not in ("", "\n"):  # the header line, with its comment
            index += 1
        return (index + 1, "|") if source.char(index) else None
    return index, ""


def _match(source: _Source, index: int, wanted: str, style: str, positions: list[Pos]) -> int | None:
    """The source index after the character `wanted` came from, its position appended."""
    while True:
        found = source.char(index)
        if found == "":
            return None
        if style == "\"" and found == "\\":
            decoded, length = _escape(source, index)
            if decoded is None:
                return None
            if decoded == "":  # an escaped line break: it and the next line's indentation are dropped
                index += length
                while source.char(index) in (" ", "\t"):
                    index += 1
                continue
            if decoded != wanted:
                return None
            positions.append(source.position(index))
            return index + length
        if style == "'" and found == "'" and source.char(index + 1) == "'" and wanted == "'":
            positions.append(source.position(index))
            return index + 2
        if found == wanted or (found in _BLANK and wanted in _BLANK):
            # a folded line break reads as a space; the indentation after it is skipped below
            positions.append(source.position(index))
            return index + 1
        if found in _BLANK:  # indentation, or spaces folded away before a line break
            index += 1
            continue
        return None


def _escape(source: _Source, index: int) -> tuple[str | None, int]:
    """The character a double-quoted escape at `index` stands for ('' for a line break), and its length."""
    code = source.char(index + 1)
    if code == "\n":
        return "", 2
    if code in _ESCAPES:
        return _ESCAPES[code], 2
    if code in _HEX_ESCAPES:
        digits = "".join(source.char(index + 2 + i) for i in range(_HEX_ESCAPES[code]))
        try:
            return chr(int(digits, 16)), 2 + len(digits)
        except ValueError:
            return None, 0
    return None, 0
