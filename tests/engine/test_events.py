"""Events as the API takes them: parsed into an Event, or refused with the JSON pointer of the field at fault."""
from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from relance.engine.events import (MAX_DEPTH, ContactRef, Event, EventConflict, EventError, Unusable, loads,
                                   parse_event, stored_view)

from .conftest import T0


def event(**changes: Any) -> dict[str, Any]:
    data = {"id": "e1", "type": "checkout.started", "at": "2026-03-02T10:00:00+01:00",
            "contact": {"email": "Alice@Example.test"}, "properties": {"cart": {"total": 80}}}
    data.update(changes)
    return {k: v for k, v in data.items() if v is not ...}


def refusal(data: Any, now: datetime | None = None) -> tuple[str, str]:
    with pytest.raises(EventError) as raised:
        parse_event(data, now)
    return raised.value.pointer, raised.value.message


def test_an_event_is_parsed_with_its_time_in_utc_and_its_contact_normalised() -> None:
    parsed = parse_event(event(contact={"email": " Alice@Example.test ", "phone": " +33600000000 ",
                                        "external_ids": {"shopify": 7301}, "first_name": "Alice"}))
    assert (parsed.id, parsed.type, parsed.at, parsed.properties) == ("e1", "checkout.started", T0,
                                                                      {"cart": {"total": 80}})
    assert parsed.contact == ContactRef(None, "alice@example.test", "+33600000000", {"shopify": "7301"},
                                        {"first_name": "Alice"})
    assert parsed.contact.identities() == [("email", "alice@example.test"), ("phone", "+33600000000"),
                                           ("ext:shopify", "7301")]


def test_a_segment_style_type_is_made_canonical_and_at_defaults_to_now() -> None:
    parsed = parse_event(event(type="Order Completed", at=...), now=T0)
    assert (parsed.type, parsed.at) == ("order.completed", T0)


@pytest.mark.parametrize("data, pointer, start", [
    ([], "", "expected an event object"),
    (event(extra=1), "/extra", "unknown field"),
    (event(id=""), "/id", "expected a non-empty string"),
    (event(type=" "), "/type", "expected an event type"),
    (event(type="x" * 201), "/type", "at most 200 characters"),
    (event(at=...), "/at", "missing"),
    (event(at="yesterday"), "/at", "'yesterday' is not an ISO 8601 time"),
    (event(at="2026-03-02T10:00:00"), "/at", "'2026-03-02T10:00:00' has no timezone"),
    (event(at="1850-01-01T00:00:00Z"), "/at", "'1850-01-01T00:00:00Z' is outside the years 1900 to 2999"),
    (event(properties=[]), "/properties", "expected an object"),
    (event(properties={"note": "a\x00b"}), "/properties/note", "contains a NUL character"),
    (event(properties={"a/b": {"c~d": [1, float("nan")]}}), "/properties/a~1b/c~0d/1", "not a finite number"),
    (event(properties={"n": 2 ** 64}), "/properties/n", "a whole number beyond 2^63"),
    (event(type="order.completed", properties={"total": "lots"}), "/properties/total", "expected an amount"),
    (event(contact="alice"), "/contact", "expected an object naming the contact"),
    (event(contact={}), "/contact", "names no one"),
    (event(contact={"email": "alice"}), "/contact/email", "'alice' is not an email address"),
    (event(contact={"email": ""}), "/contact/email", "expected a non-empty string"),
    (event(contact={"id": 0}), "/contact/id", "expected Relance's contact id"),
    (event(contact={"id": True}), "/contact/id", "expected Relance's contact id"),
    (event(contact={"external_ids": {"shop": True}}), "/contact/external_ids", "expected an object of source to id"),
    (event(contact={"id": 1, "timezone": "Mars/Olympus"}), "/contact/timezone", "unknown timezone 'Mars/Olympus'"),
    (event(contact={"id": 1, "orders_count": -1}), "/contact/orders_count", "expected a whole number of orders"),
    (event(contact={"id": 1, "notes": "x" * 20_000}), "/contact", "its traits take"),
])
def test_a_bad_event_is_refused_naming_the_field(data: Any, pointer: str, start: str) -> None:
    found_pointer, message = refusal(data)
    assert (found_pointer, message[:len(start)]) == (pointer, start)


def test_nesting_is_limited() -> None:
    deep: Any = 1
    for _ in range(MAX_DEPTH + 1):
        deep = [deep]
    pointer, message = refusal(event(properties={"deep": deep}))
    assert message == f"nested deeper than {MAX_DEPTH} levels" and pointer.startswith("/properties/deep/0")


def test_an_error_message_starts_with_its_pointer() -> None:
    assert str(EventError("/at", "missing")) == "/at: missing" and str(EventError("", "bad")) == "/: bad"
    conflict = EventConflict("e1")
    assert (conflict.pointer, conflict.event_id) == ("/id", "e1") and "different body" in conflict.message


def test_loads_keeps_numbers_no_database_can_hold_for_the_check_to_name() -> None:
    data = loads('{"a": NaN, "b": 1e400, "c": 123456789012345678901234, "d": 1.5, "e": 3}')
    assert [type(data[k]) for k in "abc"] == [Unusable, Unusable, Unusable] and (data["d"], data["e"]) == (1.5, 3)
    pointer, message = refusal(event(properties=data))
    assert pointer == "/properties/a" and "cannot be used" in message


def test_an_event_as_json_reads_back_as_the_same_view() -> None:
    parsed = parse_event(event(contact={"email": "a@x.test", "external_ids": {"shop": "7"}, "first_name": "A"}))
    stored = parsed.as_json()
    assert stored["contact"] == {"email": "a@x.test", "external_ids": {"shop": "7"}, "first_name": "A"}
    assert stored_view(stored) == parsed.view() == {"cart": {"total": 80}, "id": "e1", "type": "checkout.started",
                                                    "at": T0}
    assert parse_event(stored) == parsed


@pytest.mark.parametrize("ref, label", [(ContactRef(email="a@x.test", phone="+1"), "a@x.test"),
                                        (ContactRef(phone="+1"), "+1"),
                                        (ContactRef(external_ids={"shop": "7", "crm": "2"}), "crm:2"),
                                        (ContactRef(id=9), "contact:9")])
def test_a_contact_ref_is_labelled_by_its_first_identity(ref: ContactRef, label: str) -> None:
    assert ref.label() == label


def test_an_event_is_a_frozen_value() -> None:
    parsed = Event("e", "t", T0, ContactRef(id=1), {})
    with pytest.raises(AttributeError):
        parsed.id = "f"  # type: ignore[misc]
