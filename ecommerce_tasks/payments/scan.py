"""The due scan: find orders whose payment check is due and fan out one work item each."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

from .. import clock, duework

from ..providers.payments import payment_providers
from ..settings import get_settings
from ..storage import enqueue_many
from .check import PAYMENTS, preview

log = logging.getLogger("ecommerce_tasks.payments")

MAX_PER_RUN = 20_000  # the rest stays due and is picked up by the next run


@dataclass
class ScanReport:
    found: int = 0
    enqueued: int = 0
    previews: dict[str, str] = field(default_factory=dict)


def scan_due_payments(now: datetime | None = None, dry_run: bool = False, limit: int = MAX_PER_RUN) -> ScanReport:
    settings = get_settings()
    now = now or clock.utcnow()
    rows = duework.find_due(PAYMENTS, now, limit)
    report = ScanReport(found=len(rows))
    if dry_run:
        providers = payment_providers(settings)
        for order_id in dict.fromkeys(row["entity_id"] for row in rows):
            report.previews[order_id] = preview(order_id, now, settings, providers)
        return report
    leased = duework.lease(rows, now)
    report.enqueued = enqueue_many(
        settings.payment_checks_queue,
        ({"order_id": item.entity_id, "due_key": item.key, "checks": item.checks} for item in leased),
    )
    log.info("payment scan: %d due rows, %d orders enqueued", report.found, report.enqueued)
    return report
