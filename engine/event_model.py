"""The event as the API takes it, described once: pydantic models that validate every event, give
the JSON Schema the OpenAPI document shows, and name the field at fault by its JSON pointer."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (BaseModel, ConfigDict, Field, PlainValidator, WithJsonSchema, field_validator,
                      model_validator)
from pydantic_core import ErrorDetails, PydanticCustomError

from relance.dsl.event_names import canonical_event_type

from .traits import EARLIEST, LATEST, MAX_TRAITS_BYTES, TraitError, check_amounts, checked_traits, json_size

BIGGEST = 2 ** 63 - 1  # whole numbers a database column or index holds (and JavaScript clients round past 2^53)
NOT_BLANK = r"\S"  # a character other than a space somewhere
MAX_ID = MAX_TYPE = 200
MAX_EMAIL, MAX_PHONE = 320, 50
MAX_SOURCE, MAX_EXTERNAL_ID = 90, 320
TIME_EXAMPLE = "an ISO 8601 time such as 2026-03-02T10:00:00+01:00"


def refused(message: str, at: str = "") -> PydanticCustomError:
    """A refusal in our words; `at` is the pointer below the field that raised it. (The words are kept in a
    tuple: a value quoted in them may hold a lone surrogate, which pydantic cannot render as a string.)"""
    return PydanticCustomError("relance", "refused by Relance's checks", {"refusal": (message, at)})


def aware_time(value: Any) -> datetime:
    """A time with its timezone, in UTC, between the years 1900 and 2999; raises `refused`."""
    if not isinstance(value, str):
        raise refused(f"expected {TIME_EXAMPLE}")
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise refused(f"'{value}' is not {TIME_EXAMPLE}") from None
    if moment.tzinfo is None:
        raise refused(f"'{value}' has no timezone; add one, such as +01:00 or Z")
    try:
        moment = moment.astimezone(timezone.utc)
    except OverflowError:  # year 1 or 9999 with an offset
        moment = LATEST
    if not EARLIEST <= moment < LATEST:
        raise refused(f"'{value}' is outside the years 1900 to 2999")
    return moment


AwareTime = Annotated[datetime, PlainValidator(aware_time),
                      WithJsonSchema({"type": "string", "format": "date-time",
                                      "description": "ISO 8601 with a timezone, years 1900 to 2999"})]
ExternalId = Annotated[str, Field(max_length=MAX_EXTERNAL_ID, pattern=NOT_BLANK)] | int


class EventContact(BaseModel):
    """How an event names its contact: any of an id, an email, a phone, external ids. Other keys are
    traits kept on the contact (first_name, orders_count, …), known ones checked for their type."""

    model_config = ConfigDict(extra="allow", strict=True)

    id: Annotated[int, Field(ge=1, le=BIGGEST, description="Relance's contact id")] | None = None
    email: Annotated[str, Field(max_length=MAX_EMAIL, pattern=NOT_BLANK)] | None = None
    phone: Annotated[str, Field(max_length=MAX_PHONE, pattern=NOT_BLANK)] | None = None
    external_ids: dict[Annotated[str, Field(max_length=MAX_SOURCE)], ExternalId] | None = Field(
        None, description="source to id, such as {\"shopify\": \"7301\"}")
    timezone: str | None = Field(None, description="an IANA name such as Europe/Paris")

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        if value is None:
            return None
        email = value.strip().lower()
        if "@" not in email:
            raise refused(f"'{value}' is not an email address")
        return email

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str | None) -> str | None:
        return None if value is None else value.strip()

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError):
                raise refused(f"unknown timezone '{value}'; use an IANA name such as Europe/Paris") from None
        return value

    @model_validator(mode="after")
    def _traits_and_identity(self) -> EventContact:
        extra = self.__pydantic_extra__ or {}
        try:
            extra.update(checked_traits(extra, ""))  # known traits coerced to their type
        except TraitError as error:
            raise refused(error.message, error.pointer) from None
        size = json_size(self.traits())
        if size > MAX_TRAITS_BYTES:
            raise refused(f"its traits take {size:,} bytes as JSON; an event carries at most {MAX_TRAITS_BYTES:,} "
                          "(keep large data in the event's properties)")
        if self.id is None and not (self.email or self.phone or self.external_ids):
            raise refused("names no one; give at least one of id, email, phone, external_ids")
        return self

    def traits(self) -> dict[str, Any]:
        """The keys other than the identities, known traits coerced to their type."""
        extra = self.__pydantic_extra__ or {}
        return {**extra, "timezone": self.timezone} if "timezone" in self.model_fields_set else dict(extra)


class EventModel(BaseModel):
    """An event: what happened (`type`), to whom (`contact`), when (`at`), with what (`properties`)."""

    model_config = ConfigDict(extra="forbid", strict=True, title="Event")

    id: str = Field(min_length=1, max_length=MAX_ID, pattern=NOT_BLANK,
                    description="the event's unique id: the same id again is the same event")
    type: str = Field(max_length=MAX_TYPE, pattern=NOT_BLANK,
                      description="such as checkout.started or \"Order Completed\" (Segment's names are mapped)")
    at: AwareTime = Field(None, description="when it happened; the time it is received when left out",  # type: ignore[assignment]
                          json_schema_extra=lambda schema: schema.pop("default", None))  # null is refused
    properties: dict[str, Any] = Field(default_factory=dict)
    contact: EventContact

    @field_validator("type")
    @classmethod
    def _canonical(cls, value: str) -> str:
        return canonical_event_type(value)

    @model_validator(mode="after")
    def _amounts(self) -> EventModel:
        try:
            check_amounts(self.type, self.properties, "/properties")
        except TraitError as error:
            raise refused(error.message, error.pointer) from None
        return self


# Why a field was refused, in the words of the hand-written checks the model replaced. When an event has
# several faults, the one named is the one those checks found first: an error's rank is its check's index.
EVENT_CHECKS = ("object", "unknown field", "id", "values", "type", "at", "properties", "contact", "amounts")
EVENT_FIELDS = {check: EVENT_CHECKS.index(check) for check in ("id", "type", "at", "properties", "contact")}
VALUES_RANK = EVENT_CHECKS.index("values")  # what no store keeps (engine/events.py check_values), after the id
CONTACT = "expected an object naming the contact: id, email, phone or external_ids"
MESSAGES = {
    "id": "expected a non-empty string of at most 200 characters (the event's unique id)",
    "type": "expected an event type such as checkout.started or \"Order Completed\"",
    "at": f"expected {TIME_EXAMPLE}",
    "properties": "expected an object",
    "contact": CONTACT,
    "contact/id": "expected Relance's contact id, a whole number from 1",
    "contact/external_ids": "expected an object of source to id, such as {\"shopify\": \"7301\"}",
    "contact/external_ids/*": f"a source of at most {MAX_SOURCE} characters, an id of at most {MAX_EXTERNAL_ID}",
}
# The contact's checks, in the order they were made: an error's rank is (EVENT_FIELDS["contact"], its index).
CONTACT_CHECKS = ("object", "email/phone", "id", "external_ids", "email/phone length", "external id length",
                  "timezone", "email address", "other", "traits")


def _contact(check: str) -> tuple[int, int]:
    return EVENT_FIELDS["contact"], CONTACT_CHECKS.index(check)


def escape(key: str) -> str:
    """A key as a JSON pointer's part (RFC 6901)."""
    return key.replace("~", "~0").replace("/", "~1")


