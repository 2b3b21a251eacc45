"""What the store keeps: plain records the engine reads and changes inside a transaction."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .events import ContactRef

ACTIVE_STATUSES = ("active", "waiting")  # a run that still has steps to take
OPEN_STATUSES = (*ACTIVE_STATUSES, "converting")  # not ended: converting runs took every step, their goal may still come
ENDED_STATUSES = ("finished", "goal", "exited", "stopped", "cancelled", "failed")


@dataclass(slots=True)
class ContactRecord:
    id: int
    workspace: str
    created_at: datetime
    email: str | None = None
    phone: str | None = None
    external_ids: dict[str, str] = field(default_factory=dict)
    attributes: dict[str, Any] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    score: int = 0
    segments: list[str] = field(default_factory=list)
    consent: dict[str, Any] = field(default_factory=dict)
    timezone: str | None = None
    merged_into: int | None = None

    def view(self) -> dict[str, Any]:
        """What rule expressions see as `contact`."""
        return {**self.attributes, "id": self.id, "email": self.email, "phone": self.phone,
                "external_ids": self.external_ids, "tags": self.tags, "score": self.score,
                "segments": self.segments, "consent": self.consent, "timezone": self.timezone}

    def label(self) -> str:
        """The contact as events name it: email, else phone, else an external id."""
        return ContactRef(self.id, self.email, self.phone, self.external_ids).label()


@dataclass(slots=True)
class EventRecord:
    workspace: str
    event_id: str
    type: str
    at: datetime
    received_at: datetime
    payload: dict[str, Any]  # the event as JSON, for replay, late goal checks and GDPR export
    contact_id: int | None = None
    processed: bool = True  # False while it waits in the inbox
    id: int | None = None


@dataclass(slots=True)
class RunRecord:
    """One contact inside one rule version. `version` changes at every advance."""

    workspace: str
    contact_id: int
    rule_id: str
    rule_version: str
    started_at: datetime
    step_at: datetime  # the logical time of the next step
    trigger_event: dict[str, Any]
    status: str = "active"
    node_id: str | None = None
    version: int = 1
    wake_at: datetime | None = None
    waiting_for: str | None = None
    waited: bool | None = None
    variants: dict[str, str] = field(default_factory=dict)
    visits: dict[str, int] = field(default_factory=dict)
    trace: list[dict[str, Any]] = field(default_factory=list)
    occurrence: str | None = None  # dedupe key of a clock-started run (date and `every` triggers)
    ended_at: datetime | None = None
    end_reason: str | None = None
    revenue: float | None = None
    id: int | None = None


@dataclass(slots=True)
class MessageRecord:
    """A message in the outbox; `key` (run:node:visit) is unique, so no step sends twice."""

    workspace: str
    key: str
    contact_id: int
    run_id: int | None
    rule_id: str
    node_id: str
    channel: str
    template: str
    subject: str | None
    body: str
    created_at: datetime
    status: str = "pending"  # pending, sending, sent, failed, skipped, draft, advised, rejected
    transactional: bool = False
    offer: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    attempts: int = 0
    sent_at: datetime | None = None
    error: str | None = None  # why it failed, was skipped or waits
    html: str | None = None
    send_at: datetime | None = None  # not before then: quiet hours, a frequency cap, a retry's backoff
    provider_id: str | None = None
    priority: int = 0  # its rule's: when caps allow only some of the messages due together, higher goes first
    claimed_at: datetime | None = None  # when a dispatcher took it (pending -> sending)
    id: int | None = None


@dataclass(slots=True)
class TaskRecord:
    workspace: str
    contact_id: int
    title: str
    created_at: datetime
    run_id: int | None = None
    rule_id: str | None = None
    due_at: datetime | None = None
    status: str = "open"
    id: int | None = None


@dataclass(slots=True)
class DecisionRecord:
    """Whether an event started a rule for a contact, and why not when it did not."""

    workspace: str
    contact_id: int
    rule_id: str
    event_id: str
    event_type: str
    at: datetime
    started: bool
    reason: str
    id: int | None = None


@dataclass(slots=True)
class ApiKeyRecord:
    """An API key as kept: its SHA-256 digest and first characters, never the key."""

    workspace: str
    digest: str
    prefix: str
    created_at: datetime
    name: str | None = None
    last_used_at: datetime | None = None
