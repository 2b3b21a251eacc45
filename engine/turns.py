"""Messages due together take the slots caps allow in turn: highest priority first, then oldest.

A cap counts the messages given their slot (being sent, or sent), never those still waiting:
two messages released together at 09:00 are judged one after the other, the first goes and the
cap then applies to the rest; one deferred gets the next slot that frees, in turn. The
dispatcher judges a contact's due messages together, under the contact's lock; a step that
queues a message behind others due now leaves the decision to it.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from datetime import datetime

from relance.dsl import graph as g

from .policies import Verdict, judge
from .records import ContactRecord, MessageRecord

LAST = 2 ** 63  # the id of a message not stored yet: after those that are


def turn(message: MessageRecord) -> tuple[int, datetime, int]:
    """The order messages due together are judged in: higher priority, then older, then queued first."""
    return -message.priority, message.created_at, LAST if message.id is None else message.id


def in_turn(policy: g.Policy, channels: Mapping[str, g.ChannelConfig], messages: Sequence[MessageRecord],
            contact: ContactRecord, history: Sequence[MessageRecord], at: datetime,
            zone: str) -> list[tuple[MessageRecord, Verdict]]:
    """One contact's `messages`, due at `at`, judged one after the other in turn: each one that may
    go counts for those after it. `history` is the contact's recent messages; these very messages
    among them (read after being claimed) are judged, not counted."""
    judged = {message.key for message in messages}
    counted = [m for m in history if m.key not in judged]
    verdicts = []
    for message in sorted(messages, key=turn):
        verdict = judge(policy, channels.get(message.channel), message, contact, counted, at, zone)
        if verdict.action == "send":
            counted.append(_going(message, at))
        verdicts.append((message, verdict))
    return verdicts


def judge_queued(policy: g.Policy, config: g.ChannelConfig | None, message: MessageRecord, contact: ContactRecord,
                 history: Sequence[MessageRecord], at: datetime, zone: str) -> Verdict:
    """`judge` for a message a step queues. When the pending messages due before it in turn would
    take what the caps allow, it waits its turn: the dispatcher judges them all in order, now."""
    verdict = judge(policy, config, message, contact, history, at, zone)
    if verdict.action != "send" or message.status != "pending":  # a draft is judged when approved
        return verdict
    ahead = [_going(m, at) for m in history
             if m.status == "pending" and m.key != message.key and (m.send_at is None or m.send_at <= at)
             and turn(m) < turn(message)]
    behind = judge(policy, config, message, contact, [*history, *ahead], at, zone) if ahead else verdict
    if behind.action == "send":
        return verdict
    earlier = f"{len(ahead)} earlier {'message' if len(ahead) == 1 else 'messages'}"
    return Verdict("defer", f"waits its turn after {earlier} due now ({behind.reason})", at)


def _going(message: MessageRecord, at: datetime) -> MessageRecord:
    """The message as counted once given its slot at `at`."""
    return dataclasses.replace(message, status="sending", claimed_at=at)
