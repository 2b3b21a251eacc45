"""What a channel plugin receives and answers: one message out, one typed result back."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    """A rendered message ready to leave. `key` is unique per step: pass it as the provider's idempotency key."""

    key: str
    channel: str
    template: str
    subject: str | None
    body: str
    email: str | None
    phone: str | None
    contact_id: int
    rule_id: str
    transactional: bool = False
    settings: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    """delivered; deferred (try again later); failed (permanent, with the reason)."""

    status: Literal["delivered", "deferred", "failed"]
    detail: str = ""


class Channel(Protocol):
    """A way to deliver messages, named by the `plugin:` of a channel in the rules."""

    name: str

    async def send(self, message: OutboundMessage) -> DeliveryResult: ...
