"""Rule text → syntax tree, through the one Lark grammar; errors in plain words."""
from __future__ import annotations

import functools
import math
import operator
import re
from collections.abc import Callable, Iterable
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


# A token's (line, column); attrgetter, being C, costs no Python call for every node built.
_pos: Callable[[Token], s.Pos] = operator.attrgetter("line", "column")


_ESCAPES = {"n": "\n", "t": "\t", "\\": "\\", '"': '"', "'": "'"}
_ESCAPE = re.compile(r"\\(.)")


def _string(token: Token) -> str:
    body = token[1:-1]
    if "\\" not in body:  # most strings: nothing to unescape
        return body
    return _ESCAPE.sub(lambda m: _ESCAPES.get(m.group(1), m.group(0)), body)


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


class _Parenthesised(Exception):
    """An expression in parentheses was met: an operation it begins starts at its '(', which no node keeps."""


@v_args(inline=True)
class _ToSyntax(Transformer):
    """One method per grammar rule, building the dataclasses of `syntax` where each node's text begins.

    It runs inside the LALR parser, which builds no tree, so a node's position is that of its
    first child: a token's line and column, or a child node's `pos`. The grammar names the
    words that begin a node (SEND, NOT, LSQB…) so that they arrive among the children.
    """

    # expressions
    def number(self, token: Token) -> s.Literal:
        value = float(token) if "." in token else int(token)
        if isinstance(value, float) and not math.isfinite(value):
            raise SyntaxProblem(f"number {token[:20]}… is too large", *_pos(token))
        return s.Literal(value, _pos(token))

    def duration_literal(self, token: Token) -> s.Literal:
        return s.Literal(_duration(token), _pos(token))

    def percent(self, token: Token) -> s.Literal:
        return s.Literal(float(token[:-1]) / 100, _pos(token))

    def string(self, token: Token) -> s.Literal:
        return s.Literal(_string(token), _pos(token))

    def none(self, word: Token) -> s.Literal:
        return s.Literal(None, _pos(word))

    def true(self, word: Token) -> s.Literal:
        return s.Literal(True, _pos(word))

    def false(self, word: Token) -> s.Literal:
        return s.Literal(False, _pos(word))

    def path(self, root: Token, *keys: Token) -> s.Path:
        return s.Path(str(root), tuple(map(str, keys)), _pos(root))

    def call(self, name: Token, *args: s.Expr | None) -> s.Call:
        return s.Call(str(name), tuple(arg for arg in args if arg is not None), _pos(name))

    def list_(self, bracket: Token, *items: s.Expr | None) -> s.ListExpr:
        return s.ListExpr(tuple(item for item in items if item is not None), _pos(bracket))

    def group(self, expr: s.Expr) -> s.Expr:
        raise _Parenthesised  # parse() takes the tree path

    def negative(self, sign: Token, operand: s.Expr) -> s.Unary:
        return s.Unary("-", operand, _pos(sign))

    def not_(self, word: Token, operand: s.Expr) -> s.Unary:
        return s.Unary("not", operand, _pos(word))

    def or_(self, left: s.Expr, right: s.Expr) -> s.Binary:
        return s.Binary("or", left, right, left.pos)

    def and_(self, left: s.Expr, right: s.Expr) -> s.Binary:
        return s.Binary("and", left, right, left.pos)

    def compare(self, left: s.Expr, op: Token, right: s.Expr) -> s.Binary:
        return s.Binary(str(op), left, right, left.pos)

    def binary(self, left: s.Expr, op: Token, right: s.Expr) -> s.Binary:
        return s.Binary(str(op), left, right, left.pos)

    def in_(self, left: s.Expr, right: s.Expr) -> s.Binary:
        return s.Binary("in", left, right, left.pos)

    def not_in(self, left: s.Expr, right: s.Expr) -> s.Binary:
        return s.Binary("not in", left, right, left.pos)

    # triggers and event specs
    def event_type(self, first: Token, *rest: Token) -> tuple[str, s.Pos]:
        name = _string(first) if first.type == "STRING" else ".".join((first, *rest))
        return canonical_event_type(name), _pos(first)

    def where(self, condition: s.Expr) -> s.Expr:
        return condition

    def within(self, token: Token) -> Any:
        return _duration(token)

    def at_time(self, token: Token) -> time:
        return _time(token)

    def event_trigger(self, event_type: tuple[str, s.Pos], segment: Token | None,
                      where: s.Expr | None) -> s.EventTrigger:
        name, pos = event_type
        return s.EventTrigger(name, str(segment) if segment else None, where, pos,
                              _pos(segment) if segment else None)

    def date_trigger(self, offset: Token, direction: Token, field: s.Path, at: time | None,
                     where: s.Expr | None) -> s.DateTrigger:
        delta = _duration(offset)
        return s.DateTrigger(-delta if direction == "before" else delta, field, at, where, _pos(offset))

    def yearly_trigger(self, word: Token, field: s.Path, at: time | None, where: s.Expr | None) -> s.YearlyTrigger:
        return s.YearlyTrigger(field, at, where, _pos(word))

    def every_trigger(self, word: Token, period: Token, at: time, segment: Token) -> s.EveryTrigger:
        return s.EveryTrigger(str(period), at, str(segment), _pos(word), _pos(segment))

    def event_spec(self, event_type: tuple[str, s.Pos], where: s.Expr | None, within: Any) -> s.EventSpec:
        name, pos = event_type
        return s.EventSpec(name, where, within, pos)

    # goals and exits: `event …`, `if …`, or bare text read both ways
    def event_ending(self, word: Token, spec: s.EventSpec) -> s.EventSpec:
        return spec

    def condition_ending(self, word: Token, condition: s.Expr) -> s.ConditionSpec:
        return s.ConditionSpec(condition, _pos(word))

    def bare_ending(self, token: Token) -> s.Ending | s.EitherEnding:
        return _both_ways(token)

    # statements
    def assignment(self, name: Token, value: s.Expr) -> s.Assignment:
        return s.Assignment(str(name), value, _pos(name))

    def with_params(self, *assignments: s.Assignment) -> tuple[s.Assignment, ...]:
        return assignments

    def offer(self, token: Token) -> str:
        return _string(token)

    def send(self, word: Token, channel: Token, template: Token, params: tuple[s.Assignment, ...] | None,
             transactional: Token | None, offer: str | None) -> s.Send:
        return s.Send(str(channel), str(template), params or (), transactional is not None, offer,
                      _pos(word), _pos(channel), _pos(template))

    def wait(self, word: Token, token: Token) -> s.Wait:
        return s.Wait(_duration(token), _pos(word))

    def wait_event(self, word: Token, event_type: tuple[str, s.Pos], where: s.Expr | None,
                   within: Token) -> s.WaitEvent:
        return s.WaitEvent(event_type[0], where, _duration(within), _pos(word))

    def wait_time(self, word: Token, token: Token) -> s.WaitTime:
        return s.WaitTime(_time(token), _pos(word))

    def set(self, word: Token, *assignments: s.Assignment) -> s.SetFields:
        return s.SetFields(assignments, _pos(word))

    def score(self, word: Token, points: Token) -> s.Score:
        return s.Score(int(points), _pos(word))

    def tag(self, name: Token) -> s.Tag:
        return s.Tag(str(name), _pos(name))

    def untag(self, name: Token) -> s.Untag:
        return s.Untag(str(name), _pos(name))

    def task(self, word: Token, title: Token, due: Token | None) -> s.Task:
        return s.Task(_string(title), _duration(due) if due else None, _pos(word))

    def start(self, word: Token, rule_id: Token) -> s.Start:
        return s.Start(str(rule_id), _pos(word), _pos(rule_id))

    def stop(self, word: Token) -> s.Stop:
        return s.Stop(_pos(word))

    # blocks, variants, entry, bare durations, placeholders
    def if_block(self, word: Token, condition: s.Expr) -> s.BlockHead:
        return s.BlockHead("if", condition, _pos(word))

    def elif_block(self, word: Token, condition: s.Expr) -> s.BlockHead:
        return s.BlockHead("elif", condition, _pos(word))

    def else_block(self, word: Token) -> s.BlockHead:
        return s.BlockHead("else", None, _pos(word))

    def split_block(self, word: Token) -> s.BlockHead:
        return s.BlockHead("split", None, _pos(word))

    def variant(self, name: Token, weight: Token) -> s.Variant:
        return s.Variant(str(name), float(weight[:-1]), _pos(name))

    def entry_once(self) -> s.Entry:
        return s.Entry("once")

    def entry_always(self) -> s.Entry:
        return s.Entry("always")

    def entry_after(self, token: Token) -> s.Entry:
        return s.Entry("after", _duration(token))

    def duration(self, token: Token) -> Any:
        return _duration(token)

    def placeholder(self, opening: Token, expr: s.Expr, closing: Token) -> s.Placeholder:
        return s.Placeholder(expr, _pos(opening))


