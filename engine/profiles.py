"""Contact profiles: finding the contact an event names, merging, and keeping e-commerce traits."""
from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from relance.dsl.expressions import Scope
from relance.dsl.graph import Workspace

from .carts import CART_TYPES, VIEWED, apply_cart, apply_viewed
from .events import ContactRef, Event, EventError
from .orders import CANCEL_TYPES, ORDER_TYPES, REFUND_TYPES, amount, apply_order, average
from .records import ContactRecord
from .store import Transaction
from .traits import MAX_PROFILE_BYTES, as_moment, json_size, usable

logger = logging.getLogger("relance.profiles")
COUNTED = ("orders_count", "total_spent", "average_order_value", "first_order_at", "last_order_at", "last_seen_at")
UNSUBSCRIBE_TYPES = ("contact.unsubscribed", "email.unsubscribed", "unsubscribed")
SUBSCRIBE_TYPES = ("contact.subscribed",)
PROFILE_TYPES = (*ORDER_TYPES, *CART_TYPES, *UNSUBSCRIBE_TYPES, *SUBSCRIBE_TYPES, "contact.identified")
# What `contact.x` reads with no rule setting it: the profile's own fields (ContactRecord.view),
# the traits kept here (orders, cart, consent, last seen) and the traits sources usually send
# (Segment's reserved identify traits, snake_cased as the Segment endpoint writes them).
CONTACT_FIELDS = (
    "id", "email", "phone", "external_ids", "tags", "score", "segments", "consent", "timezone",
    "orders_count", "total_spent", "average_order_value", "first_order_at", "last_order_at", "last_cart",
    "last_cart_at", "last_seen_at", "recently_viewed", "unsubscribed",
    "first_name", "last_name", "name", "birthday", "age", "gender", "title", "company", "address", "avatar",
    "username", "website", "description", "created_at",
)


Screen = Callable[[Transaction, ContactRecord, Sequence[tuple[str, str]]], Awaitable[None]]


async def resolve_contact(tx: Transaction, workspace: str, ref: ContactRef, now: datetime,
                          screen: Screen | None = None) -> tuple[ContactRecord, list[int]]:
    """The contact `ref` names, created if new; when its identities belong to several contacts,
    they are merged into the oldest (history and runs kept). Returns it and the merged ids.
    `screen` is shown the identities new to the contact (the suppression list)."""
    found = await tx.find_contacts(workspace, ref.identities())
    if ref.id is not None:
        by_id = await tx.get_contact(ref.id)
        while by_id is not None and by_id.merged_into is not None:  # merged since: the contact it became
            by_id = await tx.get_contact(by_id.merged_into)
        if by_id is None or by_id.workspace != workspace:
            if not found:  # erased after the event was stored: nobody to create it for
                raise EventError("/contact/id", f"no contact {ref.id} in this workspace")
        elif all(c.id != by_id.id for c in found):
            found = sorted([*found, by_id], key=lambda c: c.id)
    if not found:
        contact = await tx.create_contact(ContactRecord(id=0, workspace=workspace, created_at=now))
    else:
        contact = found[0]
    known = set(identities_of(contact))
    merged = []
    for other in found[1:]:
        known |= set(identities_of(other))
        _absorb(contact, other)
        await tx.merge_contacts(contact, other)
        merged.append(other.id)
    _apply_ref(contact, ref)
    new = [identity for identity in ref.identities() if identity not in known]
    if new:
        await tx.add_identities(contact, new)
        if screen is not None:
            await screen(tx, contact, new)
    return contact, merged


def identities_of(contact: ContactRecord) -> list[tuple[str, str]]:
    """The (kind, value) identities a contact is found by."""
    return ContactRef(email=contact.email, phone=contact.phone, external_ids=contact.external_ids).identities()


def _absorb(survivor: ContactRecord, other: ContactRecord) -> None:
    """Fold `other`'s profile into `survivor`: the survivor's values win, the rest is added; counts
    and spend add up, first times are the earliest of both and last times the latest."""
    survivor.email = survivor.email or other.email
    survivor.phone = survivor.phone or other.phone
    survivor.external_ids = {**other.external_ids, **survivor.external_ids}
    mine, theirs = survivor.attributes, other.attributes
    survivor.attributes = {**theirs, **mine}
    for numeric in ("orders_count", "total_spent"):
        if numeric in theirs and numeric in mine:
            survivor.attributes[numeric] = (usable(numeric, mine[numeric]) or 0) + (usable(numeric, theirs[numeric]) or 0)
    for moment, pick in (("first_order_at", min), ("last_order_at", max), ("last_seen_at", max),
                         ("last_cart_at", max)):
        times = [t for t in (usable(moment, mine.get(moment)), usable(moment, theirs.get(moment))) if t is not None]
        if times:
            survivor.attributes[moment] = pick(times, key=as_moment)
    if "last_cart_at" in theirs and survivor.attributes.get("last_cart_at") == theirs["last_cart_at"]:
        survivor.attributes["last_cart"] = theirs.get("last_cart")  # the latest cart of the two
    average(survivor.attributes)
    survivor.tags = sorted(set(survivor.tags) | set(other.tags))
    survivor.score += other.score
    survivor.consent = {**other.consent, **survivor.consent}
    survivor.timezone = survivor.timezone or other.timezone


