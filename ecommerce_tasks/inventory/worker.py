"""The stock worker: applies a product's unapplied events exactly once, under concurrency."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from azure.data.tables import TableTransactionError
from pydantic import BaseModel, ConfigDict, Field

from .. import clock, duework
from ..shop_events import StockChanged
from ..outcomes import add_to_outbox, publish_outbox
from ..work import PermanentError
from .apply import apply_events
from .intake import INVENTORY
from .model import LEDGER, Product, load_product, product_outbox, product_update_operation, stock_table

log = logging.getLogger("ecommerce_tasks.inventory")

EVENTS_PER_TRANSACTION = 49  # 1 product update + 2 operations per event <= 100
MAX_ROUNDS = 50


class ApplyMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sku: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")]
    due_key: Annotated[str, Field(max_length=200)] | None = None
    checks: Annotated[int, Field(ge=0)] = 0


@dataclass
class ApplyReport:
    applied: int = 0
    duplicates: int = 0
    product: Product | None = None


def apply_stock(message: ApplyMessage, now: datetime | None = None) -> ApplyReport:
    now = now or clock.utcnow()
    owner = uuid.uuid4().hex
    report = ApplyReport()
    product = None
    for _ in range(MAX_ROUNDS):
        product, inbox = load_product(message.sku)
        if product is None:
            raise PermanentError(f"unknown product {message.sku!r}")
        chunk = sorted(inbox, key=lambda r: (r["occurred_at"], r["RowKey"]))[:EVENTS_PER_TRANSACTION]
        events = [StockChanged.model_validate_json(row["event"]) for row in chunk]
        applied = apply_events(product, events, now)
        if not chunk and not applied.events:
            break
        if applied.events:
            add_to_outbox(product, applied.events, owner, now)
        operations = [product_update_operation(product)]
        operations += [("create", row) for row in applied.ledger_rows]
        operations += [("delete", row) for row in chunk]
        try:
            results = stock_table().submit_transaction(operations)
        except TableTransactionError as exc:
            if exc.status_code == 412:
                continue  # another worker changed the product: re-read and go again
            if exc.status_code == 409:
                report.duplicates += _drop_replayed(message.sku, chunk)
                continue
            raise
        product.etag = results[0].get("etag")
        report.applied += len(chunk)
        if len(inbox) <= EVENTS_PER_TRANSACTION:
            break
    else:
        raise RuntimeError(f"product {message.sku}: still busy after {MAX_ROUNDS} rounds")

    come_back = publish_outbox(product, product_outbox(message.sku), owner, now)
    if come_back:
        duework.schedule(INVENTORY, message.sku, come_back, replacing=message.due_key)
    elif message.due_key:
        duework.remove(INVENTORY, message.due_key)
    report.product = product
    log.info("product %s: %d events applied, %d replays dropped, %d sellable", message.sku, report.applied, report.duplicates, product.sellable)
    return report


def _drop_replayed(sku: str, chunk: list[dict]) -> int:
    """Some events in the chunk were applied before (their ledger rows exist): drop their inbox rows."""
    table = stock_table()
    event_ids = [row["RowKey"][len("inbox|"):] for row in chunk]
    clauses = " or ".join(f"RowKey eq @e{i}" for i in range(len(event_ids)))
    parameters = {"sku": sku, **{f"e{i}": LEDGER + event_id for i, event_id in enumerate(event_ids)}}
    done = {row["event_id"] for row in table.query_entities(f"PartitionKey eq @sku and ( {clauses} )", parameters=parameters, select=["event_id"])}
    for row in chunk:
        if row["RowKey"][len("inbox|"):] in done:
            table.delete_entity(row["PartitionKey"], row["RowKey"])
    log.info("product %s: %d replayed events dropped", sku, len(done))
    return len(done)
