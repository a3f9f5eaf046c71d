"""The shipping timers: paid orders due for a label, shipments due for a tracking check."""

from __future__ import annotations

from datetime import datetime

from .. import clock, duework
from ..settings import get_settings
from .labels import preview
from .model import LABELS, TRACKING


def _payload(item: duework.DueItem) -> dict:
    return {"order_id": item.entity_id, "due_key": item.key}


def scan_labels(now: datetime | None = None, dry_run: bool = False, limit: int = 20_000) -> dict:
    now = now or clock.utcnow()
    if dry_run:
        orders = dict.fromkeys(row["entity_id"] for row in duework.find_due(LABELS, now, limit))
        return {"found": len(orders), "previews": {order_id: preview(order_id) for order_id in orders}}
    return duework.fan_out(LABELS, get_settings().label_requests_queue, now, _payload, limit)


def scan_tracking(now: datetime | None = None, dry_run: bool = False, limit: int = 20_000) -> dict:
    now = now or clock.utcnow()
    if dry_run:
        return {"found": len(duework.find_due(TRACKING, now, limit))}
    return duework.fan_out(TRACKING, get_settings().tracking_queue, now, _payload, limit)
