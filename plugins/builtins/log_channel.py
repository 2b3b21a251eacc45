"""The `log` channel: writes what it would send, delivers nothing. The default for every channel.

It stands in for a real channel before one is configured, so it behaves like the channel it
stands for: `address: email` behaves like email (the contact's address, sent unless it
opted out, unsubscribe headers and tracked links), `address: phone` like SMS (the phone
number, with an opt-in). Without `address` it needs no address and no consent.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from relance.dsl.settings import Setting
from relance.engine.channels import ChannelTraits, DeliveryResult, OutboundMessage

from .. import hookimpl

logger = logging.getLogger("relance.channels.log")
SETTINGS = {
    "from": Setting(str, help="shown in the log line only"),
    "address": Setting(str, choices=("email", "phone"), help="what the channel it stands for delivers to"),
}
TRAITS = {
    "email": ChannelTraits("email", "opt_out", frozenset({"subject", "html", "unsubscribe", "tracking"})),
    "phone": ChannelTraits("phone", "opt_in"),
    None: ChannelTraits(None, "none", frozenset({"subject", "html"})),
}


class LogChannel:
    name = "log"
    settings_schema: dict[str, Setting] = SETTINGS

    def traits(self, settings: Mapping[str, Any]) -> ChannelTraits:
        return TRAITS[settings.get("address")]

    def check_environment(self, settings: Mapping[str, Any]) -> list[str]:
        return []  # it needs nothing

    async def send(self, message: OutboundMessage) -> DeliveryResult:
        address = message.settings.get("address")
        to = message.email if address == "email" else message.phone if address == "phone" \
            else (message.email or message.phone)
        subject = f" subject={message.subject!r}" if message.subject else ""
        logger.info("%s to %s [%s]%s body=%r key=%s", message.channel, to or f"contact {message.contact_id}",
                    message.template, subject, message.body, message.key)
        return DeliveryResult("delivered")

    async def close(self) -> None:
        return None


@hookimpl
def relance_channels() -> list[LogChannel]:
    return [LogChannel()]
