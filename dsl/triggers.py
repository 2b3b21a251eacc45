"""A rule's `when:` text → the trigger that starts its runs: an event, a date, a yearly date or a schedule."""
from __future__ import annotations

from collections.abc import Collection

from . import graph as g
from . import syntax as s
from .checks import CONTACT_ROOTS, TRIGGER_ROOTS
from .compile_context import CompileContext
from .errors import did_you_mean
from .expressions import Compiled
from .source import Located

SEGMENT_EVENTS = ("segment.entered", "segment.left")


def compile_trigger(context: CompileContext, text: Located, segments: Collection[str]) -> g.Trigger | None:
    """The trigger `text` describes; None, and problems, when it is wrong. `segments`: the names declared."""
    trigger = context.parse(text, "trigger")
    match trigger:
        case None:
            return None
        case s.EventTrigger():
            return _event(context, trigger, text, segments)
        case s.DateTrigger():
            where = _where(context, trigger.where, text, CONTACT_ROOTS, "a date trigger")
            if not _date_field(context, trigger.field, text):
                return None
            return g.DateTrigger(trigger.field.keys, trigger.offset, trigger.at, where)
        case s.YearlyTrigger():
            where = _where(context, trigger.where, text, CONTACT_ROOTS, "a date trigger")
            if not _date_field(context, trigger.field, text):
                return None
            return g.YearlyTrigger(trigger.field.keys, trigger.at, where)
        case s.EveryTrigger():
            known_segment(context, trigger.segment, text, trigger.segment_pos, segments)
            return g.EveryTrigger(trigger.period, trigger.at, trigger.segment)
        case _:
            raise TypeError(f"unknown trigger syntax: {type(trigger).__name__}")


def _event(context: CompileContext, trigger: s.EventTrigger, text: Located,
           segments: Collection[str]) -> g.Trigger:
    takes_segment = trigger.event_type in SEGMENT_EVENTS
    if takes_segment and trigger.segment is None:
        context.problem(text, f"'{trigger.event_type}' needs a segment name, for example "
                              f"'{trigger.event_type} vip'", *trigger.pos)
    elif not takes_segment and trigger.segment is not None:
        context.problem(text, f"unexpected '{trigger.segment}'; only segment.entered and segment.left "
                              "take a segment name; to filter, write 'where …'", *(trigger.segment_pos or (1, 1)))
    elif trigger.segment is not None:
        known_segment(context, trigger.segment, text, trigger.segment_pos or (1, 1), segments)
    where = _where(context, trigger.where, text, TRIGGER_ROOTS, "a trigger")
    return g.EventTrigger(trigger.event_type, trigger.segment, where)


def _where(context: CompileContext, expr: s.Expr | None, text: Located, roots: tuple[str, ...],
           where: str) -> Compiled | None:
    return context.compiled(expr, text, roots, where) if expr is not None else None


def _date_field(context: CompileContext, path: s.Path, text: Located) -> bool:
    context.note_fields(path, text)
    if path.root != "contact" or not path.keys:
        context.problem(text, f"a date trigger counts from a contact field such as contact.birthday, "
                              f"not '{path.dotted}'", *path.pos)
        return False
    return True


def known_segment(context: CompileContext, name: str, text: Located, pos: s.Pos, segments: Collection[str]) -> None:
    """A problem when `name` is not among the `segments` declared."""
    if name not in segments:
        context.problem(text, f"unknown segment '{name}'{did_you_mean(name, segments)}", *pos)
