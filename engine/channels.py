"""What a channel plugin is, receives and answers: one message out, one typed result back."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol

from relance.dsl.channel_traits import CAPABILITIES, ChannelTraits
from relance.dsl.settings import Setting

__all__ = ["CAPABILITIES", "Channel", "ChannelTraits", "DeliveryResult", "OutboundMessage", "retry_after"]


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    """A rendered message ready to leave. `key` is unique per step: pass it as the provider's idempotency key.

    `settings` are the channel's settings from the rules (already checked against the plugin's
    `settings_schema`); `headers` are extra headers the dispatcher adds, such as
    `List-Unsubscribe` and `List-Unsubscribe-Post` on marketing email.
    """

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
    html: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    workspace: str = ""
    at: datetime | None = None  # when it is handed over, by the engine's clock (email's Date)


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    """What became of one message.

    - ``delivered``: the provider accepted it (`provider_id` is its id there, if any);
    - ``deferred``: try again later (a busy server, a timeout); `retry_after` suggests when,
      otherwise the dispatcher backs off exponentially;
    - ``failed``: permanent, with the reason in `detail`; `bounced` says the address itself
      is bad (a 5xx for the recipient), so no later message goes to it.
    """

    status: Literal["delivered", "deferred", "failed"]
    detail: str = ""
    retry_after: timedelta | None = None
    bounced: bool = False
    provider_id: str | None = None


def retry_after(header: str | None) -> timedelta | None:
    """An HTTP `Retry-After` in seconds as a delay (a date or nothing: None, the dispatcher backs off)."""
    return timedelta(seconds=int(header)) if header and header.strip().isdigit() else None


class Channel(Protocol):
    """A way to deliver messages, named by the `plugin:` of a channel in the rules.

    `settings_schema` lists the settings the plugin takes (checked by `relance check` with
    file:line:col); `traits(settings)` says what a channel with those settings delivers to,
    its default consent and its capabilities — the engine asks it instead of guessing from
    names; `check_environment(settings)` says what is missing to send. A channel may keep
    connections open between messages; `close()` is called once at shutdown.
    """

    name: str
    settings_schema: Mapping[str, Setting]

    def traits(self, settings: Mapping[str, Any]) -> ChannelTraits: ...

    def check_environment(self, settings: Mapping[str, Any]) -> list[str]:
        """What stops a channel with these settings from sending in this process: a secret's
        variable not set, a key file unreadable. `relance serve` and `relance worker` refuse to
        start while anything is listed; `relance check` does not look (CI has no secrets)."""
        ...

    async def send(self, message: OutboundMessage) -> DeliveryResult: ...

    async def close(self) -> None: ...
