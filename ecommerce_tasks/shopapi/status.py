"""GET /api/orders/{order_id}: where an order stands, for the shop (never a provider secret)."""

from __future__ import annotations

from typing import Any

from ..orders import load_order
from ..settings import get_settings
from ..storage import read_blob

SHIPMENT_FIELDS = ("carrier", "state", "status", "tracking_number", "tracking_url", "created_at", "delivered_at", "failure_reason", "stalled")


def order_status(order_id: str) -> dict[str, Any] | None:
    record = load_order(order_id)
    order = record.order
    if order is None:
        return None
    shipment = record.shipment or {}
    return {
        "order_id": order.order_id,
        "status": order.status,
        "placed_at": order.placed_at,
        "amount": {"value": order.amount, "currency": order.currency},
        "payments": [{"provider": a.provider, "payment_id": a.payment_id, "status": a.state, "provider_status": a.provider_status,
                      "created_at": a.created_at, "checked_at": a.checked_at} for a in record.attempts.values()],
        "paid": {"payment_id": order.paid_payment_id, "at": order.paid_at, "method": order.paid_method, "amount": order.paid_amount,
                 "captured_at": order.captured_at} if order.paid_payment_id else None,
        "authorized_until": order.authorization_expires_at,
        "cancelled": {"at": order.cancelled_at, "reason": order.cancel_reason} if order.cancelled_at else None,
        "needs_review": order.needs_review,
        "review_reason": order.review_reason,
        "shipment": ({k: shipment.get(k) for k in SHIPMENT_FIELDS} | {"label": f"/api/orders/{order.order_id}/label" if shipment.get("label_blob") else None})
        if shipment else None,
    }


def order_label(order_id: str) -> bytes | None:
    """The label PDF, through the app (with identity-based storage there is no key to sign a SAS)."""
    shipment = load_order(order_id).shipment or {}
    blob = shipment.get("label_blob")
    return read_blob(get_settings().labels_container, blob) if blob else None
