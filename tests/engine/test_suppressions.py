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


async def test_an_erased_contacts_addresses_opt_a_new_contact_out_of_the_channels_to_them(open_shop) -> None:
    shop = await open_shop(WORKSPACE)
    await shop.event("page.viewed", {"email": "alice@example.test", "phone": "+33600000000",
                                     "external_ids": {"shop": "7"}})
    suppressions = Suppressions("server-key")
    async with shop.engine.store.transaction() as tx:
        erased = await tx.get_contact(1)
        assert erased is not None
        await suppressions.add_erased(tx, erased, T0)
        listed = await tx.suppressed("shop", [suppressions.digest("email", "alice@example.test"),
                                              suppressions.digest("phone", "+33600000000"),
                                              suppressions.digest("ext:shop", "7")])
    assert sorted(reason for reason, _ in listed.values()) == ["erased", "erased"]  # external ids are no address
    again = contact_record(2, consent={"sms": {"status": "opted_in", "at": T0.isoformat()}})
    async with shop.engine.store.transaction() as tx:
        await suppressions.screen(tx, again, [("email", "Alice@example.test"), ("phone", "+33600000000")],
                                  shop.engine.workspace)
    assert again.consent == {
        "email": {"status": "opted_out", "at": T0.isoformat(), "source": "suppression list (erased)"},
        "sms": {"status": "opted_in", "at": T0.isoformat()},  # a consent it has stays
    }


async def test_an_opted_out_contact_is_listed_as_opted_out(open_shop) -> None:
    shop = await open_shop(WORKSPACE)
    await shop.event("page.viewed")
    suppressions = Suppressions("server-key")
    async with shop.engine.store.transaction() as tx:
        contact = await tx.get_contact(1)
        assert contact is not None
        contact.consent["email"] = {"status": "opted_out"}
        await suppressions.add_erased(tx, contact, T0 + timedelta(days=1))
        [(reason, since)] = (await tx.suppressed("shop", [suppressions.digest("email", "alice@example.test")])).values()
    assert (reason, since) == ("opted_out", T0 + timedelta(days=1))
