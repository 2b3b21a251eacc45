"""Events as the API takes them, validated with the JSON field named in every error."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from relance.dsl.errors import RelanceError
from relance.dsl.event_names import canonical_event_type

IDENTITY_KEYS = ("id", "email", "phone")


class EventError(RelanceError):
    """A bad event: `pointer` is the JSON pointer of the field at fault (RFC 6901)."""

    def __init__(self, pointer: str, message: str) -> None:
        super().__init__(f"{pointer or '/'}: {message}")
        self.pointer, self.message = pointer, message


class EventConflict(EventError):
    """An event id already stored with a different body."""

    def __init__(self, event_id: str, pointer: str = "/id") -> None:
        super().__init__(pointer, f"event '{event_id}' was already received with a different body; "
                                  "an event id names one fact: send a new id for a new event")
        self.event_id = event_id


@dataclass(frozen=True, slots=True)
class ContactRef:
    """How an event names its contact: any of an id, an email, a phone, external ids."""

    id: int | None = None
    email: str | None = None
    phone: str | None = None
    external_ids: Mapping[str, str] = field(default_factory=dict)
    attributes: Mapping[str, Any] = field(default_factory=dict)  # first_name, timezone, …

    def identities(self) -> list[tuple[str, str]]:
        """(kind, value) pairs used to find the contact: email, phone, ext:SOURCE."""
        found = []
        if self.email:
            found.append(("email", self.email))
        if self.phone:
            found.append(("phone", self.phone))
        found += [(f"ext:{source}", value) for source, value in sorted(self.external_ids.items())]
        return found

    def label(self) -> str:
        """The contact as the events named it: email, else phone, else an external id."""
        if self.email:
            return self.email
        if self.phone:
            return self.phone
        if self.external_ids:
            source, value = sorted(self.external_ids.items())[0]
            return f"{source}:{value}"
        return f"contact:{self.id}"


@dataclass(frozen=True, slots=True)
class Event:
    id: str
    type: str
    at: datetime
    contact: ContactRef
    properties: Mapping[str, Any]

    def view(self) -> dict[str, Any]:
        """What rule expressions see as `event`: the properties, plus id, type and at."""
        return {**self.properties, "id": self.id, "type": self.type, "at": self.at}

    def as_json(self) -> dict[str, Any]:
        contact: dict[str, Any] = {k: v for k, v in (("id", self.contact.id), ("email", self.contact.email),
                                                     ("phone", self.contact.phone)) if v is not None}
        if self.contact.external_ids:
            contact["external_ids"] = dict(self.contact.external_ids)
        contact.update(self.contact.attributes)
        return {"id": self.id, "type": self.type, "at": self.at.isoformat(), "contact": contact,
                "properties": dict(self.properties)}


def stored_view(payload: Mapping[str, Any]) -> dict[str, Any]:
    """`Event.view()` of an event kept as JSON (`Event.as_json()`), its time parsed back."""
    at = payload.get("at")
    return {**(payload.get("properties") or {}), "id": payload.get("id"), "type": payload.get("type"),
            "at": parse_time(at, "/at") if isinstance(at, str) else at}


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, Mapping):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


def parse_time(value: Any, pointer: str) -> datetime:
    if not isinstance(value, str):
        raise EventError(pointer, "expected an ISO 8601 time such as 2026-03-02T10:00:00+01:00")
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise EventError(pointer, f"'{value}' is not an ISO 8601 time such as 2026-03-02T10:00:00+01:00") from None
    if moment.tzinfo is None:
        raise EventError(pointer, f"'{value}' has no timezone; add one, such as +01:00 or Z")
    return moment.astimezone(timezone.utc)


def parse_event(data: Any, now: datetime | None = None, pointer: str = "") -> Event:
    """An Event from its JSON form; `at` defaults to `now` when given. Raises EventError."""
    if not isinstance(data, Mapping):
        raise EventError(pointer, "expected an event object with id, type, contact")
    unknown = sorted(set(data) - {"id", "type", "at", "contact", "properties"})
    if unknown:
        raise EventError(f"{pointer}/{unknown[0]}", "unknown field; an event has id, type, at, contact, properties")
    event_id = data.get("id")
    if not isinstance(event_id, str) or not event_id.strip() or len(event_id) > 200:
        raise EventError(f"{pointer}/id", "expected a non-empty string of at most 200 characters (the event's unique id)")
    if _has_nul(data):
        raise EventError(pointer, "contains a NUL character (\\u0000), which databases cannot store")
    event_type = data.get("type")
    if isinstance(event_type, str) and len(event_type) > 200:
        raise EventError(f"{pointer}/type", "at most 200 characters")
    if not isinstance(event_type, str) or not event_type.strip():
        raise EventError(f"{pointer}/type", "expected an event type such as checkout.started or \"Order Completed\"")
    if "at" in data:
        at = parse_time(data["at"], f"{pointer}/at")
    elif now is not None:
        at = now
    else:
        raise EventError(f"{pointer}/at", "missing; expected an ISO 8601 time such as 2026-03-02T10:00:00+01:00")
    properties = data.get("properties", {})
    if not isinstance(properties, Mapping):
        raise EventError(f"{pointer}/properties", "expected an object")
    contact = parse_contact(data.get("contact"), f"{pointer}/contact")
    return Event(event_id, canonical_event_type(event_type), at, contact, dict(properties))


def parse_contact(data: Any, pointer: str) -> ContactRef:
    if not isinstance(data, Mapping):
        raise EventError(pointer, "expected an object naming the contact: id, email, phone or external_ids")
    for key in ("email", "phone"):
        if key in data and data[key] is not None and (not isinstance(data[key], str) or not data[key].strip()):
            raise EventError(f"{pointer}/{key}", "expected a non-empty string")
    contact_id = data.get("id")
    if contact_id is not None and (not isinstance(contact_id, int) or isinstance(contact_id, bool)):
        raise EventError(f"{pointer}/id", "expected Relance's contact id, a whole number")
    external = data.get("external_ids", {}) or {}
    if not isinstance(external, Mapping) or not all(isinstance(v, (str, int)) for v in external.values()):
        raise EventError(f"{pointer}/external_ids", "expected an object of source to id, such as {\"shopify\": \"7301\"}")
    for key, limit in (("email", 320), ("phone", 50)):
        if isinstance(data.get(key), str) and len(data[key]) > limit:
            raise EventError(f"{pointer}/{key}", f"at most {limit} characters")
    for source, value in external.items():
        if len(str(source)) > 90 or len(str(value)) > 320:
            raise EventError(f"{pointer}/external_ids/{source}", "a source of at most 90 characters, an id of at most 320")
    zone = data.get("timezone")
    if zone is not None:
        try:
            ZoneInfo(str(zone))
        except (ZoneInfoNotFoundError, ValueError):
            raise EventError(f"{pointer}/timezone", f"unknown timezone '{zone}'; use an IANA name such as Europe/Paris") from None
    email = data.get("email")
    email = email.strip().lower() if isinstance(email, str) else None
    if email is not None and "@" not in email:
        raise EventError(f"{pointer}/email", f"'{data['email']}' is not an email address")
    phone = data.get("phone")
    attributes = {k: v for k, v in data.items() if k not in (*IDENTITY_KEYS, "external_ids")}
    ref = ContactRef(contact_id, email, phone.strip() if isinstance(phone, str) else None,
                     {str(k): str(v) for k, v in external.items()}, attributes)
    if contact_id is None and not ref.identities():
        raise EventError(pointer, "names no one; give at least one of id, email, phone, external_ids")
    return ref
