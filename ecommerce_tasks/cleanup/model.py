"""Checkouts, leads and the customer index in Table Storage.

- `checkouts`: one partition per checkout, one row per step as the shop sends them: "cart",
  "line|<sku>", "address", "shipping", "payment". One query reads a checkout; transactions of up
  to 100 operations delete it. A completed checkout keeps one row, "completed", for a while: a
  step event that arrives after the completion (events overtake each other on a queue) must not
  bring the checkout back as abandoned.
- `leads`: one row per archived checkout (PartitionKey = checkout id, RowKey "lead").
- `customers`: PartitionKey = a hash of the customer's e-mail address (never the address itself),
  RowKey = "checkout|<id>" or "lead|<id>": what an erasure request must delete.
"""

from __future__ import annotations

import hashlib
from typing import Any

from azure.data.tables import TableClient

from ..settings import get_settings
from ..storage import table_client

MAX_TRANSACTION = 100


def checkouts_table() -> TableClient:
    return table_client(get_settings().table("checkouts"))


def customers_table() -> TableClient:
    return table_client(get_settings().table("customers"))


def customer_key(email: str) -> str:
    return hashlib.sha256(email.strip().lower().encode("utf-8")).hexdigest()


COMPLETED_ROW = "completed"


def load_checkout(checkout_id: str) -> list[dict[str, Any]]:
    return [dict(row) for row in checkouts_table().query_entities("PartitionKey eq @id", parameters={"id": checkout_id})]


def delete_rows(table: TableClient, rows: list[dict[str, Any]]) -> None:
    """Deletes rows of one partition in transactions of at most 100 operations."""
    for start in range(0, len(rows), MAX_TRANSACTION):
        chunk = rows[start : start + MAX_TRANSACTION]
        try:
            table.submit_transaction([("delete", {"PartitionKey": r["PartitionKey"], "RowKey": r["RowKey"]}) for r in chunk])
        except Exception:  # noqa: BLE001 - a row already gone (a concurrent run) fails the batch: go one by one
            for row in chunk:
                table.delete_entity(row["PartitionKey"], row["RowKey"])  # ignores rows already gone
