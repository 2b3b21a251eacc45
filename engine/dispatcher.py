"""Messages from the outbox to channel plugins: judged once more, sent, retried with backoff, never twice.

A message is claimed (pending -> sending) in one conditional update, so two dispatchers
never send it both; the channel gets it after its step committed; the outcome is
recorded after. A deferred answer comes back later with exponential backoff; a bounce
marks the address so no later message goes to it.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

from relance.dsl import graph as g

from .channels import Channel, DeliveryResult, OutboundMessage
from .clock import Clock
from .links import Links
from .policies import horizon, judge
from .records import ContactRecord, MessageRecord
from .store import Store
from .timeline import Effect

logger = logging.getLogger("relance.dispatcher")
BATCH = 500
MAX_ATTEMPTS = 8
FIRST_RETRY = timedelta(minutes=1)
LONGEST_RETRY = timedelta(hours=6)


def backoff(attempts: int) -> timedelta:
    """1 min, 2, 4, … after each deferred attempt, at most 6 h."""
    return min(FIRST_RETRY * 2 ** max(0, attempts - 1), LONGEST_RETRY)


class Dispatcher:
    """Sends one workspace's pending messages through its channel plugins."""

    def __init__(self, store: Store, clock: Clock, channels: Mapping[str, Channel], links: Links | None = None,
                 emit: Callable[[list[Effect]], None] = lambda effects: None) -> None:
        self.store, self.clock, self.channels, self.links, self.emit = store, clock, channels, links, emit

    async def recover(self, workspace: str) -> int:
        """At start-up: messages claimed by a process that died are sent again (at least once;
        channels get the same key, so a provider with idempotency keys delivers once)."""
        return await self.store.requeue_sending(workspace)

    async def dispatch(self, workspace: g.Workspace) -> int:
        """Send every pending message whose time has come; returns how many were delivered."""
        delivered = 0
        for message in await self.store.pending_messages(workspace.name, self.clock.now(), BATCH):
            delivered += await self._one(workspace, message)
        return delivered

    async def _one(self, workspace: g.Workspace, message: MessageRecord) -> bool:
        now = self.clock.now()
        config = workspace.channels.get(message.channel)
        async with self.store.transaction() as tx:
            if not await tx.claim_message(message.id):  # type: ignore[arg-type]
                return False  # another dispatcher has it
            contact = await tx.get_contact(message.contact_id)
            history = await tx.contact_messages(message.contact_id, now - horizon(workspace.policy)) \
                if contact is not None else []
        channel = self.channels.get(config.plugin) if config else None
        message.attempts += 1
        if channel is None or contact is None:
            reason = "the contact was erased" if contact is None else f"no channel plugin for '{message.channel}'"
            await self._record(message, "failed", reason, contact)
            return False
        verdict = judge(workspace.policy, config, message, contact, history, now, workspace.timezone)
        if verdict.action != "send":
            message.attempts -= 1  # not an attempt: the policy held it back
            message.send_at = verdict.until
            await self._record(message, "pending" if verdict.action == "defer" else "skipped", verdict.reason, contact)
            return False
        result = await self._send(channel, self._outbound(workspace, message, contact, config))
        if result.status == "delivered":
            message.provider_id = result.provider_id
            message.sent_at = now
            await self._record(message, "sent", None, contact)
            return True
        if result.status == "deferred" and message.attempts < MAX_ATTEMPTS:
            message.send_at = now + (result.retry_after or backoff(message.attempts))
            await self._record(message, "pending", f"deferred: {result.detail}", contact)
            return False
        detail = result.detail if result.status == "failed" else \
            f"gave up after {message.attempts} attempts: {result.detail}"
        await self._record(message, "failed", detail, contact)
        if result.bounced:
            await self._bounced(contact, message.channel, result.detail, now)
        return False

    def _outbound(self, workspace: g.Workspace, message: MessageRecord, contact: ContactRecord,
                  config: g.ChannelConfig) -> OutboundMessage:
        html, headers = message.html, {}
        if self.links is not None and not message.transactional and message.channel == "email":
            headers = self.links.unsubscribe_headers(workspace.name, contact.id, message.channel)
        if self.links is not None and html:
            html = self.links.track_html(html, workspace.name, contact.id, message.key, message.channel)
        return OutboundMessage(message.key, message.channel, message.template, message.subject, message.body,
                               contact.email, contact.phone, contact.id, message.rule_id, message.transactional,
                               config.settings, html, headers, workspace.name, self.clock.now())

    async def _record(self, message: MessageRecord, status: str, reason: str | None,
                      contact: ContactRecord | None) -> None:
        message.status, message.error = status, reason
        async with self.store.transaction() as tx:
            await tx.save_message(message)
        if status in ("sent",) or (status == "pending" and reason is None):
            return
        kind = {"pending": "message.deferred", "skipped": "message.skipped", "failed": "message.failed"}[status]
        details = {"channel": message.channel, "template": message.template, "reason": reason}
        if status == "pending" and message.send_at is not None:
            details["until"] = message.send_at.isoformat()
        label = contact.label() if contact is not None else f"contact:{message.contact_id}"
        self.emit([Effect(self.clock.now(), label, message.rule_id, kind, details)])

    async def _bounced(self, contact: ContactRecord, channel: str, detail: str, at: datetime) -> None:
        async with self.store.transaction() as tx:
            fresh = await tx.get_contact(contact.id)
            if fresh is None:
                return
            fresh.consent[channel] = {"status": "bounced", "at": at.isoformat(), "source": detail[:300]}
            await tx.save_contact(fresh)

    @staticmethod
    async def _send(channel: Channel, message: OutboundMessage) -> DeliveryResult:
        try:
            return await channel.send(message)
        except Exception as error:  # a plugin's bug must not strand the message in "sending"
            logger.exception("channel %s raised on %s", channel.name, message.key)
            return DeliveryResult("failed", f"channel {channel.name} raised {type(error).__name__}: {error}")
