"""Receiving products and stock events: into the product's inbox, and the product made due."""

from __future__ import annotations

import logging
from typing import Any

from azure.core.exceptions import ResourceExistsError
from azure.data.tables import UpdateMode

from .. import clock, duework
from ..shop_events import ProductUpserted, StockChanged

from ..work import RetryLater
from .model import INBOX, PRODUCT_ROW, Product, stock_table

log = logging.getLogger("ecommerce_tasks.inventory")

INVENTORY = "inventory"


def upsert_product(event: ProductUpserted) -> None:
    settings = {
        "name": event.name,
        "allow_backorders": event.allow_backorders,
        "sell_threshold": event.sell_threshold,
        "low_stock_threshold": event.low_stock_threshold,
    }
    try:
        stock_table().create_entity(Product(sku=event.sku, name=event.name, allow_backorders=event.allow_backorders,
                                            sell_threshold=event.sell_threshold, low_stock_threshold=event.low_stock_threshold).to_entity())
    except ResourceExistsError:
        stock_table().update_entity({"PartitionKey": event.sku, "RowKey": PRODUCT_ROW, **settings}, mode=UpdateMode.MERGE)
    # Thresholds may have changed what is sellable: let the worker re-evaluate availability.
    _make_due(event.sku)


def on_stock_event(event: dict[str, Any]) -> None:
    """Takes a stock change another family published on the `stock` route (an order's stock
    reserved or released by payments); a product not kept here is skipped."""
    record_stock_event(event["data"], unknown_product_ok=True)


def record_stock_event(event: StockChanged | dict[str, Any], unknown_product_ok: bool = False) -> bool:
    """Stores the event in its product's inbox (a replay changes nothing). Returns False if skipped."""
    if isinstance(event, dict):
        event = StockChanged.model_validate(event)
    if not _product_exists(event.sku):
        if unknown_product_ok:
            log.info("stock event %s: product %s is not managed here; skipped", event.event_id, event.sku)
            return False
        raise RetryLater(f"unknown product {event.sku!r} (send product.upserted first)")
    try:
        stock_table().create_entity(
            {"PartitionKey": event.sku, "RowKey": INBOX + event.event_id, "event": event.model_dump_json(), "occurred_at": event.occurred_at.isoformat()}
        )
    except ResourceExistsError:
        log.info("stock event %s already received", event.event_id)
    _make_due(event.sku)
    return True


def _make_due(sku: str) -> None:
    # Due now, to the second: a burst of events for one product shares one due row.
    duework.schedule(INVENTORY, sku, clock.utcnow().replace(microsecond=0))


def _product_exists(sku: str) -> bool:
    rows = stock_table().query_entities(
        "PartitionKey eq @sku and RowKey eq @rk", parameters={"sku": sku, "rk": PRODUCT_ROW}, select=["RowKey"]
    )
    return any(True for _ in rows)
