"""How stock events change a product: pure logic, no storage."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..shop_events import StockChanged
from ..outcomes import make_event
from .model import LEDGER, Product

# Kinds that change what is physically on hand, and so are superseded by a later recount.
PHYSICAL = {"return_received", "damaged", "lost", "delivery_received", "shipped"}


@dataclass
class Applied:
    product: Product
    ledger_rows: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)


def apply_events(product: Product, events: list[StockChanged], now: datetime) -> Applied:
    """Applies events in the order they happened; returns ledger rows and outbound events."""
    result = Applied(product)
    for event in sorted(events, key=lambda e: (e.occurred_at, e.event_id)):
        result.ledger_rows.append(_apply_one(product, event, now, result.events))
    result.events += availability_events(product, now)
    return result


def _apply_one(product: Product, event: StockChanged, now: datetime, events: list[dict[str, Any]]) -> dict[str, Any]:
    on_hand_before, reserved_before = product.on_hand, product.reserved
    quantity = event.quantity or 0
    delta_on_hand = delta_reserved = 0
    notes = [event.note] if event.note else []
    recounted_at = datetime.fromisoformat(product.last_recount_at) if product.last_recount_at else None
    counted_already = recounted_at is not None and event.occurred_at <= recounted_at

    if event.kind == "recount":
        if counted_already:
            notes.append(f"older than the recount at {product.last_recount_at}: ignored")
        else:
            delta_on_hand = (event.counted or 0) - product.on_hand  # a recount always carries `counted`
            product.last_recount_at = event.occurred_at.isoformat()
    elif event.kind in PHYSICAL and counted_already:
        notes.append(f"happened before the recount at {product.last_recount_at}, which counted it")
    elif event.kind == "delivery_received":
        delta_on_hand = quantity
    elif event.kind == "return_received":
        if event.resellable:
            delta_on_hand = quantity
        else:
            notes.append("not resellable: recorded, not stocked")
    elif event.kind in {"damaged", "lost", "shipped"}:
        delta_on_hand = -min(quantity, max(product.on_hand, 0))
        if quantity > product.on_hand:
            notes.append(f"only {product.on_hand} on hand: a recount is advised")

    if event.kind == "reserved":
        if quantity > product.sellable and not product.allow_backorders:
            notes.append(f"not met: only {product.sellable} sellable")
            events.append(
                make_event("stock.reservation_failed", {"sku": product.sku}, now,
                           {"order_id": event.order_id, "requested": quantity, "sellable": product.sellable}, event.event_id)
            )
        else:
            delta_reserved = quantity
    elif event.kind in {"released", "shipped"}:
        delta_reserved = -min(quantity, product.reserved)

    product.on_hand += delta_on_hand
    product.reserved += delta_reserved
    product.ledger_seq += 1
    return {
        "PartitionKey": product.sku,
        "RowKey": LEDGER + event.event_id,
        "seq": product.ledger_seq,
        "event_id": event.event_id,
        "kind": event.kind,
        "quantity": event.quantity,
        "counted": event.counted,
        "order_id": event.order_id,
        "delta_on_hand": delta_on_hand,
        "delta_reserved": delta_reserved,
        "on_hand_before": on_hand_before,
        "on_hand_after": product.on_hand,
        "reserved_before": reserved_before,
        "reserved_after": product.reserved,
        "note": "; ".join(notes),
        "occurred_at": event.occurred_at.isoformat(),
        "applied_at": now.isoformat(),
    }


def availability_events(product: Product, now: datetime) -> list[dict[str, Any]]:
    """Stop selling at or below the threshold (unless backorders are allowed); alert on low stock."""
    events = []
    available = product.allow_backorders or product.sellable > product.sell_threshold
    data = {"sellable": product.sellable, "on_hand": product.on_hand, "reserved": product.reserved}
    if available != product.available:
        product.available = available
        kind = "product.available" if available else "product.unavailable"
        events.append(make_event(kind, {"sku": product.sku}, now, data, str(product.ledger_seq)))
    low = product.sellable <= product.low_stock_threshold
    if low and not product.low_stock:
        events.append(make_event("product.low_stock", {"sku": product.sku}, now, {**data, "threshold": product.low_stock_threshold}, str(product.ledger_seq)))
    product.low_stock = low
    return events
