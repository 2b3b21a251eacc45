"""The executable graph: what a workspace compiles to and what the engine walks.

Every node has a stable id derived from its place in the file (`ecom-03/steps/4`,
`ecom-03/steps/5/else/0`) and explicit edges (`next`, branch and variant targets; `None`
ends the run). Expressions are compiled callables taking a `Scope`.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import time, timedelta

from .channel_traits import ChannelTraits
from .expressions import Compiled
from .syntax import Entry
from .templates import Template


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a node or rule was written: file, line, column, and the text itself."""

    path: str
    line: int
    column: int
    text: str


# ------------------------------------------------------------------------ nodes
@dataclass(frozen=True, slots=True)
class SendNode:
    id: str
    channel: str
    template: str
    params: tuple[tuple[str, Compiled], ...]
    transactional: bool
    offer: str | None
    next: str | None
    origin: Origin


@dataclass(frozen=True, slots=True)
class SetNode:
    id: str
    fields: tuple[tuple[str, Compiled], ...]
    next: str | None
    origin: Origin


@dataclass(frozen=True, slots=True)
class ScoreNode:
    id: str
    points: int
    next: str | None
    origin: Origin


@dataclass(frozen=True, slots=True)
class TagNode:
    id: str
    tag: str
    add: bool  # False: untag
    next: str | None
    origin: Origin


@dataclass(frozen=True, slots=True)
class TaskNode:
    id: str
    title: str
    due: timedelta | None
    next: str | None
    origin: Origin


@dataclass(frozen=True, slots=True)
class StartNode:
    id: str
    rule_id: str
    next: str | None
    origin: Origin


@dataclass(frozen=True, slots=True)
class WaitNode:
    id: str
    duration: timedelta
    next: str | None
    origin: Origin


@dataclass(frozen=True, slots=True)
class WaitUntilTimeNode:
    """Suspends until the next `at` o'clock in the contact's timezone."""

    id: str
    at: time
    next: str | None
    origin: Origin


@dataclass(frozen=True, slots=True)
class WaitEventNode:
    """Suspends until an event of `event_type` (matching `where`) or `within` elapses; sets `waited`."""

    id: str
    event_type: str
    where: Compiled | None
    within: timedelta
    next: str | None
    origin: Origin


@dataclass(frozen=True, slots=True)
class Branch:
    condition: Compiled
    text: str
    target: str | None


@dataclass(frozen=True, slots=True)
class BranchNode:
    """`if`/`elif`/`else`: the first branch whose condition holds, else `otherwise`."""

    id: str
    branches: tuple[Branch, ...]
    otherwise: str | None
    origin: Origin


@dataclass(frozen=True, slots=True)
class Variant:
    name: str
    weight: float  # percent
    target: str | None


@dataclass(frozen=True, slots=True)
class SplitNode:
    """A/B split: each contact gets one variant, the same every time for this rule."""

    id: str
    variants: tuple[Variant, ...]
    origin: Origin


@dataclass(frozen=True, slots=True)
class StopNode:
    id: str
    origin: Origin


Node = (SendNode | SetNode | ScoreNode | TagNode | TaskNode | StartNode | WaitNode
        | WaitUntilTimeNode | WaitEventNode | BranchNode | SplitNode | StopNode)


# --------------------------------------------------------------------- triggers
@dataclass(frozen=True, slots=True)
class EventTrigger:
    event_type: str
    segment: str | None  # for segment.entered / segment.left
    where: Compiled | None


@dataclass(frozen=True, slots=True)
class DateTrigger:
    """`offset` from a contact's date field (negative: before), at a time of day."""

    field: tuple[str, ...]
    offset: timedelta
    at: time | None
    where: Compiled | None


@dataclass(frozen=True, slots=True)
class YearlyTrigger:
    field: tuple[str, ...]
    at: time | None
    where: Compiled | None


@dataclass(frozen=True, slots=True)
class EveryTrigger:
    period: str  # day, weekday, monday … sunday
    at: time
    segment: str


