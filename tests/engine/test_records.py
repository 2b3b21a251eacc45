"""Records: what rule expressions see of a contact, how it is named, and the run statuses."""
from __future__ import annotations

import pytest

from relance.engine.records import ACTIVE_STATUSES, ENDED_STATUSES, OPEN_STATUSES, MessageRecord, RunRecord

from .conftest import T0, contact_record


def test_a_contacts_view_is_its_attributes_under_its_own_fields() -> None:
    contact = contact_record(7, attributes={"first_name": "Alice", "score": 999, "email": "spoof@x.test"},
                             tags=["vip"], score=3, segments=["buyers"], timezone="Europe/Paris")
    view = contact.view()
    assert (view["first_name"], view["id"], view["email"], view["score"]) == ("Alice", 7, "alice@example.test", 3)
    assert (view["tags"], view["segments"], view["timezone"], view["phone"]) == (["vip"], ["buyers"], "Europe/Paris",
                                                                                 None)


@pytest.mark.parametrize("fields, label", [
    ({}, "alice@example.test"),
    ({"email": None, "phone": "+33600000000"}, "+33600000000"),
    ({"email": None, "external_ids": {"shopify": "73", "crm": "9"}}, "crm:9"),
    ({"email": None}, "contact:1"),
])
def test_a_contacts_label_is_email_else_phone_else_an_external_id(fields: dict, label: str) -> None:
    assert contact_record(**fields).label() == label


def test_run_statuses_are_active_open_or_ended_never_two() -> None:
    assert set(ACTIVE_STATUSES) < set(OPEN_STATUSES)
    assert set(OPEN_STATUSES) - set(ACTIVE_STATUSES) == {"converting"}
    assert not set(OPEN_STATUSES) & set(ENDED_STATUSES)


def test_new_records_start_as_the_engine_expects() -> None:
    run = RunRecord("shop", 1, "r", "v", T0, T0, {})
    assert (run.status, run.version, run.trace, run.id) == ("active", 1, [], None)
    other = RunRecord("shop", 1, "r", "v", T0, T0, {})
    run.trace.append({"at": "x"})
    assert other.trace == []  # each record its own lists
    message = MessageRecord("shop", "1:n:1", 1, 1, "r", "n", "chat", "ping", None, "ping", T0)
    assert (message.status, message.attempts, message.priority, message.send_at) == ("pending", 0, 0, None)
