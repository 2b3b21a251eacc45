"""Contact profiles: finding the contact an event names, merging, and keeping e-commerce traits."""
from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from relance.dsl.expressions import Scope
from relance.dsl.graph import Workspace

from .events import ContactRef, Event
from .records import ContactRecord
from .store import Transaction

ORDER_TYPES = ("order.completed",)
CART_TYPES = ("checkout.started", "cart.viewed", "product.added", "cart.updated")
UNSUBSCRIBE_TYPES = ("contact.unsubscribed", "email.unsubscribed", "unsubscribed")
SUBSCRIBE_TYPES = ("contact.subscribed",)


async def resolve_contact(tx: Transaction, workspace: str, ref: ContactRef, now: datetime) -> tuple[ContactRecord, list[int]]:
    """The contact `ref` names, created if new; when its identities belong to several contacts,
    they are merged into the oldest (history and runs kept). Returns it and the merged ids."""
    found = await tx.find_contacts(workspace, ref.identities())
    if ref.id is not None:
        by_id = await tx.get_contact(ref.id)
        if by_id is not None and by_id.workspace == workspace and by_id.merged_into is None \
                and all(c.id != by_id.id for c in found):
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
    return contact, merged


def identities_of(contact: ContactRecord) -> list[tuple[str, str]]:
    """The (kind, value) identities a contact is found by."""
    return ContactRef(email=contact.email, phone=contact.phone, external_ids=contact.external_ids).identities()


def _absorb(survivor: ContactRecord, other: ContactRecord) -> None:
    """Fold `other`'s profile into `survivor`: the survivor's values win, the rest is added."""
    survivor.email = survivor.email or other.email
    survivor.phone = survivor.phone or other.phone
    survivor.external_ids = {**other.external_ids, **survivor.external_ids}
    survivor.attributes = {**other.attributes, **survivor.attributes}
    for numeric in ("orders_count", "total_spent"):
        if numeric in other.attributes and numeric in survivor.attributes:
            survivor.attributes[numeric] = survivor.attributes[numeric] + other.attributes[numeric]
    _average(survivor.attributes)
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
    for key, value in ref.attributes.items():
        if key == "timezone":
            contact.timezone = str(value) if value else contact.timezone
        else:
            contact.attributes[key] = value


def revenue(properties: Mapping[str, Any]) -> float:
    """The amount an event's properties carry: `revenue`, `total` or `value` (Segment's e-commerce names)."""
    for key in ("revenue", "total", "value"):
        value = properties.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    order = properties.get("order")
    return revenue(order) if isinstance(order, Mapping) else 0.0


def _average(attributes: dict[str, Any]) -> None:
    count = attributes.get("orders_count") or 0
    if count:
        attributes["average_order_value"] = round(attributes.get("total_spent", 0) / count, 2)


def apply_traits(contact: ContactRecord, event: Event) -> None:
    """E-commerce traits from Segment's event names: orders, spend, last order and cart, last seen."""
    attributes = contact.attributes
    at = event.at.isoformat()
    if attributes.get("last_seen_at", "") < at:
        attributes["last_seen_at"] = at
    if event.type in ORDER_TYPES:
        attributes["orders_count"] = int(attributes.get("orders_count", 0)) + 1
        attributes["total_spent"] = round(float(attributes.get("total_spent", 0)) + revenue(event.properties), 2)
        _average(attributes)
        attributes.setdefault("first_order_at", at)
        if attributes.get("first_order_at", at) > at:
            attributes["first_order_at"] = at
        if attributes.get("last_order_at", "") < at:
            attributes["last_order_at"] = at
    elif event.type in CART_TYPES:
        cart = event.properties.get("cart")
        attributes["last_cart"] = cart if isinstance(cart, dict) else dict(event.properties)
        attributes["last_cart_at"] = at
    elif event.type in UNSUBSCRIBE_TYPES or event.type in SUBSCRIBE_TYPES:
        apply_consent(contact, event)


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
