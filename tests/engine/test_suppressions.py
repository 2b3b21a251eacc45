"""The suppression list: erased and opted-out addresses kept as keyed hashes; an address on it comes back opted out."""
from __future__ import annotations

from datetime import timedelta

from relance.engine.suppressions import Suppressions

from .conftest import T0, contact_record

WORKSPACE = """\
workspace: shop
channels: {email: {plugin: log, address: email}, sms: {plugin: log, address: phone}, chat: {plugin: log}}
templates: {ping: {chat: "ping"}}
rules: []
"""


def test_a_digest_is_keyed_and_never_the_address() -> None:
    list_, other = Suppressions("server-key"), Suppressions("another-key")
    digest = list_.digest("email", "alice@example.test")
    assert "alice" not in digest and len(digest) == 64
    assert digest == list_.digest("email", "  Alice@Example.TEST ")  # an address is case-blind
    assert digest != other.digest("email", "alice@example.test")
    assert list_.digest("phone", "+33600000000") == list_.digest("phone", " +33600000000")
    assert list_.digest("email", "x") != list_.digest("phone", "x")


async def test_erased_addresses_opt_a_new_contact_out_of_the_channels_to_them(open_shop) -> None:
    shop = await open_shop(WORKSPACE)
    await shop.event("page.viewed", {"email": "alice@example.test", "phone": "+33600000000",
                                     "external_ids": {"shop": "7"}})
    await shop.event("page.viewed", {"email": "bob@example.test"})
    suppressions = Suppressions("server-key")
    alice_email, bob_email = (suppressions.digest("email", f"{name}@example.test") for name in ("alice", "bob"))
    async with shop.engine.store.transaction() as tx:
        alice, bob = await tx.get_contact(1), await tx.get_contact(2)
        assert alice is not None and bob is not None
        bob.consent["email"] = {"status": "opted_out"}
        await suppressions.add_erased(tx, alice, T0)
        await suppressions.add_erased(tx, bob, T0)
        alice.consent["email"] = {"status": "bounced"}
        await suppressions.add_erased(tx, alice, T0 + timedelta(days=1))  # listed already: its first reason stays
        listed = await tx.suppressed("shop", [alice_email, bob_email, suppressions.digest("phone", "+33600000000"),
                                              suppressions.digest("ext:shop", "7")])
    assert sorted(listed.values()) == [("erased", T0), ("erased", T0), ("opted_out", T0)]  # external ids are no address
    again = contact_record(3, consent={"sms": {"status": "opted_in", "at": T0.isoformat()}})
    async with shop.engine.store.transaction() as tx:
        await suppressions.screen(tx, again, [("email", "Alice@example.test"), ("phone", "+33600000000")],
                                  shop.engine.workspace)
    assert again.consent == {
        "email": {"status": "opted_out", "at": T0.isoformat(), "source": "suppression list (erased)"},
        "sms": {"status": "opted_in", "at": T0.isoformat()},  # a consent it has stays
    }
