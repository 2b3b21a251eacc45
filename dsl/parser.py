"""Rule text → syntax tree, through the one Lark grammar; errors in plain words."""
from __future__ import annotations

import functools
import math
import re
from datetime import time
from importlib import resources
from typing import Any

from lark import Lark, Token, Transformer, UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from . import syntax as s
from .durations import parse_duration, suggest_duration
from .errors import did_you_mean
from .event_names import canonical_event_type

START_SYMBOLS = (
    "trigger", "ending", "event_spec", "expression", "statement", "block",
    "variant", "entry", "duration", "placeholder",
)
STATEMENT_WORDS = ("send", "wait", "set", "score", "tag", "untag", "task", "start", "stop")
BLOCK_WORDS = ("if", "elif", "else", "split")

# How an expected terminal reads in an error message.
_TERMINAL_WORDS = {
    "DURATION": "a duration such as 24h",
    "TIME": "a time such as 09:00",
    "PERCENT": "a percentage such as 50%",
    "SIGNED_INT": "a whole number such as +10",
    "NUMBER": "a number",
    "STRING": 'a quoted string such as "text"',
    "TITLE_EVENT": 'an event name such as "Order Completed"',
    "IDENT": "a name",
    "NAME": "a name",
    "DIRECTION": "'before' or 'after'",
    "PERIOD": "a day such as monday, or 'day'",
    "COMPARE": "a comparison",
    "ADD_OP": "+ or -",
    "MUL_OP": "*, / or %",
    "$END": "the end of the text",
}


class SyntaxProblem(Exception):
    """Rule text that does not parse, at a (line, column) inside that text."""

    def __init__(self, message: str, line: int = 1, column: int = 1) -> None:
        super().__init__(message)
        self.message, self.line, self.column = message, line, column


def _pos(token: Token) -> s.Pos:
    return (token.line or 1, token.column or 1)


def _pos_of(node: Any) -> s.Pos:
    if isinstance(node, Token):
        return _pos(node)
    return getattr(node, "pos", (1, 1))


def _string(token: Token) -> str:
    body = token[1:-1]
    escapes = {"n": "\n", "t": "\t", "\\": "\\", '"': '"', "'": "'"}
    return re.sub(r"\\(.)", lambda m: escapes.get(m.group(1), m.group(0)), body)


def _duration(token: Token) -> Any:
    try:
        return parse_duration(token)
    except ValueError as error:
        raise SyntaxProblem(str(error), *_pos(token)) from None


def _time(token: Token) -> time:
    hours, minutes = (int(part) for part in token.split(":"))
    if hours > 23 or minutes > 59:
        raise SyntaxProblem(f"bad time '{token}' (hours 00-23, minutes 00-59)", *_pos(token))
    return time(hours, minutes)


