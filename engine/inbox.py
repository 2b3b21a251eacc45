"""Events in: stored at once in group commits, processed afterwards in arrival order.

A request is answered as soon as its events are durably stored, in one transaction for
all the events that arrived meanwhile from every request (a group commit); the engine
then processes the inbox in order. Nothing is lost in between: an event stored but not
processed is found again in the database (`processed` false) at the next pass or start.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from .clock import Clock
from .events import Event
from .records import EventRecord
from .store import Store

logger = logging.getLogger("relance.inbox")
# unknown_contact: the event names a contact id this workspace does not have (erased, or never was);
# failed: the store refused this event alone (its group was stored without it)
Status = Literal["accepted", "duplicate", "conflict", "unknown_contact", "failed"]


@dataclass(frozen=True, slots=True)
class Received:
    """An event as it arrived; `at_given` is false when the sender left its time to us."""

    event: Event
    at_given: bool = True


class GroupCommit:
    """Stores the events of concurrent callers in one transaction: one commit for many requests."""

    def __init__(self, store: Store, workspace: str, clock: Clock) -> None:
        self.store, self.workspace, self.clock = store, workspace, clock
        self._queue: list[tuple[Sequence[Received], asyncio.Future[list[Status]]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def submit(self, items: Sequence[Received]) -> list[Status]:
        """Store these events (or find them stored already); the status of each, in order."""
        future: asyncio.Future[list[Status]] = asyncio.get_running_loop().create_future()
        self._queue.append((items, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        return await future

    async def idle(self) -> None:
        """Wait while events are being stored: storing (and answering) goes before processing."""
        while self._flusher is not None and not self._flusher.done():
            await asyncio.shield(self._flusher)

    async def _flush(self) -> None:
        while self._queue:
            group, self._queue = self._queue, []
            items = [item for items, _ in group for item in items]
            try:
                statuses = await self._commit(items)
            except Exception:  # one event the store refuses must not fail the others: each alone
                logger.warning("a group commit of %d events failed; storing them one at a time", len(items),
                               exc_info=True)
                statuses = [await self._alone(item) for item in items]
            start = 0
            for items, future in group:
                if not future.done():  # a caller that went away (client disconnected)
                    future.set_result(statuses[start:start + len(items)])
                start += len(items)

    async def _alone(self, item: Received) -> Status:
        try:
            [status] = await self._commit([item])
        except Exception:
            logger.exception("event %s could not be stored", item.event.id)
            return "failed"
        return status

    async def _commit(self, items: Sequence[Received]) -> list[Status]:
        now = self.clock.now()
        statuses: list[Status] = []
        new: list[EventRecord] = []
        async with self.store.transaction() as tx:
            known = await tx.get_events(self.workspace, list(dict.fromkeys(i.event.id for i in items)))
            named = {i.event.contact.id for i in items if i.event.contact.id is not None}
            contacts = await tx.get_contacts(sorted(named)) if named else {}
            for item in items:
                event, payload = item.event, item.event.as_json()
                stored = known.get(event.id)
                contact = contacts.get(event.contact.id) if event.contact.id is not None else None
                if stored is None and event.contact.id is not None \
                        and (contact is None or contact.workspace != self.workspace):
                    statuses.append("unknown_contact")
                elif stored is None:
                    record = EventRecord(self.workspace, event.id, event.type, event.at, now, payload, processed=False)
                    known[event.id] = record
                    new.append(record)
                    statuses.append("accepted")
                else:
                    statuses.append("duplicate" if same_fact(stored.payload, payload, item.at_given) else "conflict")
            await tx.insert_events(new)
        return statuses


def same_fact(stored: Mapping[str, Any], incoming: Mapping[str, Any], at_given: bool) -> bool:
    """The same event sent again; without `at_given`, the time we stamped is not compared."""
    ignored = () if at_given else ("at",)
    return {k: v for k, v in stored.items() if k not in ignored} == \
        {k: v for k, v in incoming.items() if k not in ignored}
