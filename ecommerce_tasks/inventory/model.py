"""Products, their unapplied stock events and their ledger in Table Storage.

One partition per product (PartitionKey = SKU): the product row ("product"), one inbox row per
received but unapplied event ("inbox|<event id>") and one ledger row per applied event
("ledger|<event id>", with a sequence number). Applying events is one entity-group transaction:
update the product (ETag), create the ledger rows, delete the inbox rows. So there is no moment
where the ledger and the level disagree, and a ledger row that exists already (a replayed event)
makes the transaction fail instead of applying twice.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from azure.core import MatchConditions
from azure.data.tables import TableClient, UpdateMode

from ..outcomes import OutboxStore
from ..entities import etag_of, from_entity
from ..settings import get_settings
from ..storage import table_client

PRODUCT_ROW = "product"
INBOX = "inbox|"
LEDGER = "ledger|"


@dataclass
class Product:
    sku: str
    name: str = ""
    on_hand: int = 0
    reserved: int = 0
    allow_backorders: bool = False
    sell_threshold: int = 0
    low_stock_threshold: int = 5
    available: bool = False
    low_stock: bool = False
    last_recount_at: str | None = None
    ledger_seq: int = 0
    outbox: list[dict[str, Any]] = field(default_factory=list)
    outbox_owner: str | None = None
    outbox_until: str | None = None
    etag: str | None = None

    @property
    def sellable(self) -> int:
        return self.on_hand - self.reserved

    def to_entity(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("etag")
        data["outbox"] = json.dumps(self.outbox)
        return {"PartitionKey": self.sku, "RowKey": PRODUCT_ROW, **data}

    @classmethod
    def from_entity(cls, entity: Any) -> "Product":
        return from_entity(cls, entity, outbox=json.loads(entity.get("outbox") or "[]"), etag=etag_of(entity))


def stock_table() -> TableClient:
    return table_client(get_settings().table("stock"))


def load_product(sku: str) -> tuple[Product | None, list[dict[str, Any]]]:
    """One query: the product row and its unapplied events (not the ledger, which only grows)."""
    product: Product | None = None
    inbox: list[dict[str, Any]] = []
    rows = stock_table().query_entities(
        "PartitionKey eq @sku and ( RowKey eq @product or ( RowKey ge @lo and RowKey lt @hi ) )",
        parameters={"sku": sku, "product": PRODUCT_ROW, "lo": INBOX, "hi": INBOX[:-1] + "}"},
    )
    for row in rows:
        if row["RowKey"] == PRODUCT_ROW:
            product = Product.from_entity(row)
        else:
            inbox.append(row)  # a TableEntity: a dict with its metadata
    return product, inbox


def product_update_operation(product: Product) -> tuple:
    return ("update", product.to_entity(), {"mode": UpdateMode.REPLACE, "etag": product.etag, "match_condition": MatchConditions.IfNotModified})


def replace_product(product: Product) -> None:
    metadata = stock_table().update_entity(
        product.to_entity(), mode=UpdateMode.REPLACE, etag=product.etag, match_condition=MatchConditions.IfNotModified
    )
    product.etag = metadata.get("etag")


def product_outbox(sku: str) -> "OutboxStore[Product]":
    return OutboxStore(f"product {sku}", lambda: load_product(sku)[0], replace_product)


def ledger(sku: str) -> list[dict[str, Any]]:
    """The product's whole ledger, oldest first (an audit read, not on any hot path)."""
    rows = stock_table().query_entities(
        "PartitionKey eq @sku and RowKey ge @lo and RowKey lt @hi", parameters={"sku": sku, "lo": LEDGER, "hi": LEDGER[:-1] + "}"}
    )
    return sorted((dict(r) for r in rows), key=lambda r: r["seq"])
