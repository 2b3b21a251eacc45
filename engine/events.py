"""Events as the API takes them, validated with the JSON field named in every error."""
from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from pydantic_core import PydanticCustomError

from relance.dsl.errors import RelanceError

from .event_model import (BIGGEST, EVENT_FIELDS, TIME_EXAMPLE, VALUES_RANK, EventModel, aware_time, escape,
                          first_refusal)

MAX_DEPTH = 32  # objects and lists inside an event
MISSING_AT = f"missing; expected {TIME_EXAMPLE}"
SURROGATE = re.compile("[\ud800-\udfff]")
FAULTY_TEXT = re.compile("[\x00\ud800-\udfff]")


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


def check_values(value: Any, pointer: str, depth: int = 0) -> None:
    """Refuse, naming the JSON pointer, a value the store cannot keep or a rule cannot use: NUL
    characters (PostgreSQL's text and jsonb refuse them), lone surrogates (no UTF-8), numbers
    that are not finite or pass 2^63, nesting deeper than MAX_DEPTH."""
    if not _clean((value,), depth):
        _name_fault(value, pointer, depth)


def _clean(values: Iterable[Any], depth: int) -> bool:
    """True when every one of `values`, at `depth`, surely passes `check_values`: the walk every event
    takes, making no pointer. False for a fault, and for a type it does not know (`_name_fault` decides)."""
    for value in values:
        kind = type(value)
        if kind is str:
            if FAULTY_TEXT.search(value) is not None:
                return False
        elif kind is dict:
            try:
                keys = "".join(value)
            except TypeError:  # keys other than strings
                return False
            if depth >= MAX_DEPTH or FAULTY_TEXT.search(keys) is not None or not _clean(value.values(), depth + 1):
                return False
        elif kind is list:
            if depth >= MAX_DEPTH or not _clean(value, depth + 1):
                return False
        elif kind is int:
            if not -BIGGEST <= value <= BIGGEST:
                return False
        elif kind is float:
            if not math.isfinite(value):
                return False
        elif value is not None and kind is not bool:
            return False
    return True


def _name_fault(value: Any, pointer: str, depth: int) -> None:
    """`check_values` the slow way, making the pointer of each value, to name the fault."""
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
            inner = f"{pointer}/{escape(str(key))}"
            if isinstance(key, str):
                _name_fault(key, inner, depth)
            _name_fault(item, inner, depth + 1)


def parse_time(value: Any, pointer: str) -> datetime:
    """A time with its timezone, in UTC, as `at` takes it; raises EventError naming `pointer`."""
    try:
        return aware_time(value)
    except PydanticCustomError as error:
        raise EventError(pointer, (error.context or {})["refusal"][0]) from None


def parse_event(data: Any, now: datetime | None = None, pointer: str = "") -> Event:
    """An Event from its JSON form; `at` defaults to `now` when given. Raises EventError.

    The shape and its limits are `EventModel`'s; the values no store keeps are `check_values`'."""
    try:
        model = EventModel.model_validate(data)
    except ValidationError as error:
        rank, where, message = first_refusal(error.errors(include_url=False))
        if rank[0] >= VALUES_RANK:
            check_values(data, pointer)
            if now is None and "at" not in data and rank[0] > EVENT_FIELDS["at"]:
                where, message = "/at", MISSING_AT
        raise EventError(pointer + where, message) from None
    check_values(data, pointer)
    at = model.at or now
    if at is None:
        raise EventError(f"{pointer}/at", MISSING_AT)
    contact = model.contact
    external = {source: str(value) for source, value in (contact.external_ids or {}).items()}
    ref = ContactRef(contact.id, contact.email, contact.phone, external, contact.traits())
    return Event(model.id, model.type, at, ref, model.properties)
