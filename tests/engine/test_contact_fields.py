"""The contact fields `relance check` takes as provided are those the engine really gives a contact."""
from __future__ import annotations

from datetime import datetime, timezone

from relance.engine.events import parse_event
from relance.engine.profiles import CONTACT_FIELDS, apply_traits
from relance.engine.records import ContactRecord

AT = "2026-03-02T10:00:00+00:00"


def test_every_field_the_engine_keeps_is_known() -> None:
    contact = ContactRecord(id=1, workspace="shop", created_at=datetime(2026, 3, 2, tzinfo=timezone.utc))
    for kind, properties in (("order.completed", {"revenue": 10}), ("checkout.started", {"cart": {"total": 5}}),
                             ("contact.unsubscribed", {}), ("page.viewed", {})):
        apply_traits(contact, parse_event({"id": kind, "type": kind, "at": AT, "contact": {"email": "a@b.test"},
                                           "properties": properties}))
    assert set(contact.view()) - set(CONTACT_FIELDS) == set()


def test_usual_traits_are_known() -> None:
    assert {"first_name", "last_name", "birthday", "timezone", "phone", "email"} <= set(CONTACT_FIELDS)