class _ToSyntax(Transformer):
    """One method per grammar rule, building the dataclasses of `syntax`."""

    # expressions
    def number(self, c: list[Token]) -> s.Literal:
        text = str(c[0])
        value = float(text) if "." in text else int(text)
        if isinstance(value, float) and not math.isfinite(value):
            raise SyntaxProblem(f"number {text[:20]}… is too large", *_pos(c[0]))
        return s.Literal(value, _pos(c[0]))

    def duration_literal(self, c: list[Token]) -> s.Literal:
        return s.Literal(_duration(c[0]), _pos(c[0]))

    def percent(self, c: list[Token]) -> s.Literal:
        return s.Literal(float(c[0][:-1]) / 100, _pos(c[0]))

    def string(self, c: list[Token]) -> s.Literal:
        return s.Literal(_string(c[0]), _pos(c[0]))

    def none(self, c: list) -> s.Literal:
        return s.Literal(None, (1, 1))

    def true(self, c: list) -> s.Literal:
        return s.Literal(True, (1, 1))

    def false(self, c: list) -> s.Literal:
        return s.Literal(False, (1, 1))

    def path(self, c: list[Token]) -> s.Path:
        return s.Path(str(c[0]), tuple(str(t) for t in c[1:]), _pos(c[0]))

    def call(self, c: list) -> s.Call:
        args = tuple(a for a in c[1:] if a is not None)
        return s.Call(str(c[0]), args, _pos(c[0]))

    def list_(self, c: list) -> s.ListExpr:
        items = tuple(a for a in c if a is not None)
        return s.ListExpr(items, items[0].pos if items else (1, 1))

    def negative(self, c: list) -> s.Unary:
        return s.Unary("-", c[0], c[0].pos)

    def not_(self, c: list) -> s.Unary:
        return s.Unary("not", c[0], c[0].pos)

    def or_(self, c: list) -> s.Binary:
        return s.Binary("or", c[0], c[1], c[0].pos)

    def and_(self, c: list) -> s.Binary:
        return s.Binary("and", c[0], c[1], c[0].pos)

    def compare(self, c: list) -> s.Binary:
        return s.Binary(str(c[1]), c[0], c[2], c[0].pos)

    def binary(self, c: list) -> s.Binary:
        return s.Binary(str(c[1]), c[0], c[2], c[0].pos)

    def in_(self, c: list) -> s.Binary:
        return s.Binary("in", c[0], c[1], c[0].pos)

    def not_in(self, c: list) -> s.Binary:
        return s.Binary("not in", c[0], c[1], c[0].pos)

    # triggers and event specs
    def event_type(self, c: list[Token]) -> tuple[str, s.Pos]:
        name = _string(c[0]) if c[0].type == "STRING" else ".".join(str(t) for t in c)
        return canonical_event_type(name), _pos(c[0])

    def where(self, c: list) -> s.Expr:
        return c[0]

    def within(self, c: list[Token]) -> Any:
        return _duration(c[0])

    def at_time(self, c: list[Token]) -> time:
        return _time(c[0])

    def event_trigger(self, c: list) -> s.EventTrigger:
        (event_type, pos), segment, where = c
        return s.EventTrigger(event_type, str(segment) if segment else None, where, pos,
                              _pos(segment) if segment else None)

    def date_trigger(self, c: list) -> s.DateTrigger:
        offset, direction, field, at, where = c
        delta = _duration(offset)
        return s.DateTrigger(-delta if direction == "before" else delta, field, at, where, _pos(offset))

    def yearly_trigger(self, c: list) -> s.YearlyTrigger:
        field, at, where = c
        return s.YearlyTrigger(field, at, where, field.pos)

    def every_trigger(self, c: list) -> s.EveryTrigger:
        period, at, segment = c
        return s.EveryTrigger(str(period), at, str(segment), _pos(period), _pos(segment))

    def event_spec(self, c: list) -> s.EventSpec:
        (event_type, pos), where, within = c
        return s.EventSpec(event_type, where, within, pos)

    def event_ending(self, c: list) -> s.EventSpec:
        return c[0]

    def condition_ending(self, c: list) -> s.ConditionSpec:
        return s.ConditionSpec(c[0], c[0].pos)

    # statements
    def assignment(self, c: list) -> s.Assignment:
        return s.Assignment(str(c[0]), c[1], _pos(c[0]))

    def with_params(self, c: list) -> tuple[s.Assignment, ...]:
        return tuple(c)

    def offer(self, c: list[Token]) -> str:
        return _string(c[0])

    def send(self, c: list) -> s.Send:
        channel, template, params, transactional, offer = c
        return s.Send(str(channel), str(template), params or (), transactional is not None, offer,
                      (1, 1), _pos(channel), _pos(template))

    def wait(self, c: list[Token]) -> s.Wait:
        return s.Wait(_duration(c[0]), (1, 1))

    def wait_event(self, c: list) -> s.WaitEvent:
        (event_type, _), where, within = c
        return s.WaitEvent(event_type, where, _duration(within), (1, 1))

    def wait_time(self, c: list[Token]) -> s.WaitTime:
        return s.WaitTime(_time(c[0]), (1, 1))

    def set(self, c: list) -> s.SetFields:
        return s.SetFields(tuple(c), (1, 1))

    def score(self, c: list[Token]) -> s.Score:
        return s.Score(int(c[0]), (1, 1))

    def tag(self, c: list[Token]) -> s.Tag:
        return s.Tag(str(c[0]), _pos(c[0]))

    def untag(self, c: list[Token]) -> s.Untag:
        return s.Untag(str(c[0]), _pos(c[0]))

    def task(self, c: list) -> s.Task:
        return s.Task(_string(c[0]), _duration(c[1]) if c[1] else None, (1, 1))

    def start(self, c: list[Token]) -> s.Start:
        return s.Start(str(c[0]), (1, 1), _pos(c[0]))

    def stop(self, c: list) -> s.Stop:
        return s.Stop((1, 1))

    # blocks, variants, entry, bare durations, placeholders
    def if_block(self, c: list) -> s.BlockHead:
        return s.BlockHead("if", c[0], c[0].pos)

    def elif_block(self, c: list) -> s.BlockHead:
        return s.BlockHead("elif", c[0], c[0].pos)

    def else_block(self, c: list) -> s.BlockHead:
        return s.BlockHead("else", None, (1, 1))

    def split_block(self, c: list) -> s.BlockHead:
        return s.BlockHead("split", None, (1, 1))

    def variant(self, c: list[Token]) -> s.Variant:
        return s.Variant(str(c[0]), float(c[1][:-1]), _pos(c[0]))

    def entry_once(self, c: list) -> s.Entry:
        return s.Entry("once")

    def entry_always(self, c: list) -> s.Entry:
        return s.Entry("always")

    def entry_after(self, c: list[Token]) -> s.Entry:
        return s.Entry("after", _duration(c[0]))

    def duration(self, c: list[Token]) -> Any:
        return _duration(c[0])

    def placeholder(self, c: list) -> s.Placeholder:
        return s.Placeholder(c[0], _pos_of(c[0]))


