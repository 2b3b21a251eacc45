"""Orders as a shop counts them: once per `order_id`, amounts read from numbers or numeric strings,
refunds and cancellations taken back from the contact's traits and from the conversion they made."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .records import ContactRecord
from .store import Transaction
from .traits import AMOUNT_KEYS, ORDER_EVENTS, TraitError, as_moment, as_number, usable

ORDER_TYPES, REFUND_TYPES, CANCEL_TYPES = ORDER_EVENTS[:1], ORDER_EVENTS[1:2], ORDER_EVENTS[2:]


@dataclass(slots=True)
class OrderRecord:
    """An order counted in a contact's traits; `refunded` is what refunds and a cancellation took back."""

    workspace: str
    order_id: str
    contact_id: int
    at: datetime
    revenue: float
    refunded: float = 0.0
    status: str = "completed"  # or "cancelled"
    id: int | None = None


def amount(properties: Mapping[str, Any]) -> float | None:
    """The amount an event's properties carry (`revenue`, `total` or `value`, also under `order`),
    a numeric string read as its number; None when there is none."""
    for key in AMOUNT_KEYS:
        if properties.get(key) is not None:
            try:
                return round(float(as_number(properties[key])), 2)
            except TraitError:
                return None
    order = properties.get("order")
    return amount(order) if isinstance(order, Mapping) else None


def order_id(properties: Mapping[str, Any]) -> str | None:
    """`order_id` (Segment's name), or `order.order_id` / `order.id`."""
    found = properties.get("order_id")
    order = properties.get("order")
    if found is None and isinstance(order, Mapping):
        found = order.get("order_id", order.get("id"))
    if isinstance(found, bool) or not isinstance(found, (str, int)) or not str(found).strip():
        return None
    return str(found)[:200]


def average(attributes: dict[str, Any]) -> None:
    """`average_order_value` from `orders_count` and `total_spent`."""
    count = usable("orders_count", attributes.get("orders_count")) or 0
    if count:
        attributes["average_order_value"] = round((usable("total_spent", attributes.get("total_spent")) or 0) / count, 2)
    else:
        attributes.pop("average_order_value", None)


async def apply_order(tx: Transaction, contact: ContactRecord, event_type: str, properties: Mapping[str, Any],
                      at: datetime) -> None:
    """An order.completed, order.refunded or order.cancelled on the contact's traits."""
    key = order_id(properties)
    if event_type in ORDER_TYPES:
        revenue = amount(properties) or 0.0
        if key is not None:
            if await tx.get_order(contact.workspace, key) is not None:
                return  # the same order sent again under another event id: counted once
            await tx.insert_order(OrderRecord(contact.workspace, key, contact.id, at, revenue))
        _count(contact, 1, revenue, at)
        return
    order = await tx.get_order(contact.workspace, key) if key is not None else None
    if order is None or order.status == "cancelled":
        return  # an order Relance never counted (or counted out already): nothing to take back
    left = round(order.revenue - order.refunded, 2)
    if event_type in CANCEL_TYPES:
        taken, order.status = left, "cancelled"
    else:
        given = amount(properties)
        taken = left if given is None else min(left, max(0.0, given))
    order.refunded = round(order.refunded + taken, 2)
    await tx.save_order(order)
    _count(contact, -1 if event_type in CANCEL_TYPES else 0, -taken, None)
    for run in await tx.contact_runs(order.contact_id, statuses=["goal"]):  # the conversion this order made
        if run.ended_at == order.at and run.revenue:
            run.revenue = 0.0 if order.status == "cancelled" else round(max(0.0, run.revenue - taken), 2)
            await tx.save_run(run)


def _count(contact: ContactRecord, orders: int, spent: float, at: datetime | None) -> None:
    attributes = contact.attributes
    attributes["orders_count"] = max(0, (usable("orders_count", attributes.get("orders_count")) or 0) + orders)
    total = (usable("total_spent", attributes.get("total_spent")) or 0.0) + spent
    attributes["total_spent"] = round(max(0.0, total), 2)
    average(attributes)
    if at is None:
        return
    first = usable("first_order_at", attributes.get("first_order_at"))
    if first is None or as_moment(first) > at:
        attributes["first_order_at"] = at.isoformat()
    last = usable("last_order_at", attributes.get("last_order_at"))
    if last is None or as_moment(last) < at:
        attributes["last_order_at"] = at.isoformat()
