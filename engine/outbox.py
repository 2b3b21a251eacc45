"""Messages from the outbox to channel plugins: judged once more, sent, retried with backoff, never twice.

A message is claimed (pending -> sending) in one conditional update, so two dispatchers
never send it both, and judged in that transaction with the other due messages of its
contact, one after the other, under the contact's lock (turns.py); the channel gets it
after its step committed; the outcome is recorded after. A deferred answer comes back
later with exponential backoff; a bounce marks the address so no later message goes to it.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

from relance.dsl import graph as g

from .channels import Channel, DeliveryResult, OutboundMessage
from .clock import Clock
from .faults import is_transient
from .links import Links
from .policies import recent_messages
from .records import ContactRecord, MessageRecord
from .store import Store, Transaction
from .timeline import Effect
from .turns import in_turn, turn

logger = logging.getLogger("relance.dispatcher")
Observer = Callable[[str, MessageRecord, "DeliveryResult | None"], None]  # workspace, message as recorded, answer
GROUP = 50  # messages claimed, then recorded, in one transaction
GROUP_TIME = timedelta(seconds=60)  # a group hands back what it has not sent by then (RELANCE_RESEND_AFTER is more)
MAX_ATTEMPTS = 8
FIRST_RETRY = timedelta(minutes=1)
LONGEST_RETRY = timedelta(hours=6)
RECORD_PATIENCE = timedelta(seconds=10)  # a group's outcomes wait this long for the database (far below RELANCE_RESEND_AFTER)
FIRST_RECORD_RETRY = 0.1  # seconds, doubled up to 2 s
Judged = tuple[MessageRecord, ContactRecord | None]


def _set(message: MessageRecord, status: str, reason: str | None) -> None:
    message.status, message.error = status, reason


def backoff(attempts: int) -> timedelta:
    """1 min, 2, 4, … after each deferred attempt, at most 6 h."""
    return min(FIRST_RETRY * 2 ** max(0, attempts - 1), LONGEST_RETRY)


class Dispatcher:
    """Sends one workspace's pending messages through its channel plugins."""

    def __init__(self, store: Store, clock: Clock, channels: Mapping[str, Channel], links: Links | None = None,
                 emit: Callable[[list[Effect]], None] = lambda effects: None) -> None:
        self.store, self.clock, self.channels, self.links, self.emit = store, clock, channels, links, emit
        self.stopping = False  # set when the process is told to stop: the group in hand is the last
        self.group_time = GROUP_TIME  # a group hands back what it has not sent by then
        self.observe: Observer | None = None  # told each recorded outcome (the server's metrics)

    def stop(self) -> None:
        """Claim no new group: a stopping process finishes the messages it holds and leaves the rest."""
        self.stopping = True

    async def recover(self, workspace: str, stuck: timedelta | None = None) -> int:
        """Messages claimed by a process that died are sent again (at least once; channels get
        the same key, so a provider with idempotency keys delivers once). Alone, at start-up:
        every claimed message; beside other processes: those claimed longer than `stuck` ago."""
        before = None if stuck is None else self.clock.now() - stuck
        return await self.store.requeue_sending(workspace, before)

    async def dispatch(self, workspace: g.Workspace, until: datetime | None = None) -> int:
        """Send every pending message whose time has come (claiming no new group after `until`);
        returns how many were delivered.

        Messages go in groups: claimed together in one transaction, handed to their channels
        one by one, their outcomes recorded together in another. A crash in between hands at
        most one group over again, with the same keys.
        """
        delivered = 0
        while not self.stopping and (until is None or self.clock.now() < until):
            sent, more = await self._group(workspace)
            delivered += sent
            if not more:
                break
        return delivered

    async def _group(self, workspace: g.Workspace) -> tuple[int, bool]:
        """(delivered, whether to claim another group) for one group: not when it claimed nothing,
        nor when it handed messages back (a slow channel: they wait for the next dispatch). A group
        shorter than GROUP is no empty outbox: a claim leaves out contacts held elsewhere."""
        now = self.clock.now()
        async with self.store.transaction() as tx:  # the claimed messages' contacts stay locked until it ends
            claimed = await tx.claim_due_messages(workspace.name, now, GROUP)
            contacts = await tx.get_contacts([message.contact_id for message in claimed])
            judged = await self._judge(tx, workspace, claimed, contacts, now)
            settled = [message for message, _ in judged if message.status != "sending"]
            if settled:  # deferred, skipped or failed by the judging: recorded with the claim
                await tx.save_messages(settled)
        going = [(message, contact) for message, contact in judged
                 if message.status == "sending" and contact is not None]
        results: dict[str, DeliveryResult] = {}
        for message, contact in going:
            if self.clock.now() - now > self.group_time:  # slow channels: hand the rest back rather than hold
                _set(message, "pending", None)      # them past the time after which others re-send them
                continue
            results[message.key] = await self._one(workspace, message, contact, now)
        await self._record([message for message, _ in going])
        for message, contact in judged:
            result = results.get(message.key)
            self._report(message, contact)
            if self.observe is not None:
                self.observe(workspace.name, message, result)
            if result is not None and result.bounced and contact is not None:
                await self._bounced(contact, message.channel, result.detail, now)
        return sum(message.status == "sent" for message, _ in going), bool(claimed) and len(results) == len(going)

    async def _judge(self, tx: Transaction, workspace: g.Workspace, claimed: list[MessageRecord],
                     contacts: Mapping[int, ContactRecord], now: datetime) -> list[Judged]:
        """Judge the claimed messages, each contact's together and in turn (turns.in_turn), while its
        lock is held: those that go stay `sending`; the others are deferred (pending again) or
        skipped, or failed when they cannot be sent at all. In the order they are to be sent."""
        judged: list[Judged] = []
        by_contact: dict[int, list[MessageRecord]] = {}
        for message in claimed:
            config = workspace.channels.get(message.channel)
            contact = contacts.get(message.contact_id)
            if contact is None or config is None or config.plugin not in self.channels:
                _set(message, "failed", "the contact was erased" if contact is None else
                     f"no channel plugin for '{message.channel}'")
                judged.append((message, contact))
            else:
                by_contact.setdefault(message.contact_id, []).append(message)
        for contact_id, messages in by_contact.items():
            contact = contacts[contact_id]
            history = await recent_messages(tx, workspace.policy, messages, now)
            for message, verdict in in_turn(workspace.policy, workspace.channels, messages, contact, history, now,
                                            workspace.timezone):
                if verdict.action != "send":
                    message.send_at = verdict.until
                    _set(message, "pending" if verdict.action == "defer" else "skipped", verdict.reason)
                judged.append((message, contact))
        return sorted(judged, key=lambda pair: turn(pair[0]))

    async def _one(self, workspace: g.Workspace, message: MessageRecord, contact: ContactRecord,
                   now: datetime) -> DeliveryResult:
        """Send one message judged to go; its new status is set on it, to be saved by the caller."""
        config = workspace.channels[message.channel]
        message.attempts += 1
        result = await self._send(self.channels[config.plugin], self._outbound(workspace, message, contact, config))
        if result.status != "delivered":  # what the provider said, for whoever reads the log
            logger.warning("message %s (%s, %s on %s) %s, attempt %d: %s", message.key, message.rule_id,
                           message.template, message.channel, result.status, message.attempts, result.detail)
        if result.status == "delivered":
            message.provider_id = result.provider_id
            message.sent_at = now
            _set(message, "sent", None)
        elif result.status == "deferred" and message.attempts < MAX_ATTEMPTS:
            message.send_at = now + (result.retry_after or backoff(message.attempts))
            _set(message, "pending", f"deferred: {result.detail}")
        else:
            _set(message, "failed", result.detail if result.status == "failed" else
                 f"gave up after {message.attempts} attempts: {result.detail}")
        return result

    async def _record(self, messages: list[MessageRecord]) -> None:
        """Save a group's outcomes. The database away for a moment (a restart) is waited for, up to
        RECORD_PATIENCE: what was handed to a channel must not be handed over again."""
        deadline, delay = self.clock.now() + RECORD_PATIENCE, FIRST_RECORD_RETRY
        while True:
            try:
                async with self.store.transaction() as tx:
                    await tx.save_messages(messages)
                return
            except Exception as error:
                if not is_transient(error) or self.clock.now() >= deadline:
                    raise
                logger.warning("recording %d sent messages failed, trying again in %.2f s: %s", len(messages), delay,
                               error)
                await self.clock.sleep(delay)
                delay = min(delay * 2, 2.0)

    def _outbound(self, workspace: g.Workspace, message: MessageRecord, contact: ContactRecord,
                  config: g.ChannelConfig) -> OutboundMessage:
        body, html, headers, capabilities = message.body, message.html, {}, config.traits.capabilities
        if self.links is not None and not message.transactional and "unsubscribe" in capabilities:
            headers = self.links.unsubscribe_headers(workspace.name, contact.id, message.channel)
        if self.links is not None and "tracking" in capabilities:
            body = self.links.track_text(body, workspace.name, contact.id, message.key, message.channel)
            if html:
                html = self.links.track_html(html, workspace.name, contact.id, message.key, message.channel)
        return OutboundMessage(message.key, message.channel, message.template, message.subject, body,
                               contact.email, contact.phone, contact.id, message.rule_id, message.transactional,
                               config.settings, html, headers, workspace.name, self.clock.now())

    def _report(self, message: MessageRecord, contact: ContactRecord | None) -> None:
        """An effect for what became of a message: sent (the channel took it), skipped, deferred, failed."""
        if message.status == "pending" and message.error is None:
            return
        kind = {"sent": "message.sent", "pending": "message.deferred", "skipped": "message.skipped",
                "failed": "message.failed"}[message.status]
        details = {"channel": message.channel, "template": message.template}
        if message.status != "sent":
            details["reason"] = message.error
        if message.status == "pending" and message.send_at is not None:
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