_PARSERS: dict[str, Lark] = {}


def _parser() -> Lark:
    if "lalr" not in _PARSERS:
        grammar = resources.files(__package__).joinpath("grammar.lark").read_text(encoding="utf-8")
        _PARSERS["lalr"] = Lark(grammar, parser="lalr", start=list(START_SYMBOLS),
                                transformer=_ToSyntax(), maybe_placeholders=True, cache=True)
    return _PARSERS["lalr"]


@functools.lru_cache(maxsize=8192)
def parse(text: str, start: str) -> Any:
    """Parse `text` from the start symbol `start`; raise SyntaxProblem with a plain message.

    Syntax trees are immutable and their positions relative to `text`, so the same step
    written in many rules (`wait 1d`, `stop`) is parsed once.
    """
    try:
        return _parser().parse(text, start=start)
    except UnexpectedInput as error:
        raise _explain(error, text, start) from None


def _explain(error: UnexpectedInput, text: str, start: str) -> SyntaxProblem:
    first_word = text.split(maxsplit=1)[0] if text.split() else ""
    if start == "statement" and first_word not in STATEMENT_WORDS:
        column = len(text) - len(text.lstrip()) + 1
        return SyntaxProblem(f"unknown statement '{first_word}'{did_you_mean(first_word, STATEMENT_WORDS)}"
                             f"; a step is one of: {', '.join(STATEMENT_WORDS)}", 1, column)
    if start == "block" and first_word not in BLOCK_WORDS:
        return SyntaxProblem(f"unknown block '{first_word}'{did_you_mean(first_word, BLOCK_WORDS)}"
                             "; a block is 'if …', 'elif …', 'else' or 'split'", 1, 1)
    bad_duration = _bad_duration(text, start)
    if bad_duration:
        return bad_duration
    line, column = error.line or 1, error.column or 1
    if isinstance(error, UnexpectedEOF) or (isinstance(error, UnexpectedToken) and error.token.type == "$END"):
        expected = _expected(error)
        end_line = text.count("\n") + 1
        end_col = len(text.rsplit("\n", 1)[-1]) + 1
        return SyntaxProblem(f"unexpected end of text; expected {expected}", end_line, end_col)
    if isinstance(error, UnexpectedToken) and error.token == "=":
        return SyntaxProblem("unexpected '='; to compare, write '=='", line, column)
    if isinstance(error, UnexpectedToken):
        return SyntaxProblem(f"unexpected '{error.token}'; expected {_expected(error)}", line, column)
    if isinstance(error, UnexpectedCharacters):
        found = text[error.pos_in_stream:].split(maxsplit=1)[0] if text[error.pos_in_stream:].strip() else text[error.pos_in_stream]
        if found.startswith("=") and not found.startswith("=="):
            return SyntaxProblem("unexpected '='; to compare, write '=='", line, column)
        return SyntaxProblem(f"unexpected '{found}'; expected {_expected(error)}", line, column)
    return SyntaxProblem(str(error), line, column)


def _bad_duration(text: str, start: str) -> SyntaxProblem | None:
    """`wait 3 dayz` → "bad duration '3 dayz' (did you mean '3d'?)"."""
    candidates = [text] if start == "duration" else []
    for pattern in (r"\b(?:wait|within|due|after)\s+(\d+(?:\.\d+)?\s*[A-Za-zéè]+)", r"^(\d+(?:\.\d+)?\s+[A-Za-zéè]+)\s+(?:before|after)\b"):
        for match in re.finditer(pattern, text):
            candidates.append(match.group(1))
    for candidate in candidates:
        try:
            parse_duration(candidate)
        except ValueError:
            column = text.find(candidate) + 1
            hint = suggest_duration(candidate)
            message = f"bad duration '{candidate.strip()}'"
            message += f" (did you mean '{hint}'?)" if hint else "; write a number and a unit: 30m, 24h, 3d, 2w"
            return SyntaxProblem(message, 1, max(column, 1))
    return None


def _expected(error: UnexpectedInput) -> str:
    names = sorted(getattr(error, "expected", None) or getattr(error, "allowed", None) or ())
    words = []
    for name in names:
        if name in _TERMINAL_WORDS:
            words.append(_TERMINAL_WORDS[name])
            continue
        try:
            pattern = _parser().get_terminal(name).pattern
        except KeyError:
            words.append(name.lower())
            continue
        words.append(f"'{pattern.value}'" if pattern.type == "str" else name.lower())
    unique = list(dict.fromkeys(words))
    if len(unique) > 6:
        unique = unique[:6] + ["…"]
    return ", ".join(unique) if unique else "something else"