def _at(meta: Meta) -> s.Pos:
    """Where a rule's text begins (`propagate_positions` fills `meta` from its first token)."""
    return (meta.line, meta.column)


@v_args(inline=True)
class _TreeToSyntax(_ToSyntax):
    """The same methods run over a tree built with `propagate_positions`: the slow path, for two cases.

    An operation whose left operand is in parentheses begins at the '(' (the operand node is
    the expression inside), which only the tree's `meta` keeps. And a bad value (`99999d`) is
    found by a method as the LALR parser goes, before any syntax error further on: building
    the whole tree first reports the syntax error instead.
    """

    def group(self, expr: s.Expr) -> s.Expr:
        return expr

    @v_args(inline=True, meta=True)
    def or_(self, meta: Meta, left: s.Expr, right: s.Expr) -> s.Binary:
        return s.Binary("or", left, right, _at(meta))

    @v_args(inline=True, meta=True)
    def and_(self, meta: Meta, left: s.Expr, right: s.Expr) -> s.Binary:
        return s.Binary("and", left, right, _at(meta))

    @v_args(inline=True, meta=True)
    def compare(self, meta: Meta, left: s.Expr, op: Token, right: s.Expr) -> s.Binary:
        return s.Binary(str(op), left, right, _at(meta))

    @v_args(inline=True, meta=True)
    def binary(self, meta: Meta, left: s.Expr, op: Token, right: s.Expr) -> s.Binary:
        return s.Binary(str(op), left, right, _at(meta))

    @v_args(inline=True, meta=True)
    def in_(self, meta: Meta, left: s.Expr, right: s.Expr) -> s.Binary:
        return s.Binary("in", left, right, _at(meta))

    @v_args(inline=True, meta=True)
    def not_in(self, meta: Meta, left: s.Expr, right: s.Expr) -> s.Binary:
        return s.Binary("not in", left, right, _at(meta))


_TREE_TO_SYNTAX = _TreeToSyntax()
_PARSERS: dict[str, Lark] = {}


def _parser(kind: str = "lalr") -> Lark:
    """"lalr" builds the syntax nodes as it parses, "tree" a tree with positions (see _TreeToSyntax)."""
    if kind not in _PARSERS:
        grammar = resources.files(__package__).joinpath("grammar.lark").read_text(encoding="utf-8")
        options: dict[str, Any] = {"transformer": _ToSyntax()} if kind == "lalr" else {"propagate_positions": True}
        _PARSERS[kind] = Lark(grammar, parser="lalr", start=list(START_SYMBOLS), maybe_placeholders=True,
                              cache=True, **options)
    return _PARSERS[kind]


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
    except (_Parenthesised, SyntaxProblem):
        pass  # what only the tree can tell: see _TreeToSyntax
    return _parse_tree(text, start)


def _parse_tree(text: str, start: str) -> Any:
    """The slow path (see _TreeToSyntax): the whole tree first, then its nodes."""
    try:
        tree = _parser("tree").parse(text, start=start)
    except UnexpectedInput as error:
        raise _explain(error, text, start) from None
    try:
        return _TREE_TO_SYNTAX.transform(tree)
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
