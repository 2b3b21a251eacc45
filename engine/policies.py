"""The rules of the trade every marketing message obeys, whatever its channel.

Judged when a step queues a message (the run's trace says why it waits or is skipped)
and again by the dispatcher just before it leaves (the contact may have unsubscribed
meanwhile): an address, consent, no offer twice, frequency caps, quiet hours.
Transactional messages need an address only.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from relance.dsl import graph as g

from .records import ContactRecord, MessageRecord
from .store import Transaction

COUNTED = ("sending", "sent")  # given their slot, they count towards caps and offers (see turns.py)
NO_GO = {"opted_out": "opted out", "bounced": "bounced"}


@dataclass(frozen=True, slots=True)
class Verdict:
    """send now, defer until `until`, or skip; `reason` in words for the trace."""

    action: Literal["send", "defer", "skip"]
    reason: str = ""
    until: datetime | None = None


SEND = Verdict("send")


def judge(policy: g.Policy, config: g.ChannelConfig | None, message: MessageRecord, contact: ContactRecord,
          history: Sequence[MessageRecord], at: datetime, zone: str) -> Verdict:
    """What to do with `message` at `at`, given the contact's other recent messages (`history`).

    The address and the default consent are what the channel's plugin declares (its traits).
    """
    channel = message.channel
    config = config or g.ChannelConfig(channel, "", {})
    kind = config.traits.address
    if kind is not None and not getattr(contact, kind):
        return Verdict("skip", f"no {'email address' if kind == 'email' else 'phone number'} for this contact")
    state = consent_state(contact.consent, channel)
    if state == "bounced":
        return Verdict("skip", f"the contact's {channel} address bounced")
    if message.transactional:
        return SEND
    rule = policy.consent_rule(config)
    if rule != "none" and state == "opted_out":
        return Verdict("skip", f"no consent: the contact opted out of {channel}")
    if rule == "opt_in" and state != "opted_in":
        return Verdict("skip", f"no consent: {channel} needs an opt-in and the contact has not given one")
    others = [m for m in history if m.status in COUNTED and m.key != message.key and not m.transactional]
    if message.offer:
        earlier = [m for m in others if m.offer == message.offer and _when(m) > at - policy.offer_window]
        if earlier:
            return Verdict("skip", f"offer {message.offer} already sent on {earlier[0].channel} "
                                   f"within {_span(policy.offer_window)}")
    for scope, cap in policy.frequency.items():
        if scope != "all" and scope != channel:
            continue
        inside = sorted(_when(m) for m in others if (scope == "all" or m.channel == channel)
                        and at - cap.per < _when(m) <= at)
        if len(inside) >= cap.max:
            what = f"{cap.max} {'message' if cap.max == 1 else 'messages'} per {_span(cap.per)}" \
                   + ("" if scope == "all" else f" on {channel}")
            if cap.over == "skip":
                return Verdict("skip", f"frequency cap reached ({what})")
            until = inside[len(inside) - cap.max] + cap.per
            return Verdict("defer", f"frequency cap reached ({what})", until)
    quiet = policy.quiet_hours.get(channel) or policy.quiet_hours.get("all")
    if quiet is not None:
        end = quiet_end(at, quiet, contact.timezone or zone)
        if end is not None:
            return Verdict("defer", f"quiet hours {quiet[0]:%H:%M}-{quiet[1]:%H:%M} for {channel}", end)
    return SEND


def consent_state(consent: Mapping[str, Any], channel: str) -> str:
    """opted_in, opted_out, bounced or unknown."""
    entry = consent.get(channel)
    return str(entry.get("status", "unknown")) if isinstance(entry, Mapping) else "unknown"


def quiet_end(at: datetime, window: tuple[time, time], zone: str) -> datetime | None:
    """When the quiet hours around `at` end in `zone`, or None if `at` is outside them."""
    start, end = window
    local = at.astimezone(ZoneInfo(zone))
    now = local.time().replace(tzinfo=None)
    inside = (start <= now < end) if start < end else (now >= start or now < end)
    if not inside:
        return None
    day = local.date() if now < end else local.date() + timedelta(days=1)
    return datetime.combine(day, end, tzinfo=local.tzinfo).astimezone(at.tzinfo)


def _when(message: MessageRecord) -> datetime:
    return message.sent_at or message.claimed_at or message.send_at or message.created_at


def _span(delta: timedelta) -> str:
    if delta % timedelta(days=1) == timedelta(0):
        return f"{delta.days}d"
    if delta % timedelta(hours=1) == timedelta(0):
        return f"{int(delta.total_seconds() // 3600)}h"
    return f"{int(delta.total_seconds() // 60)}m"


def horizon(policy: g.Policy) -> timedelta:
    """How far back caps and offers look."""
    return max([policy.offer_window, *(cap.per for cap in policy.frequency.values())])


async def recent_messages(tx: Transaction, policy: g.Policy, messages: Sequence[MessageRecord],
                          at: datetime) -> list[MessageRecord]:
    """The messages `judge` needs for these messages of one contact: none unless an offer or a
    frequency cap is to be checked."""
    if all(m.transactional or (not m.offer and not policy.frequency) for m in messages):
        return []
    return await tx.contact_messages(messages[0].contact_id, at - horizon(policy))
