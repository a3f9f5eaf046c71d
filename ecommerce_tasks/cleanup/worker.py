"""The clean-up worker: one chunk of checkouts (or leads) per work item, each idempotent."""

from __future__ import annotations

import json
import logging
from collections import Counter
from datetime import datetime, timedelta
from typing import Annotated, Literal

from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.data.tables import TableTransactionError
from pydantic import BaseModel, ConfigDict, Field

from .. import clock, duework

from ..outcomes import make_event, publish
from ..settings import get_settings
from .decide import decide, lead_entity, view
from .intake import CHECKOUTS, LEADS, tombstone_until
from ..leads import leads_table
from .model import COMPLETED_ROW, checkouts_table, customer_key, customers_table, delete_rows, load_checkout

log = logging.getLogger("ecommerce_tasks.cleanup")


class CleanupItem(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")]
    due_key: Annotated[str, Field(max_length=200)]


class CleanupMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["checkouts", "leads"]
    items: Annotated[list[CleanupItem], Field(min_length=1, max_length=100)]


class IndexChanges:
    """Due-index moves of a whole chunk, written in transactions (one per shard, <= 100 operations)."""

    def __init__(self, kind: str):
        self.kind = kind
        self.operations: list[tuple[str, dict]] = []

    def done(self, due_key: str) -> None:
        self.operations.append(("delete", {"PartitionKey": duework.partition(self.kind, duework.entity_of(due_key)), "RowKey": due_key}))

    def move(self, entity_id: str, due_key: str, due_at: datetime) -> None:
        row = duework.due_row(self.kind, entity_id, due_at)
        if row["RowKey"] != due_key:
            self.done(due_key)
        self.operations.append(("upsert", row))

    def commit(self) -> None:
        table = duework.duework_table()
        for chunk in duework.chunks_per_partition(self.operations, lambda operation: operation[1]["PartitionKey"], 100):
            try:
                table.submit_transaction(chunk)
            except TableTransactionError:  # a row already gone (a replayed item): one by one
                for operation, entity in chunk:
                    if operation == "delete":
                        table.delete_entity(entity["PartitionKey"], entity["RowKey"])
                    else:
                        table.upsert_entity(entity)


def clean(message: CleanupMessage, now: datetime | None = None) -> Counter:
    now = now or clock.utcnow()
    outcome: Counter = Counter()
    changes = IndexChanges(CHECKOUTS if message.kind == "checkouts" else LEADS)
    for item in message.items:
        handle = _clean_checkout if message.kind == "checkouts" else _purge_lead
        outcome[handle(item, now, changes)] += 1
    changes.commit()
    log.info("clean-up of %d %s: %s", len(message.items), message.kind, dict(outcome))
    return outcome


def _clean_checkout(item: CleanupItem, now: datetime, changes: IndexChanges) -> str:
    rows = load_checkout(item.id)
    if not rows:
        changes.done(item.due_key)  # erased or cleaned meanwhile
        return "gone"
    completed = next((row for row in rows if row["RowKey"] == COMPLETED_ROW), None)
    if completed:
        return _after_completion(item, rows, completed, now, changes)
    checkout = view(item.id, rows)
    action = decide(checkout, now, get_settings())
    if action.kind == "wait":
        changes.move(item.id, item.due_key, action.until or now)
        return "waiting"
    changes.done(item.due_key)
    if action.kind == "keep":
        return "kept (live payment)"
    if action.kind == "archive":
        _archive(checkout, now)
    delete_rows(checkouts_table(), rows)
    if checkout.email and action.kind == "delete":
        customers_table().delete_entity(customer_key(checkout.email), f"checkout|{item.id}")
    return "archived" if action.kind == "archive" else "deleted"


def _after_completion(item: CleanupItem, rows: list[dict], completed: dict, now: datetime, changes: IndexChanges) -> str:
    """A completed checkout is never a lead: steps that arrived late go, and so does the tombstone
    once no late step is to be expected."""
    late = [row for row in rows if row is not completed]
    expires = tombstone_until(datetime.fromisoformat(completed["completed_at"]))
    for email in {json.loads(row["event"]).get("email") for row in late} - {None}:
        customers_table().delete_entity(customer_key(email), f"checkout|{item.id}")
    if now >= expires:
        delete_rows(checkouts_table(), rows)
        changes.done(item.due_key)
    else:
        delete_rows(checkouts_table(), late)
        changes.move(item.id, item.due_key, expires)
    return "completed"


def _archive(checkout, now: datetime) -> None:
    lead = {**lead_entity(checkout, now), "announced": False}
    try:
        leads_table().create_entity(lead)
        announce = True
    except ResourceExistsError:
        lead = dict(leads_table().get_entity(checkout.checkout_id, "lead"))  # keep the first
        # Announced by whoever created it, unless that worker died before it could (lease over).
        stale = now - datetime.fromisoformat(lead["archived_at"]) > timedelta(minutes=get_settings().lease_minutes)
        announce = not lead.get("announced") and stale
    key = customer_key(checkout.email)
    customers_table().upsert_entity({"PartitionKey": key, "RowKey": f"lead|{checkout.checkout_id}"})
    customers_table().delete_entity(key, f"checkout|{checkout.checkout_id}")
    purge_at = datetime.fromisoformat(lead["archived_at"]) + timedelta(days=get_settings().lead_retention_days)
    duework.schedule(LEADS, checkout.checkout_id, purge_at)
    data = {k: lead[k] for k in ("email", "name", "reminder", "cart_url", "value", "currency", "last_step")}
    data["items"] = json.loads(lead["items"])
    if announce:
        # To the shop and to whoever subscribed (the one reminder, when due; a repeat after a crash
        # is caught by the e-mail ledger).
        publish(make_event("lead.created", {"checkout_id": checkout.checkout_id}, now, data))
        leads_table().update_entity({"PartitionKey": checkout.checkout_id, "RowKey": "lead", "announced": True})


def _purge_lead(item: CleanupItem, now: datetime, changes: IndexChanges) -> str:
    try:
        lead = leads_table().get_entity(item.id, "lead")
    except ResourceNotFoundError:
        changes.done(item.due_key)
        return "gone"
    purge_at = datetime.fromisoformat(lead["archived_at"]) + timedelta(days=get_settings().lead_retention_days)
    if now < purge_at:
        changes.move(item.id, item.due_key, purge_at)
        return "waiting"
    leads_table().delete_entity(item.id, "lead")
    if lead.get("email"):
        customers_table().delete_entity(customer_key(lead["email"]), f"lead|{item.id}")
    changes.done(item.due_key)
    return "purged"
