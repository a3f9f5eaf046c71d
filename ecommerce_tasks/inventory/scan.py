"""The inventory scan: products with unapplied events, one work item each."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from .. import clock, duework

from ..settings import get_settings
from .intake import INVENTORY

def scan_stock_work(now: datetime | None = None, dry_run: bool = False, limit: int = 20_000) -> Mapping[str, int | list[str]]:
    now = now or clock.utcnow()
    if dry_run:
        rows = duework.find_due(INVENTORY, now, limit)
        return {"found": len(rows), "products": sorted({row["entity_id"] for row in rows})}
    return duework.fan_out(
        INVENTORY, get_settings().stock_updates_queue, now, lambda item: {"sku": item.entity_id, "due_key": item.key, "checks": item.checks}, limit
    )
