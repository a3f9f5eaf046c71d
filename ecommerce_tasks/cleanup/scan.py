"""The clean-up scan: due checkouts and expired leads, fanned out in chunks.

Bounded per run (CLEANUP_MAX_PER_RUN): whatever is left stays due in the index and the next run
continues there, so millions of old carts never time out a run.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import datetime

from .. import clock, duework

from ..settings import get_settings
from ..storage import enqueue_many
from .decide import decide, view
from .intake import CHECKOUTS, LEADS
from .model import COMPLETED_ROW, load_checkout

log = logging.getLogger("ecommerce_tasks.cleanup")


def scan_cleanup(now: datetime | None = None, dry_run: bool = False) -> dict:
    settings = get_settings()
    now = now or clock.utcnow()
    report: dict = {}
    for kind in (CHECKOUTS, LEADS):
        rows = duework.find_due(kind, now, settings.cleanup_max_per_run)
        if dry_run:
            report[kind] = _preview(kind, rows, now)
            continue
        leased = duework.lease(rows, now)
        chunks = _chunks(kind, leased, settings.cleanup_chunk)
        sent = enqueue_many(
            settings.cleanup_queue,
            ({"kind": kind, "items": [{"id": item.entity_id, "due_key": item.key} for item in chunk]} for chunk in chunks),
        )
        report[kind] = {"due": len(rows), "leased": len(leased), "work_items": sent}
        log.info("clean-up scan: %s %s", kind, report[kind])
    return report


def _chunks(kind: str, items: list[duework.DueItem], size: int) -> list[list[duework.DueItem]]:
    """Work items of up to size entities, each from one shard: the worker then moves their due
    rows in one transaction."""
    return duework.chunks_per_partition(items, lambda item: duework.partition(kind, item.entity_id), size)


def _preview(kind: str, rows: list[dict], now: datetime) -> dict:
    ids = list(dict.fromkeys(row["entity_id"] for row in rows))
    if kind == LEADS:
        return {"due": len(ids), "would purge": ids}
    actions: dict[str, list[str]] = {}
    for checkout_id in ids:
        checkout_rows = load_checkout(checkout_id)
        if any(row["RowKey"] == COMPLETED_ROW for row in checkout_rows):
            action = "forget (completed)"
        else:
            action = decide(view(checkout_id, checkout_rows), now, get_settings()).kind if checkout_rows else "gone"
        actions.setdefault(action, []).append(checkout_id)
    return {"due": len(ids), **{f"would {k}": v for k, v in actions.items()}, "counts": dict(Counter({k: len(v) for k, v in actions.items()}))}
