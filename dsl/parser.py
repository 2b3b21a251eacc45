"""Rule text → syntax tree, through the one Lark grammar; errors in plain words."""
from __future__ import annotations

import functools
import math
import re
from collections.abc import Iterable
from datetime import time
from importlib import resources
from typing import Any

from lark import Lark, Token, Transformer, UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken, v_args
from lark.exceptions import VisitError
from lark.tree import Meta

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
# Where a duration is expected: a number and a word, such as `3 dayz` or `2 heures`.
_DURATION_LIKE = re.compile(r"\d+(?:\.\d+)?\s*[A-Za-zéè]+")

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
    "BARE_ENDING": "an event name or a condition",
    "_EVENT_WORD": "'event …'",
    "_IF_WORD": "'if …'",
    "<END-OF-FILE>": "the end of the text",
}


class SyntaxProblem(Exception):
    """Rule text that does not parse, at a (line, column) inside that text."""

    def __init__(self, message: str, line: int = 1, column: int = 1) -> None:
        super().__init__(message)
        self.message, self.line, self.column = message, line, column


def _pos(token: Token) -> s.Pos:
    return (token.line, token.column)


def _at(meta: Meta) -> s.Pos:
    """Where a rule's text begins (`propagate_positions` fills `meta` from its first token)."""
    return (meta.line, meta.column)


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


