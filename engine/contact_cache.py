"""The contacts of a group of events, read once and written once, inside the group's transaction.

Processing an inbox group reads each event's contact by identity, changes its profile, walks its
runs (which may change it again) and goes on to the next event, often of the same contact. This
transaction wraps the store's: the group's contacts are read in one query at the start, found by
identity in memory after that, and the changed ones written together at the end. Nothing else can
change them meanwhile: the group holds their identities' and contacts' locks (PostgreSQL), or the
only writer's place (SQLite).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .records import ContactRecord
from .store import Transaction


class CachedContacts:
    """A transaction whose contact reads and writes go through an identity map; the rest passes through."""

    def __init__(self, tx: Transaction) -> None:
        self._tx = tx
        self._by_id: dict[int, ContactRecord] = {}
        self._owner: dict[tuple[str, str], int] = {}  # identity -> contact id, for the identities looked up
        self._looked_up: set[tuple[str, str]] = set()
        self._dirty: dict[int, ContactRecord] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._tx, name)

    async def prefetch(self, workspace: str, identities: Sequence[tuple[str, str]]) -> None:
        """Read the contacts owning any of these identities, and which owns which, in two queries."""
        wanted = [identity for identity in identities if identity not in self._looked_up]
        if not wanted:
            return
        for (kind, value), contact_id in (await self._tx.identity_owners(workspace, wanted)).items():
            self._owner[(kind, value)] = contact_id
        self._looked_up.update(wanted)
        missing = sorted({i for i in self._owner.values() if i not in self._by_id})
        self._by_id.update(await self._tx.get_contacts(missing))

    async def find_contacts(self, workspace: str, identities: Sequence[tuple[str, str]]) -> list[ContactRecord]:
        await self.prefetch(workspace, identities)
        ids = {self._owner[i] for i in identities if i in self._owner}
        found = [self._by_id[i] for i in ids if i in self._by_id and self._by_id[i].merged_into is None]
        return sorted(found, key=lambda contact: contact.id)

    async def get_contact(self, contact_id: int) -> ContactRecord | None:
        if contact_id not in self._by_id:
            found = await self._tx.get_contact(contact_id)
            if found is None:
                return None
            self._by_id[contact_id] = found
        return self._by_id[contact_id]

    async def create_contact(self, contact: ContactRecord) -> ContactRecord:
        created = await self._tx.create_contact(contact)
        self._by_id[created.id] = created
        return created

    async def save_contact(self, contact: ContactRecord) -> None:
        self._by_id[contact.id] = contact
        self._dirty[contact.id] = contact

    async def add_identities(self, contact: ContactRecord, identities: Sequence[tuple[str, str]]) -> None:
        await self._tx.add_identities(contact, identities)
        for identity in identities:
            self._owner.setdefault(identity, contact.id)  # one taken meanwhile by another contact stays its
            self._looked_up.add(identity)

    async def merge_contacts(self, survivor: ContactRecord, merged: ContactRecord) -> None:
        await self.flush()
        await self._tx.merge_contacts(survivor, merged)
        self._by_id[merged.id] = merged
        for identity, owner in list(self._owner.items()):
            if owner == merged.id:
                self._owner[identity] = survivor.id

    async def flush(self) -> None:
        """Write the contacts changed since the last flush (before the transaction commits)."""
        if self._dirty:
            await self._tx.save_contacts(list(self._dirty.values()))
            self._dirty = {}
