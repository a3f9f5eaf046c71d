"""The inventory scan: products with unapplied events, one work item each."""

from __future__ import annotations

import logging
from datetime import datetime

from .. import clock, duework

from ..settings import get_settings
from ..storage import enqueue_many
from .intake import INVENTORY

log = logging.getLogger("ecommerce_tasks.inventory")


def scan_stock_work(now: datetime | None = None, dry_run: bool = False, limit: int = 20_000) -> dict[str, int | list[str]]:
    now = now or clock.utcnow()
    rows = duework.find_due(INVENTORY, now, limit)
    if dry_run:
        return {"found": len(rows), "products": sorted({row["entity_id"] for row in rows})}
    leased = duework.lease(INVENTORY, rows, now)
    enqueued = enqueue_many(
        get_settings().stock_updates_queue, ({"sku": item.entity_id, "due_key": item.key, "checks": item.checks} for item in leased)
    )
    log.info("inventory scan: %d due rows, %d products enqueued", len(rows), enqueued)
    return {"found": len(rows), "enqueued": enqueued}