def pointer_of(loc: tuple[int | str, ...]) -> str:
    return "".join(f"/{escape(str(part))}" for part in loc)


def refusal(error: ErrorDetails) -> tuple[tuple[Any, ...], str, str] | None:
    """(rank, pointer, message) of one of pydantic's errors; None for one that says nothing more."""
    loc, kind = error["loc"], error["type"]
    ctx = error.get("ctx") or {}
    own, below = ctx["refusal"] if kind == "relance" else (None, "")
    if kind == "string_unicode":  # a lone surrogate: check_values names it, as for any value
        return (VALUES_RANK,), pointer_of(loc), "not UTF-8"
    if not loc:
        return (EVENT_CHECKS.index("amounts" if own else "object"),), below, \
            own or "expected an event object with id, type, contact"
    field = loc[0]
    if kind == "extra_forbidden":
        return (EVENT_CHECKS.index("unknown field"), str(field)), pointer_of(loc[:1]), "unknown field; an event has id, type, at, contact, properties"
    if field == "type" and kind == "string_too_long":
        return (EVENT_FIELDS["type"],), "/type", f"at most {MAX_TYPE} characters"
    if field != "contact":
        return (EVENT_FIELDS[str(field)],), pointer_of(loc[:1]) + below, own or MESSAGES[str(field)]
    if len(loc) == 1:
        return _contact("traits" if own else "object"), "/contact" + below, own or CONTACT
    part = str(loc[1])
    where = pointer_of(loc[:2])
    if part in ("email", "phone"):
        if kind == "string_too_long":
            return _contact("email/phone length"), where, f"at most {ctx['max_length']} characters"
        return _contact("email address" if own else "email/phone"), where, own or "expected a non-empty string"
    if part == "external_ids" and len(loc) > 2:
        if loc[-1] == "int":  # the other choice, a string, says what is wrong
            return None
        if kind == "string_too_long":
            return _contact("external id length"), pointer_of(loc[:3]), MESSAGES["contact/external_ids/*"]
        return _contact("external_ids"), where, MESSAGES["contact/external_ids"]
    if part in ("id", "external_ids"):
        return _contact(part), where, MESSAGES[f"contact/{part}"]
    if part == "timezone":
        return _contact(part), where, own or f"unknown timezone '{error['input']}'; use an IANA name such as Europe/Paris"
    return _contact("other"), where + below, own or str(error["msg"])


def first_refusal(errors: list[ErrorDetails]) -> tuple[tuple[Any, ...], str, str]:
    """The refusal to name among all the faults pydantic found: the first in the order of the checks."""
    return min(found for found in map(refusal, errors) if found is not None)
