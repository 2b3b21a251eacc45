"""The contacts of an inbox group: an identity map over the group's transaction, written once at the end."""
from __future__ import annotations

from collections import Counter
from typing import Any

from relance.engine.contact_cache import CachedContacts

ALICE, BOB = ("email", "alice@example.test"), ("email", "bob@example.test")
WORKSPACE = """\
workspace: shop
channels: {chat: {plugin: log}}
templates: {ping: {chat: "ping"}}
rules: []
"""


class Counting:
    """A transaction that counts the calls made to it."""

    def __init__(self, tx: Any) -> None:
        self.tx, self.calls = tx, Counter[str]()

    def __getattr__(self, name: str) -> Any:
        self.calls[name] += 1
        return getattr(self.tx, name)


async def test_a_contact_is_read_once_the_same_object_every_time_and_written_at_flush(open_shop) -> None:
    shop = await open_shop(WORKSPACE)
    for email in ("alice@example.test", "bob@example.test"):
        await shop.event("page.viewed", {"email": email})
    async with shop.engine.store.transaction() as tx:
        counting = Counting(tx)
        cached = CachedContacts(counting)  # type: ignore[arg-type]
        await cached.prefetch("shop", [ALICE, BOB, ("email", "nobody@example.test")])
        assert counting.calls == {"identity_owners": 1, "get_contacts": 1}
        [alice] = await cached.find_contacts("shop", [ALICE])
        assert await cached.find_contacts("shop", [ALICE]) == [alice]
        assert (await cached.find_contacts("shop", [ALICE]))[0] is alice
        assert await cached.get_contact(alice.id) is alice
        assert await cached.find_contacts("shop", [("email", "nobody@example.test")]) == []
        assert counting.calls == {"identity_owners": 1, "get_contacts": 1}  # all from memory
        assert [c.email for c in await cached.find_contacts("shop", [BOB, ALICE])] == [
            "alice@example.test", "bob@example.test"]  # oldest first
        alice.score = 50
        await cached.save_contact(alice)
        assert (await tx.get_contact(alice.id)).score == 0  # type: ignore[union-attr]  # written at flush only
        await cached.flush()
        assert (await tx.get_contact(alice.id)).score == 50  # type: ignore[union-attr]
        assert counting.calls["save_contacts"] == 1


async def test_identities_added_and_merges_are_followed_in_memory(open_shop) -> None:
    shop = await open_shop(WORKSPACE)
    for email in ("alice@example.test", "bob@example.test"):
        await shop.event("page.viewed", {"email": email})
    phone = ("phone", "+33600000000")
    async with shop.engine.store.transaction() as tx:
        cached = CachedContacts(tx)
        [alice] = await cached.find_contacts("shop", [ALICE])
        [bob] = await cached.find_contacts("shop", [BOB])
        await cached.add_identities(alice, [phone])
        assert await cached.find_contacts("shop", [phone]) == [alice]
        await cached.merge_contacts(alice, bob)
        assert await cached.find_contacts("shop", [BOB]) == [alice]  # bob's identity now leads to alice
    async with shop.engine.store.transaction() as tx:
        assert [c.id for c in await tx.find_contacts("shop", [phone, BOB])] == [alice.id]