@v_args(inline=True, meta=True)
class _ToSyntax(Transformer):
    """One method per grammar rule, building the dataclasses of `syntax` at the rule's real position."""

    # expressions
    def number(self, meta: Meta, token: Token) -> s.Literal:
        value = float(token) if "." in token else int(token)
        if isinstance(value, float) and not math.isfinite(value):
            raise SyntaxProblem(f"number {token[:20]}… is too large", *_pos(token))
        return s.Literal(value, _at(meta))

    def duration_literal(self, meta: Meta, token: Token) -> s.Literal:
        return s.Literal(_duration(token), _at(meta))

    def percent(self, meta: Meta, token: Token) -> s.Literal:
        return s.Literal(float(token[:-1]) / 100, _at(meta))

    def string(self, meta: Meta, token: Token) -> s.Literal:
        return s.Literal(_string(token), _at(meta))

    def none(self, meta: Meta) -> s.Literal:
        return s.Literal(None, _at(meta))

    def true(self, meta: Meta) -> s.Literal:
        return s.Literal(True, _at(meta))

    def false(self, meta: Meta) -> s.Literal:
        return s.Literal(False, _at(meta))

    def path(self, meta: Meta, root: Token, *keys: Token) -> s.Path:
        return s.Path(str(root), tuple(str(key) for key in keys), _at(meta))

    def call(self, meta: Meta, name: Token, *args: s.Expr | None) -> s.Call:
        return s.Call(str(name), tuple(arg for arg in args if arg is not None), _at(meta))

    def list_(self, meta: Meta, *items: s.Expr | None) -> s.ListExpr:
        return s.ListExpr(tuple(item for item in items if item is not None), _at(meta))

    def negative(self, meta: Meta, operand: s.Expr) -> s.Unary:
        return s.Unary("-", operand, _at(meta))

    def not_(self, meta: Meta, operand: s.Expr) -> s.Unary:
        return s.Unary("not", operand, _at(meta))

    def or_(self, meta: Meta, left: s.Expr, right: s.Expr) -> s.Binary:
        return s.Binary("or", left, right, _at(meta))

    def and_(self, meta: Meta, left: s.Expr, right: s.Expr) -> s.Binary:
        return s.Binary("and", left, right, _at(meta))

    def compare(self, meta: Meta, left: s.Expr, op: Token, right: s.Expr) -> s.Binary:
        return s.Binary(str(op), left, right, _at(meta))

    def binary(self, meta: Meta, left: s.Expr, op: Token, right: s.Expr) -> s.Binary:
        return s.Binary(str(op), left, right, _at(meta))

    def in_(self, meta: Meta, left: s.Expr, right: s.Expr) -> s.Binary:
        return s.Binary("in", left, right, _at(meta))

    def not_in(self, meta: Meta, left: s.Expr, right: s.Expr) -> s.Binary:
        return s.Binary("not in", left, right, _at(meta))

    # triggers and event specs
    def event_type(self, meta: Meta, first: Token, *rest: Token) -> tuple[str, s.Pos]:
        name = _string(first) if first.type == "STRING" else ".".join((first, *rest))
        return canonical_event_type(name), _at(meta)

    def where(self, meta: Meta, condition: s.Expr) -> s.Expr:
        return condition

    def within(self, meta: Meta, token: Token) -> Any:
        return _duration(token)

    def at_time(self, meta: Meta, token: Token) -> time:
        return _time(token)

    def event_trigger(self, meta: Meta, event_type: tuple[str, s.Pos], segment: Token | None,
                      where: s.Expr | None) -> s.EventTrigger:
        name, pos = event_type
        return s.EventTrigger(name, str(segment) if segment else None, where, pos,
                              _pos(segment) if segment else None)

    def date_trigger(self, meta: Meta, offset: Token, direction: Token, field: s.Path, at: time | None,
                     where: s.Expr | None) -> s.DateTrigger:
        delta = _duration(offset)
        return s.DateTrigger(-delta if direction == "before" else delta, field, at, where, _at(meta))

    def yearly_trigger(self, meta: Meta, field: s.Path, at: time | None, where: s.Expr | None) -> s.YearlyTrigger:
        return s.YearlyTrigger(field, at, where, _at(meta))

    def every_trigger(self, meta: Meta, period: Token, at: time, segment: Token) -> s.EveryTrigger:
        return s.EveryTrigger(str(period), at, str(segment), _at(meta), _pos(segment))

    def event_spec(self, meta: Meta, event_type: tuple[str, s.Pos], where: s.Expr | None,
                   within: Any) -> s.EventSpec:
        name, pos = event_type
        return s.EventSpec(name, where, within, pos)

    # goals and exits: `event …`, `if …`, or bare text read both ways
    def event_ending(self, meta: Meta, spec: s.EventSpec) -> s.EventSpec:
        return spec

    def condition_ending(self, meta: Meta, condition: s.Expr) -> s.ConditionSpec:
        return s.ConditionSpec(condition, _at(meta))

    def bare_ending(self, meta: Meta, token: Token) -> s.Ending | s.EitherEnding:
        return _both_ways(token)

    # statements
    def assignment(self, meta: Meta, name: Token, value: s.Expr) -> s.Assignment:
        return s.Assignment(str(name), value, _at(meta))

    def with_params(self, meta: Meta, *assignments: s.Assignment) -> tuple[s.Assignment, ...]:
        return assignments

    def offer(self, meta: Meta, token: Token) -> str:
        return _string(token)

    def send(self, meta: Meta, channel: Token, template: Token, params: tuple[s.Assignment, ...] | None,
             transactional: Token | None, offer: str | None) -> s.Send:
        return s.Send(str(channel), str(template), params or (), transactional is not None, offer,
                      _at(meta), _pos(channel), _pos(template))

    def wait(self, meta: Meta, token: Token) -> s.Wait:
        return s.Wait(_duration(token), _at(meta))

    def wait_event(self, meta: Meta, event_type: tuple[str, s.Pos], where: s.Expr | None,
                   within: Token) -> s.WaitEvent:
        return s.WaitEvent(event_type[0], where, _duration(within), _at(meta))

    def wait_time(self, meta: Meta, token: Token) -> s.WaitTime:
        return s.WaitTime(_time(token), _at(meta))

    def set(self, meta: Meta, *assignments: s.Assignment) -> s.SetFields:
        return s.SetFields(assignments, _at(meta))

    def score(self, meta: Meta, points: Token) -> s.Score:
        return s.Score(int(points), _at(meta))

    def tag(self, meta: Meta, name: Token) -> s.Tag:
        return s.Tag(str(name), _pos(name))

    def untag(self, meta: Meta, name: Token) -> s.Untag:
        return s.Untag(str(name), _pos(name))

    def task(self, meta: Meta, title: Token, due: Token | None) -> s.Task:
        return s.Task(_string(title), _duration(due) if due else None, _at(meta))

    def start(self, meta: Meta, rule_id: Token) -> s.Start:
        return s.Start(str(rule_id), _at(meta), _pos(rule_id))

    def stop(self, meta: Meta) -> s.Stop:
        return s.Stop(_at(meta))

    # blocks, variants, entry, bare durations, placeholders
    def if_block(self, meta: Meta, condition: s.Expr) -> s.BlockHead:
        return s.BlockHead("if", condition, _at(meta))

    def elif_block(self, meta: Meta, condition: s.Expr) -> s.BlockHead:
        return s.BlockHead("elif", condition, _at(meta))

    def else_block(self, meta: Meta) -> s.BlockHead:
        return s.BlockHead("else", None, _at(meta))

    def split_block(self, meta: Meta) -> s.BlockHead:
        return s.BlockHead("split", None, _at(meta))

    def variant(self, meta: Meta, name: Token, weight: Token) -> s.Variant:
        return s.Variant(str(name), float(weight[:-1]), _at(meta))

    def entry_once(self, meta: Meta) -> s.Entry:
        return s.Entry("once")

    def entry_always(self, meta: Meta) -> s.Entry:
        return s.Entry("always")

    def entry_after(self, meta: Meta, token: Token) -> s.Entry:
        return s.Entry("after", _duration(token))

    def duration(self, meta: Meta, token: Token) -> Any:
        return _duration(token)

    def placeholder(self, meta: Meta, expr: s.Expr) -> s.Placeholder:
        return s.Placeholder(expr, _at(meta))


_TO_SYNTAX = _ToSyntax()
_PARSERS: dict[str, Lark] = {}


def _parser() -> Lark:
    if "lalr" not in _PARSERS:
        grammar = resources.files(__package__).joinpath("grammar.lark").read_text(encoding="utf-8")
        _PARSERS["lalr"] = Lark(grammar, parser="lalr", start=list(START_SYMBOLS), propagate_positions=True,
                                maybe_placeholders=True, cache=True)
    return _PARSERS["lalr"]


