"""A rule's `goal:` and `exit:` texts → conditions that end its runs: an event that comes, or a contact condition."""
from __future__ import annotations

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from . import graph as g
from . import syntax as s
from .checks import CONTACT_ROOTS, TRIGGER_ROOTS, check_expression
from .compile_context import CompileContext
from .expressions import compile_expression
from .loader import located_item, located_value
from .source import Located, SourceFile


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
    """`event TYPE …`, `if COND`, or bare text that reads both ways and must hold one way only."""
    ending = context.parse(text, "ending")
    if not isinstance(ending, s.EitherEnding):
        return _ending(context, ending, text, key) if ending is not None else None
    valid = [reading for reading in (ending.event, ending.condition) if not _ending_problems(context, reading, key)]
    if len(valid) == 2:
        context.problem(text, f"'{text.text}' reads two ways: the event {ending.event.event_type} (when one comes), "
                              f"or the condition {text.text} (while the contact matches it); write "
                              f"'{key}: event {text.text}' or '{key}: if {text.text}'")
        return None
    return _ending(context, (valid or [ending.event])[0], text, key)  # the reading that holds, else the event's problems


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
