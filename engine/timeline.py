"""Effects: what the engine did, at what (virtual) time, for whom — the timeline `simulate` prints."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo


# Every kind of effect and the details it carries: what a timeline shows and a rule test may expect.
KINDS: dict[str, tuple[str, ...]] = {
    "run.started": ("event", "by"),
    "run.ended": ("reason", "event", "revenue", "condition", "error"),
    "message.sent": ("channel", "template"),
    "message.drafted": ("channel", "template"),
    "message.advised": ("channel", "template"),
    "message.deferred": ("channel", "template", "reason", "until"),
    "message.skipped": ("channel", "template", "reason", "until"),
    "message.failed": ("channel", "template", "reason"),
    "attribute.set": ("field", "value"),
    "score.changed": ("value", "score"),
    "tag.added": ("value",),
    "tag.removed": ("value",),
    "task.created": ("value",),
    "wait.started": ("event", "until"),
    "wait.resumed": ("waited",),
    "split.assigned": ("value",),
    "contact.merged": ("value",),
    "event.failed": ("error",),
    "run.not_started": ("reason",),
    "run.converting": ("until",),
}


@dataclass(frozen=True, slots=True)
class Effect:
    at: datetime
    contact: str  # as the events named the contact: email, phone or external id
    rule: str | None
    kind: str  # one of KINDS: run.started, run.ended, message.sent, attribute.set, score.changed, …
    details: dict[str, Any] = field(default_factory=dict)

    def local(self, zone: str) -> Effect:
        """The same effect with its time in `zone`, as people read it."""
        return Effect(self.at.astimezone(ZoneInfo(zone)), self.contact, self.rule, self.kind, self.details)

    def as_json(self) -> dict[str, Any]:
        return {"at": self.at.isoformat(), "contact": self.contact, "rule": self.rule, "kind": self.kind,
                **self.details}

    def describe(self) -> str:
        details = " ".join(f"{k}={v}" for k, v in self.details.items())
        return f"{self.at:%Y-%m-%d %H:%M} {self.contact:<24} {self.rule or '-':<28} {self.kind:<15} {details}".rstrip()
