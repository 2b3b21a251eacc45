"""What a channel plugin tells the compiler: the settings it takes and what its messages are."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from .settings import Setting

# What a channel's messages can carry. `unsubscribe`: RFC 8058 List-Unsubscribe headers on
# marketing messages; `tracking`: links through the click redirect and an open pixel.
CAPABILITIES = frozenset({"subject", "html", "unsubscribe", "tracking", "attachments", "status_callbacks"})


@dataclass(frozen=True, slots=True)
class ChannelTraits:
    """What a channel delivers to and what a marketing send through it needs.

    - `address`: the contact field a message goes to, "email" or "phone"; None when the
      channel needs none (a webhook, a log); a contact without it is skipped;
    - `consent`: what a marketing send needs by default: "opt_out" (goes out unless the
      contact said no), "opt_in" (needs the contact's yes) or "none"; the workspace's
      `policy: consent:` overrides it per channel;
    - `capabilities`: a subset of `CAPABILITIES`.
    """

    address: Literal["email", "phone"] | None = None
    consent: Literal["opt_in", "opt_out", "none"] = "none"
    capabilities: frozenset[str] = frozenset()


class ChannelPlugin(Protocol):
    """The part of a channel plugin the compiler reads (the engine's `Channel` has it all)."""

    settings_schema: Mapping[str, Setting]

    def traits(self, settings: Mapping[str, Any]) -> ChannelTraits:
        """What a channel with these settings (already checked against the schema) delivers to."""
        ...
