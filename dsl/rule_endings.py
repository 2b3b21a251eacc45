"""A rule's `goal:` and `exit:` texts → conditions that end its runs: an event that comes, or a contact condition."""
from __future__ import annotations

import re

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from . import graph as g
from . import syntax as s
from .checks import CONTACT_ROOTS, TRIGGER_ROOTS, check_expression
from .compile_context import CompileContext
from .expressions import compile_expression
from .loader import located_item, located_value
from .parser import SyntaxProblem, parse
from .source import Located, SourceFile

EXPLICIT_ENDING = re.compile(r"^\s*(?:event|if)(?:\s|$)")  # the keywords of a goal's or exit's two forms


def compile_endings(context: CompileContext, rule: CommentedMap, key: str, file: SourceFile) -> tuple[g.Condition, ...]:
    """The conditions under `rule[key]` (`goal` or `exit`): one text or a list of them."""
    if key not in rule:
        return ()
    value = rule[key]
    if isinstance(value, CommentedSeq):
        texts = [located_item(value, i, file) for i in range(len(value))]
    else:
        texts = [located_value(rule, key, file)]
    conditions = []
    for text in texts:
        condition = _condition(context, text, key)
        if condition is not None:
            conditions.append(condition)
    return tuple(conditions)


def _condition(context: CompileContext, text: Located, key: str) -> g.Condition | None:
    """`event TYPE …` or `if COND`; bare text is read both ways and must read one way only."""
    if EXPLICIT_ENDING.match(text.text):
        ending = context.parse(text, "ending")
        return _ending(context, ending, text, key) if ending is not None else None
    readings: list[s.Ending] = []
    errors: list[SyntaxProblem] = []
    for start in ("event_spec", "expression"):
        try:
            parsed = parse(text.text, start)
        except SyntaxProblem as error:
            errors.append(error)
            continue
        readings.append(parsed if start == "event_spec" else s.ConditionSpec(parsed, parsed.pos))
    valid = [ending for ending in readings if not _ending_problems(context, ending, key)]
    if len(valid) == 2:
        event = valid[0]
        assert isinstance(event, s.EventSpec)
        context.problem(text, f"'{text.text}' reads two ways: the event {event.event_type} (when one comes), "
                              f"or the condition {text.text} (while the contact matches it); write "
                              f"'{key}: event {text.text}' or '{key}: if {text.text}'")
        return None
    if valid or readings:  # the one reading that holds, else the problems of the one that parses
        return _ending(context, (valid or readings)[0], text, key)
    furthest = max(errors, key=lambda error: (error.line, error.column))  # a tie: the event's
    context.problem(text, furthest.message, furthest.line, furthest.column)
    return None


def _ending_problems(context: CompileContext, ending: s.Ending, key: str) -> list[tuple[str, s.Pos]]:
    match ending:
        case s.ConditionSpec():
            return check_expression(ending.condition, CONTACT_ROOTS, context.functions, f"a rule {key}")
        case s.EventSpec(where=None):
            return []
        case s.EventSpec():
            return check_expression(ending.where, TRIGGER_ROOTS, context.functions, f"a rule {key}")
        case _:
            raise TypeError(f"unknown ending syntax: {type(ending).__name__}")


def _ending(context: CompileContext, ending: s.Ending, text: Located, key: str) -> g.Condition | None:
    found = _ending_problems(context, ending, key)
    condition = ending.condition if isinstance(ending, s.ConditionSpec) else ending.where
    if condition is not None:
        context.note_fields(condition, text)
    for message, position in found:
        context.problem(text, message, *position)
    if found:
        return None
    match ending:
        case s.ConditionSpec():
            return g.ContactCondition(compile_expression(ending.condition, context.functions), text.text)
        case s.EventSpec():
            where = compile_expression(ending.where, context.functions) if ending.where is not None else None
            return g.EventCondition(ending.event_type, where, ending.within, text.text)
        case _:
            raise TypeError(f"unknown ending syntax: {type(ending).__name__}")
