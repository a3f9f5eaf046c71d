"""Receiving checkout steps, completions and erasure requests."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from .. import duework
from ..shop_events import CheckoutCompleted, CheckoutUpdated, ErasureRequested
from ..settings import get_settings
from ..leads import leads_table
from .model import COMPLETED_ROW, checkouts_table, customer_key, customers_table, delete_rows, load_checkout

log = logging.getLogger("ecommerce_tasks.cleanup")

CHECKOUTS = "checkouts"
LEADS = "leads"


def record_checkout_step(event: CheckoutUpdated) -> None:
    row_key = f"line|{event.line.sku}" if event.line else event.step
    row = {
        "PartitionKey": event.checkout_id,
        "RowKey": row_key,
        "step": event.step,
        "occurred_at": event.occurred_at.isoformat(),
        "event": event.model_dump_json(exclude_none=True),
    }
    checkouts_table().upsert_entity(row)
    if event.email:
        customers_table().upsert_entity({"PartitionKey": customer_key(event.email), "RowKey": f"checkout|{event.checkout_id}"})
    duework.schedule(CHECKOUTS, event.checkout_id, first_look(event.occurred_at))


def first_look(activity: datetime) -> datetime:
    """When an idle checkout is first worth a look: after the sooner threshold, rounded up to a
    step (an hour, or half the threshold if that is shorter), so that the events of one busy step
    share one due row. The worker reschedules if it is not idle yet."""
    settings = get_settings()
    sooner = timedelta(hours=min(settings.empty_cart_after_hours, settings.abandoned_after_hours))
    step = min(timedelta(hours=1), sooner / 2)
    due = activity + sooner
    epoch = datetime(2000, 1, 1, tzinfo=due.tzinfo)
    return epoch + ((due - epoch) // step + 1) * step


def complete_checkout(event: CheckoutCompleted) -> None:
    """Leaves a tombstone and removes the steps; the clean-up removes the tombstone (and any step
    that arrives late) once no late step is to be expected any more."""
    checkouts_table().upsert_entity({"PartitionKey": event.checkout_id, "RowKey": COMPLETED_ROW, "order_id": event.order_id,
                                     "completed_at": event.occurred_at.isoformat()})
    rows = [row for row in load_checkout(event.checkout_id) if row["RowKey"] != COMPLETED_ROW]
    delete_rows(checkouts_table(), rows)
    duework.schedule(CHECKOUTS, event.checkout_id, tombstone_until(event.occurred_at))
    log.info("checkout %s became order %s: %d rows removed", event.checkout_id, event.order_id, len(rows))


def tombstone_until(completed_at: datetime) -> datetime:
    return completed_at + timedelta(hours=get_settings().abandoned_after_hours)


def erase_customer(event: ErasureRequested) -> dict[str, int]:
    """Deletes every lead and open checkout of the customer, then the index entries themselves."""
    key = customer_key(event.email)
    entries = [dict(e) for e in customers_table().query_entities("PartitionKey eq @k", parameters={"k": key})]
    erased = {"checkouts": 0, "leads": 0}
    for entry in entries:
        kind, entity_id = entry["RowKey"].split("|", 1)
        if kind == "checkout":
            delete_rows(checkouts_table(), load_checkout(entity_id))
            erased["checkouts"] += 1
        else:
            leads_table().delete_entity(entity_id, "lead")
            erased["leads"] += 1
    delete_rows(customers_table(), entries)
    log.info("erasure %s: %d checkouts and %d leads deleted", event.event_id, erased["checkouts"], erased["leads"])
    return erased
