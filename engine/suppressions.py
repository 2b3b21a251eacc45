"""The suppression list: addresses of erased contacts (GDPR) and opted-out ones, kept as keyed
hashes (HMAC-SHA256 under a secret of their own), never as the addresses themselves.

A contact erased after it opted out must not be written to again because an import or an
event re-creates it: an address on the list comes back opted out of every channel that
delivers to it, until the person opts in again (a `contact.subscribed` event).
"""
from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence
from datetime import datetime

from relance.dsl import graph as g

from .records import ContactRecord
from .store import Transaction

KINDS = ("email", "phone")  # what channels deliver to; external ids are not addresses


class Suppressions:
    """Keyed hashes of addresses; the key is the server's (kept in the database), not the links'
    secret, so that rotating RELANCE_SECRET does not forget the list."""

    def __init__(self, secret: str) -> None:
        self._key = secret.encode()

    def digest(self, kind: str, value: str) -> str:
        normal = value.strip().lower() if kind == "email" else value.strip()
        return hmac.new(self._key, f"{kind}:{normal}".encode(), hashlib.sha256).hexdigest()

    async def add_erased(self, tx: Transaction, contact: ContactRecord, at: datetime) -> None:
        """Before a contact is erased: its addresses, with why they must not be written to."""
        opted_out = any(isinstance(c, Mapping) and c.get("status") in ("opted_out", "bounced")
                        for c in contact.consent.values())
        reason = "opted_out" if opted_out else "erased"
        addresses = [(kind, value) for kind, value in await tx.contact_identities(contact.id) if kind in KINDS]
        await tx.add_suppressions(contact.workspace, [self.digest(k, v) for k, v in addresses], reason, at)

    async def screen(self, tx: Transaction, contact: ContactRecord, identities: Sequence[tuple[str, str]],
                     workspace: g.Workspace) -> None:
        """Addresses new to `contact` that are on the list opt it out of the workspace's channels that
        deliver to them; a consent it has for such a channel stays."""
        channels = {name: config.traits.address for name, config in workspace.channels.items()}  # the plugin's word
        wanted = {self.digest(kind, value): kind for kind, value in identities if kind in KINDS}
        if not wanted:
            return
        found = await tx.suppressed(contact.workspace, list(wanted))
        for digest, (reason, since) in found.items():
            for channel, kind in channels.items():
                if kind == wanted[digest] and channel not in contact.consent:  # an opt-in after `since` wins
                    contact.consent[channel] = {"status": "opted_out", "at": since.isoformat(),
                                                "source": f"suppression list ({reason})"}
