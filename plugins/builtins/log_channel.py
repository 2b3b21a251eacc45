"""The `log` channel: writes what it would send, delivers nothing. The default for every channel."""
from __future__ import annotations

import logging

from relance.dsl.settings import Setting
from relance.engine.channels import DeliveryResult, OutboundMessage

from .. import hookimpl

logger = logging.getLogger("relance.channels.log")


class LogChannel:
    name = "log"
    settings_schema: dict[str, Setting] = {"from": Setting(str, help="shown in the log line only")}
    capabilities = frozenset({"subject", "html"})

    async def send(self, message: OutboundMessage) -> DeliveryResult:
        to = message.email if message.channel == "email" else (message.phone or message.email)
        subject = f" subject={message.subject!r}" if message.subject else ""
        logger.info("%s to %s [%s]%s body=%r key=%s", message.channel, to or f"contact {message.contact_id}",
                    message.template, subject, message.body, message.key)
        return DeliveryResult("delivered")

    async def close(self) -> None:
        return None


@hookimpl
def relance_channels() -> list[LogChannel]:
    return [LogChannel()]
