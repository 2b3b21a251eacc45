"""Events as the API takes them, validated with the JSON field named in every error."""
from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from relance.dsl.errors import RelanceError
from relance.dsl.event_names import canonical_event_type

from .traits import EARLIEST, LATEST, MAX_TRAITS_BYTES, TraitError, check_amounts, checked_traits, json_size

IDENTITY_KEYS = ("id", "email", "phone")
MAX_DEPTH = 32  # objects and lists inside an event
BIGGEST = 2 ** 63 - 1  # whole numbers a database column or index holds (and JavaScript clients round past 2^53)
SURROGATE = re.compile("[\ud800-\udfff]")


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


@dataclass(frozen=True, slots=True)
class Unusable:
    """A JSON number no database or rule can use (NaN, Infinity, 1e400, a 5,000-digit integer),
    kept in place by `loads` so that the check of the event it is in names its field."""

    text: str


def _number(text: str) -> float | Unusable:
    number = float(text)
    return number if math.isfinite(number) else Unusable(text)


def _whole(text: str) -> int | Unusable:
    return int(text) if len(text) <= 20 and abs(int(text)) <= BIGGEST else Unusable(text[:30])


def loads(data: bytes | str) -> Any:
    """JSON as events take it: NaN, ±Infinity, overflowing and huge numbers become `Unusable`
    (Python's json takes NaN and Infinity, which no JSON database or client does)."""
    return json.loads(data, parse_constant=Unusable, parse_float=_number, parse_int=_whole)


def _escape(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


def check_values(value: Any, pointer: str, depth: int = 0) -> None:
    """Refuse, naming the JSON pointer, a value the store cannot keep or a rule cannot use: NUL
    characters (PostgreSQL's text and jsonb refuse them), lone surrogates (no UTF-8), numbers
    that are not finite or pass 2^63, nesting deeper than MAX_DEPTH."""
    if isinstance(value, str):
        if "\x00" in value:
            raise EventError(pointer, "contains a NUL character (\\u0000), which databases cannot store")
        if SURROGATE.search(value):
            raise EventError(pointer, "contains a lone surrogate (such as \\ud800): not a character, not UTF-8")
    elif isinstance(value, bool) or value is None:
        return
    elif isinstance(value, int):
        if abs(value) > BIGGEST:
            raise EventError(pointer, "a whole number beyond 2^63; send a large identifier as a string")
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise EventError(pointer, "not a finite number (NaN and Infinity are not JSON)")
    elif isinstance(value, Unusable):
        raise EventError(pointer, f"the number {value.text} cannot be used: NaN and Infinity are not JSON, "
                                  "and numbers go up to 2^63 (send a large identifier as a string)")
    elif isinstance(value, (Mapping, list)):
        if depth >= MAX_DEPTH:
            raise EventError(pointer, f"nested deeper than {MAX_DEPTH} levels")
        items = value.items() if isinstance(value, Mapping) else enumerate(value)
        for key, item in items:
            inner = f"{pointer}/{_escape(str(key))}"
            if isinstance(key, str):
                check_values(key, inner, depth)
            check_values(item, inner, depth + 1)


def parse_time(value: Any, pointer: str) -> datetime:
    if not isinstance(value, str):
        raise EventError(pointer, "expected an ISO 8601 time such as 2026-03-02T10:00:00+01:00")
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise EventError(pointer, f"'{value}' is not an ISO 8601 time such as 2026-03-02T10:00:00+01:00") from None
    if moment.tzinfo is None:
        raise EventError(pointer, f"'{value}' has no timezone; add one, such as +01:00 or Z")
    try:
        moment = moment.astimezone(timezone.utc)
    except OverflowError:  # year 1 or 9999 with an offset
        moment = LATEST
    if not EARLIEST <= moment < LATEST:
        raise EventError(pointer, f"'{value}' is outside the years 1900 to 2999")
    return moment


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
    check_values(data, pointer)
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
    event_type = canonical_event_type(event_type)
    try:
        check_amounts(event_type, properties, f"{pointer}/properties")
    except TraitError as error:
        raise EventError(error.pointer, error.message) from None
    return Event(event_id, event_type, at, contact, dict(properties))


def parse_contact(data: Any, pointer: str) -> ContactRef:
    if not isinstance(data, Mapping):
        raise EventError(pointer, "expected an object naming the contact: id, email, phone or external_ids")
    for key in ("email", "phone"):
        if key in data and data[key] is not None and (not isinstance(data[key], str) or not data[key].strip()):
            raise EventError(f"{pointer}/{key}", "expected a non-empty string")
    contact_id = data.get("id")
    if contact_id is not None and (not isinstance(contact_id, int) or isinstance(contact_id, bool)
                                   or not 1 <= contact_id <= BIGGEST):
        raise EventError(f"{pointer}/id", "expected Relance's contact id, a whole number from 1")
    external = data.get("external_ids")
    external = {} if external is None else external
    if not isinstance(external, Mapping) or not all(isinstance(v, (str, int)) and not isinstance(v, bool)
                                                    and str(v).strip() for v in external.values()):
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
    try:
        attributes = checked_traits(attributes, pointer)
    except TraitError as error:
        raise EventError(error.pointer, error.message) from None
    if json_size(attributes) > MAX_TRAITS_BYTES:
        raise EventError(pointer, f"its traits take {json_size(attributes):,} bytes as JSON; an event carries at "
                                  f"most {MAX_TRAITS_BYTES:,} (keep large data in the event's properties)")
    ref = ContactRef(contact_id, email, phone.strip() if isinstance(phone, str) else None,
                     {str(k): str(v) for k, v in external.items()}, attributes)
    if contact_id is None and not ref.identities():
        raise EventError(pointer, "names no one; give at least one of id, email, phone, external_ids")
    return ref
