"""The syntax tree of rule text: what the parser builds and the checker and compiler read.

Positions are (line, column) inside the parsed string, both 1-based; `Located.problem`
turns them into file positions.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import time, timedelta
from typing import Any

Pos = tuple[int, int]


# ------------------------------------------------------------------ expressions
@dataclass(frozen=True, slots=True)
class Literal:
    value: Any
    pos: Pos


@dataclass(frozen=True, slots=True)
class Path:
    """`contact.cart.total`: a root name and the keys under it."""

    root: str
    keys: tuple[str, ...]
    pos: Pos

    @property
    def dotted(self) -> str:
        return ".".join((self.root, *self.keys))


@dataclass(frozen=True, slots=True)
class Call:
    name: str
    args: tuple[Expr, ...]
    pos: Pos


@dataclass(frozen=True, slots=True)
class ListExpr:
    items: tuple[Expr, ...]
    pos: Pos


@dataclass(frozen=True, slots=True)
class Unary:
    op: str  # "not" or "-"
    operand: Expr
    pos: Pos


@dataclass(frozen=True, slots=True)
class Binary:
    op: str  # + - * / % == != < <= > >= in "not in" and or
    left: Expr
    right: Expr
    pos: Pos


Expr = Literal | Path | Call | ListExpr | Unary | Binary


# --------------------------------------------------------------------- triggers
@dataclass(frozen=True, slots=True)
class EventTrigger:
    """`checkout.started where …`; `segment.entered vip`."""

    event_type: str
    segment: str | None
    where: Expr | None
    pos: Pos
    segment_pos: Pos | None = None


@dataclass(frozen=True, slots=True)
class DateTrigger:
    """`3d before contact.next_payment_at [at 10:00]`."""

    offset: timedelta
    field: Path
    at: time | None
    where: Expr | None
    pos: Pos


@dataclass(frozen=True, slots=True)
class YearlyTrigger:
    """`yearly on contact.birthday at 10:00`."""

    field: Path
    at: time | None
    where: Expr | None
    pos: Pos


@dataclass(frozen=True, slots=True)
class EveryTrigger:
    """`every monday at 09:00 for segment dormant`."""

    period: str
    at: time
    segment: str
    pos: Pos
    segment_pos: Pos


Trigger = EventTrigger | DateTrigger | YearlyTrigger | EveryTrigger


@dataclass(frozen=True, slots=True)
class EventSpec:
    """`order.completed where … within 7d` (goals, exits)."""

    event_type: str
    where: Expr | None
    within: timedelta | None
    pos: Pos


@dataclass(frozen=True, slots=True)
class ConditionSpec:
    """`if contact.vip` (goals, exits): a condition on the contact."""

    condition: Expr
    pos: Pos


@dataclass(frozen=True, slots=True)
class EitherEnding:
    """Bare goal or exit text that parses both as an event and as a condition (`contact.upgraded`)."""

    event: EventSpec
    condition: ConditionSpec
    pos: Pos


Ending = EventSpec | ConditionSpec


# ------------------------------------------------------------------- statements
@dataclass(frozen=True, slots=True)
class Assignment:
    name: str
    value: Expr
    pos: Pos


@dataclass(frozen=True, slots=True)
class Send:
    channel: str
    template: str
    params: tuple[Assignment, ...]
    transactional: bool
    offer: str | None
    pos: Pos
    channel_pos: Pos
    template_pos: Pos


@dataclass(frozen=True, slots=True)
class Wait:
    duration: timedelta
    pos: Pos


@dataclass(frozen=True, slots=True)
class WaitEvent:
    event_type: str
    where: Expr | None
    within: timedelta
    pos: Pos


@dataclass(frozen=True, slots=True)
class WaitTime:
    at: time
    pos: Pos


@dataclass(frozen=True, slots=True)
class SetFields:
    assignments: tuple[Assignment, ...]
    pos: Pos


@dataclass(frozen=True, slots=True)
class Score:
    points: int
    pos: Pos


@dataclass(frozen=True, slots=True)
class Tag:
    name: str
    pos: Pos


@dataclass(frozen=True, slots=True)
class Untag:
    name: str
    pos: Pos


@dataclass(frozen=True, slots=True)
class Task:
    title: str
    due: timedelta | None
    pos: Pos


@dataclass(frozen=True, slots=True)
class Start:
    rule_id: str
    pos: Pos
    rule_pos: Pos


@dataclass(frozen=True, slots=True)
class Stop:
    pos: Pos


Statement = Send | Wait | WaitEvent | WaitTime | SetFields | Score | Tag | Untag | Task | Start | Stop


# ------------------------------------------------------------- blocks and more
@dataclass(frozen=True, slots=True)
class BlockHead:
    """The key of a block mapping: `if COND`, `elif COND`, `else`, `split`."""

    kind: str
    condition: Expr | None
    pos: Pos


@dataclass(frozen=True, slots=True)
class Variant:
    name: str
    weight: float  # percent, 0-100
    pos: Pos


@dataclass(frozen=True, slots=True)
class Entry:
    """How often a contact may enter a rule: `once`, `always`, `after 30d`, or one at a time."""

    kind: str  # "one-at-a-time", "once", "always", "after"
    after: timedelta | None = None


@dataclass(frozen=True, slots=True)
class Placeholder:
    expr: Expr
    pos: Pos