Trigger = EventTrigger | DateTrigger | YearlyTrigger | EveryTrigger


@dataclass(frozen=True, slots=True)
class EventCondition:
    """An event that ends a run (`order.completed where … within 7d`)."""

    event_type: str
    where: Compiled | None
    within: timedelta | None
    text: str


@dataclass(frozen=True, slots=True)
class ContactCondition:
    """A condition on the contact that ends a run (`contact.unsubscribed`)."""

    predicate: Compiled
    text: str


Condition = EventCondition | ContactCondition


# ------------------------------------------------------------- rules, workspace
@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    name: str
    version: str
    when: str  # the trigger as written
    trigger: Trigger
    condition: Compiled | None
    goals: tuple[Condition, ...]
    exits: tuple[Condition, ...]
    entry: Entry
    mode: str
    start: str | None
    nodes: Mapping[str, Node]
    origin: Origin
    condition_text: str | None = None  # `if:` as written
    late_skip: timedelta | None = None  # `late: skip after 12h`: a send overdue by more is skipped
    priority: int = 0  # when caps allow only some of the messages due together, higher goes first


@dataclass(frozen=True, slots=True)
class ChannelConfig:
    """A channel of the workspace: its plugin, settings, and what the plugin says its messages are."""

    name: str
    plugin: str
    settings: Mapping[str, object]
    traits: ChannelTraits = ChannelTraits()


@dataclass(frozen=True, slots=True)
class Frequency:
    """At most `max` marketing messages `per` period; over it a message is deferred or skipped."""

    max: int
    per: timedelta
    over: str = "defer"


@dataclass(frozen=True)
class Policy:
    """The workspace's rules of the trade, applied to every marketing message on every channel.

    `frequency` caps by channel name, "all" for all channels together; `consent` says per
    channel what a marketing send needs (opt_in, opt_out, none), overriding the plugin's default.
    """

    quiet_hours: Mapping[str, tuple[time, time]] = field(default_factory=dict)
    frequency: Mapping[str, Frequency] = field(default_factory=dict)
    offer_window: timedelta = timedelta(days=7)
    consent: Mapping[str, str] = field(default_factory=dict)

    def consent_rule(self, channel: ChannelConfig) -> str:
        """What a marketing send on `channel` needs: the workspace's word for it, else its plugin's default."""
        return self.consent.get(channel.name, channel.traits.consent)


@dataclass(frozen=True, slots=True)
class Segment:
    name: str
    condition: Compiled
    text: str


@dataclass(frozen=True, slots=True)
class Workspace:
    """A compiled workspace; `rules_for(event_type)` costs the same however many rules listen elsewhere.

    `event_types`: every event type its rules and scoring name (triggers, goals, exits,
    `wait until`, points).
    """

    name: str
    timezone: str
    locale: str
    mode: str
    channels: Mapping[str, ChannelConfig]
    policy: Policy
    templates: Mapping[tuple[str, str], Template]
    scoring: Mapping[str, int]
    segments: Mapping[str, Segment]
    rules: Mapping[str, Rule]
    by_event_type: Mapping[str, tuple[Rule, ...]]
    event_types: frozenset[str] = frozenset()
    link_hosts: frozenset[str] = frozenset()  # hosts messages may link to (dsl/link_hosts.py), beside the server's
    sources: Mapping[str, str] = field(default_factory=dict)  # the files it was compiled from (dsl/snapshots.py)

    def rules_for(self, event_type: str) -> tuple[Rule, ...]:
        return self.by_event_type.get(event_type, ())

    def timed_rules(self) -> tuple[Rule, ...]:
        """Rules started by the clock (date and `every …` triggers), not by an event."""
        return tuple(r for r in self.rules.values() if not isinstance(r.trigger, EventTrigger))

    def depends_on_time(self) -> bool:
        """Whether time passing alone can change something: a rule started by the clock, or a
        segment (`days_since(contact.last_order_at) >= 90` holds one day without any event)."""
        return bool(self.timed_rules() or self.segments)
