"""What every compiler pass shares: the functions, the problems found so far, the contact fields seen."""
from __future__ import annotations

from datetime import timedelta
from typing import Any

from . import syntax as s
from .checks import check_expression
from .durations import parse_duration, suggest_duration
from .errors import Problem
from .expressions import Compiled, compile_expression
from .fields import FieldUse, contact_fields
from .functions import FunctionRegistry
from .parser import SyntaxProblem, parse
from .source import Located, SourceFile


class CompileContext:
    """One compile run: problems collect in `problems`; fields used and set are noted for warnings."""

    def __init__(self, functions: FunctionRegistry) -> None:
        self.functions = functions
        self.problems: list[Problem] = []
        self.field_uses: list[FieldUse] = []
        self.fields_set: set[str] = set()

    def problem(self, where: Located, message: str, line: int = 1, column: int = 1) -> None:
        self.problems.append(where.problem(message, line, column))

    def at(self, file: SourceFile, position: tuple[int, int], message: str) -> None:
        self.problems.append(file.problem(position[0], position[1], message))

    def parse(self, text: Located, start: str) -> Any:
        """`text` parsed from the grammar rule `start`; None, and a problem, if it does not parse."""
        try:
            return parse(text.text, start)
        except SyntaxProblem as error:
            self.problem(text, error.message, error.line, error.column)
            return None

    def expression(self, text: Located, roots: tuple[str, ...], where: str,
                   start: str = "expression") -> tuple[s.Expr | None, Compiled | None]:
        expr = self.parse(text, start)
        if expr is None:
            return None, None
        return expr, self.compiled(expr, text, roots, where)

    def compiled(self, expr: s.Expr, text: Located, roots: tuple[str, ...], where: str,
                 at: s.Pos = (1, 1)) -> Compiled | None:
        """`expr` checked and compiled; its positions count from `at` inside `text`."""
        found = check_expression(expr, roots, self.functions, where)
        self.note_fields(expr, text, at)
        for message, position in found:
            self.problem(text, message, *inside(at, position))
        if found:
            return None
        return compile_expression(expr, self.functions)

    def note_fields(self, expr: s.Expr, text: Located, at: s.Pos = (1, 1)) -> None:
        self.field_uses += [FieldUse(path.keys[0], path, text, at) for path in contact_fields(expr)]

    def duration(self, text: Located) -> timedelta | None:
        try:
            return parse_duration(text.text)
        except ValueError:
            hint = suggest_duration(text.text)
            self.problem(text, f"bad duration '{text.text}'" + (f" (did you mean '{hint}'?)" if hint else
                                                               "; write a number and a unit: 30m, 24h, 3d, 2w"))
            return None


def inside(at: s.Pos, position: s.Pos) -> s.Pos:
    """(line, column) counted from `at` of a text, as counted from the text's start."""
    line, column = position
    return (at[0], at[1] + column - 1) if line == 1 else (at[0] + line - 1, column)


def plain(value: Any) -> Any:
    """ruamel's commented containers and scalar strings as plain Python values."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, str):
        return str(value)
    return value