@functools.lru_cache(maxsize=8192)
def parse(text: str, start: str) -> Any:
    """Parse `text` from the start symbol `start`; raise SyntaxProblem with a plain message.

    Syntax trees are immutable and their positions relative to `text`, so the same step
    written in many rules (`wait 1d`, `stop`) is parsed once.
    """
    try:
        tree = _parser().parse(text, start=start)
    except UnexpectedInput as error:
        raise _explain(error, text, start) from None
    try:
        return _TO_SYNTAX.transform(tree)
    except VisitError as error:
        if isinstance(error.orig_exc, SyntaxProblem):
            raise error.orig_exc from None
        raise


def _both_ways(bare: Token) -> s.Ending | s.EitherEnding:
    """A goal or exit written without `event` or `if`: the event it names, the condition it states, or both.

    Neither reading parsing raises the problem found furthest in; a tie is the event's.
    """
    text = "\n" * (bare.line - 1) + " " * (bare.column - 1) + bare  # positions as in the whole text
    readings: list[s.Ending] = []
    problems: list[SyntaxProblem] = []
    for start in ("event_spec", "expression"):
        try:
            parsed = parse(text, start)
        except SyntaxProblem as problem:
            problems.append(problem)
            continue
        readings.append(parsed if start == "event_spec" else s.ConditionSpec(parsed, parsed.pos))
    if len(readings) == 2:
        event, condition = readings
        assert isinstance(event, s.EventSpec) and isinstance(condition, s.ConditionSpec)
        return s.EitherEnding(event, condition, event.pos)
    if readings:
        return readings[0]
    raise max(problems, key=lambda problem: (problem.line, problem.column))


def _explain(error: UnexpectedInput, text: str, start: str) -> SyntaxProblem:
    """Lark's exception in plain words, at the line and column Lark found it."""
    first_word = text.split(maxsplit=1)[0] if text.split() else ""
    if start == "statement" and first_word not in STATEMENT_WORDS:
        column = len(text) - len(text.lstrip()) + 1
        return SyntaxProblem(f"unknown statement '{first_word}'{did_you_mean(first_word, STATEMENT_WORDS)}"
                             f"; a step is one of: {', '.join(STATEMENT_WORDS)}", 1, column)
    if start == "block" and first_word not in BLOCK_WORDS:
        return SyntaxProblem(f"unknown block '{first_word}'{did_you_mean(first_word, BLOCK_WORDS)}"
                             "; a block is 'if …', 'elif …', 'else' or 'split'", 1, 1)
    if start == "duration" and not _is_duration(text):
        return _bad_duration(text, 1, 1)
    if isinstance(error, UnexpectedEOF) or (isinstance(error, UnexpectedToken) and error.token.type == "$END"):
        end_line = text.count("\n") + 1
        end_column = len(text.rsplit("\n", 1)[-1]) + 1
        return SyntaxProblem(f"unexpected end of text; expected {_expected(error.expected)}", end_line, end_column)
    if isinstance(error, (UnexpectedToken, UnexpectedCharacters)):
        return _unexpected(error, text)
    return SyntaxProblem(str(error), error.line, error.column)


def _unexpected(error: UnexpectedToken | UnexpectedCharacters, text: str) -> SyntaxProblem:
    """A token the grammar does not allow where it stands: a mistyped duration, a lone '=', or a word out of place."""
    expected = error.expected if isinstance(error, UnexpectedToken) else error.allowed
    rest = text[error.pos_in_stream:]
    if "DURATION" in expected:
        mistyped = _DURATION_LIKE.match(rest)
        if mistyped and not _is_duration(mistyped.group(0)):
            return _bad_duration(mistyped.group(0), error.line, error.column)
    if rest.startswith("=") and not rest.startswith("=="):
        return SyntaxProblem("unexpected '='; to compare, write '=='", error.line, error.column)
    if isinstance(error, UnexpectedToken) and error.token.type != "BARE_ENDING":  # that one takes the rest of the text
        found = str(error.token)
    else:
        found = rest.split(maxsplit=1)[0] if rest.strip() else rest[:1]
    return SyntaxProblem(f"unexpected '{found}'; expected {_expected(expected)}", error.line, error.column)


def _is_duration(text: str) -> bool:
    try:
        parse_duration(text)
    except ValueError:
        return False
    return True


def _bad_duration(text: str, line: int, column: int) -> SyntaxProblem:
    """`3 dayz` → "bad duration '3 dayz' (did you mean '3d'?)"."""
    hint = suggest_duration(text)
    message = f"bad duration '{text.strip()}'"
    message += f" (did you mean '{hint}'?)" if hint else "; write a number and a unit: 30m, 24h, 3d, 2w"
    return SyntaxProblem(message, line, column)


def _expected(names: Iterable[str]) -> str:
    """Terminal names as words: `DURATION` → "a duration such as 24h", `"within"` → "'within'"."""
    words = []
    for name in sorted(names):
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