def _apply_ref(contact: ContactRecord, ref: ContactRef) -> None:
    if ref.email and not contact.email:
        contact.email = ref.email
    if ref.phone and not contact.phone:
        contact.phone = ref.phone
    contact.external_ids = {**contact.external_ids, **ref.external_ids}
    before = dict(contact.attributes)
    for key, value in ref.attributes.items():
        if key == "timezone":
            contact.timezone = str(value) if value else contact.timezone
        else:
            contact.attributes[key] = value
    _keep_size(contact, before)


def _keep_size(contact: ContactRecord, before: dict[str, Any]) -> None:
    """A profile stays under MAX_PROFILE_BYTES: the largest changed traits are not kept (logged), so
    that no contact grows until each of its events takes seconds. Order counts are always kept."""
    attributes = contact.attributes
    size = json_size(attributes)
    if size <= MAX_PROFILE_BYTES:
        return
    changed = sorted((k for k in attributes if k not in COUNTED and attributes[k] != before.get(k)),
                     key=lambda k: json_size(attributes[k]), reverse=True)
    refused = []
    for key in changed:
        if size <= MAX_PROFILE_BYTES:
            break
        size -= json_size({key: attributes[key]}) - (json_size({key: before[key]}) if key in before else 0)
        if key in before:
            attributes[key] = before[key]
        else:
            del attributes[key]
        refused.append(key)
    logger.warning("contact %s: traits %s not kept: the profile would pass %d bytes", contact.id,
                   ", ".join(refused), MAX_PROFILE_BYTES)


def heard(workspace: Workspace, event_type: str) -> bool:
    """Whether events of this type do anything: a rule or the scoring names it, or the profile keeps it."""
    return event_type in workspace.event_types or event_type in PROFILE_TYPES


def revenue(properties: Mapping[str, Any]) -> float:
    """The amount an event's properties carry, for a conversion (see orders.amount); 0 when none."""
    return amount(properties) or 0.0


async def apply_traits(tx: Transaction, contact: ContactRecord, event: Event) -> None:
    """E-commerce traits from Segment's event names: orders (once per order_id, refunds and
    cancellations taken back), spend, the cart, products viewed, last seen; consent."""
    attributes = contact.attributes
    before = dict(attributes)
    at = event.at.isoformat()
    seen = usable("last_seen_at", attributes.get("last_seen_at"))
    if seen is None or as_moment(seen) < event.at:
        attributes["last_seen_at"] = at
    if event.type in (*ORDER_TYPES, *REFUND_TYPES, *CANCEL_TYPES):
        await apply_order(tx, contact, event.type, event.properties, event.at)
    elif event.type in CART_TYPES:
        apply_cart(attributes, event.type, event.properties, at)
    elif event.type == VIEWED:
        apply_viewed(attributes, event.properties, at)
    elif event.type in UNSUBSCRIBE_TYPES or event.type in SUBSCRIBE_TYPES:
        apply_consent(contact, event)
    _keep_size(contact, before)


def apply_consent(contact: ContactRecord, event: Event) -> None:
    """`contact.subscribed` / `contact.unsubscribed` with `properties.channel` (default email) and `source`.

    The later fact wins: an older event arriving late does not undo a newer choice.
    `contact.unsubscribed` (the attribute) follows the email consent.
    """
    subscribed = event.type in SUBSCRIBE_TYPES
    channel = str(event.properties.get("channel") or "email")
    current = contact.consent.get(channel)
    at = event.at.isoformat()
    if isinstance(current, dict) and str(current.get("at", "")) > at:
        return
    contact.consent[channel] = {"status": "opted_in" if subscribed else "opted_out", "at": at,
                                "source": str(event.properties.get("source") or event.type)}
    if channel == "email":
        contact.attributes["unsubscribed"] = not subscribed


def segment_changes(contact: ContactRecord, workspace: Workspace, now: datetime) -> tuple[list[str], list[str]]:
    """Segments the contact enters and leaves now.

    `contact.segments` is not changed here: each change is applied when its segment.entered
    or segment.left event is processed, so a crash in between leaves the change to be found again.
    """
    scope = Scope(contact=contact.view(), now=now, zone=workspace.timezone, locale=workspace.locale)
    current = [name for name, segment in workspace.segments.items() if segment.condition(scope)]
    entered = [s for s in current if s not in contact.segments]
    left = [s for s in contact.segments if s not in current and s in workspace.segments]
    return entered, left


def apply_membership(contact: ContactRecord, event: Event) -> bool:
    """Apply a derived segment.entered/left event to `contact.segments`; False if it changes nothing."""
    name = event.properties.get("segment")
    if event.type == "segment.entered" and name not in contact.segments:
        contact.segments = [*contact.segments, str(name)]
        return True
    if event.type == "segment.left" and name in contact.segments:
        contact.segments = [s for s in contact.segments if s != name]
        return True
    return False
