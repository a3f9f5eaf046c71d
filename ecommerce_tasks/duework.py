"""The due-work index: what a timer must look at, readable in O(due).

Each kind of work ("payments", ...) is spread over SHARDS partitions ("payments|00" ...), an
entity always in the same one. RowKey = "<due time, ISO UTC>|<entity id>", so "everything due by
now" is one range query per shard that reads only due rows, however many orders the shop has ever
had. Rows are hints, not truth: a worker re-reads the entity, and a stale row (the entity
finished meanwhile) is simply deleted when it comes up.

Why shards: one partition serves about 2,000 entities/s on Azure, and the payment path touches
its due row 4 times per order, so a single partition would cap a shop near 1.8 M orders an hour.
Azurite shows the same limit early: its cost per row operation grows with the partition's size.

A scan leases what it enqueues by moving each row to "now + lease" (delete + insert in entity-group
transactions of up to 50 rows): two overlapping scans cannot both enqueue a row, and a work item
that never completes comes up again when its lease ends, so nothing is lost.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables import TableClient, TableEntity, TableTransactionError

from .settings import get_settings
from .storage import table_client

log = logging.getLogger("ecommerce_tasks.duework")

TRANSACTION_ROWS = 50  # two operations per leased row; a transaction holds at most 100
# Fixed, not a setting: rows are found only in the shards the scan reads. 8 x 2,000 entities/s
# lets the queue (2,000 messages/s) bite first.
SHARDS = 8


def partition(kind: str, entity_id: str) -> str:
    """The shard of kind that holds entity_id's rows (crc32: stable across processes, unlike hash())."""
    return f"{kind}|{zlib.crc32(entity_id.encode()) % SHARDS:02d}"


def partitions(kind: str) -> list[str]:
    return [f"{kind}|{shard:02d}" for shard in range(SHARDS)]


def entity_of(key: str) -> str:
    return key.split("|", 1)[1]


def chunks_per_partition(items: Iterable, partition_of: Callable[[Any], str], size: int) -> list[list]:
    """items in chunks of up to size, each chunk from one partition (as a transaction must be)."""
    by_partition: dict[str, list] = {}
    for item in items:
        by_partition.setdefault(partition_of(item), []).append(item)
    return [part[start : start + size] for part in by_partition.values() for start in range(0, len(part), size)]


def due_key(due_at: datetime, entity_id: str) -> str:
    stamp = due_at.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return f"{stamp}|{entity_id}"


@dataclass(frozen=True)
class DueItem:
    entity_id: str
    key: str
    checks: int


def duework_table() -> TableClient:
    return table_client(get_settings().table("duework"))


def due_row(kind: str, entity_id: str, due_at: datetime, checks: int = 0) -> dict:
    return {"PartitionKey": partition(kind, entity_id), "RowKey": due_key(due_at, entity_id), "entity_id": entity_id, "checks": checks}


def schedule(kind: str, entity_id: str, due_at: datetime, checks: int = 0, replacing: str | None = None) -> str:
    """Adds (or moves) the row that makes entity_id due at due_at; one request either way."""
    row = due_row(kind, entity_id, due_at, checks)
    key = row["RowKey"]
    if not replacing or replacing == key:
        duework_table().upsert_entity(row)  # one row: no transaction needed (a transaction costs more)
        return key
    try:
        duework_table().submit_transaction([("delete", {"PartitionKey": row["PartitionKey"], "RowKey": replacing}), ("upsert", row)])
    except TableTransactionError:
        # The old row was gone already (finished by another worker, or a replayed message).
        duework_table().upsert_entity(row)
    return key


def remove(kind: str, key: str) -> None:
    try:
        duework_table().delete_entity(partition(kind, entity_of(key)), key)
    except ResourceNotFoundError:
        pass


def find_due(kind: str, now: datetime, limit: int) -> list[dict]:
    """The rows due by now, oldest first across the shards: reads only those (pages of up to 1,000)."""
    upper = due_key(now, "~")
    shards = [
        duework_table().query_entities(
            "PartitionKey eq @shard and RowKey le @upper", parameters={"shard": shard, "upper": upper}, results_per_page=min(limit, 1000),
        )
        for shard in partitions(kind)
    ]
    return list(itertools.islice(heapq.merge(*shards, key=lambda row: row["RowKey"]), limit))


def rows_of(kind: str) -> Iterable[dict]:
    """Every row of kind, due or not (for status reports)."""
    for shard in partitions(kind):
        yield from duework_table().query_entities("PartitionKey eq @shard", parameters={"shard": shard}, select=["RowKey"])


def lease(rows: list[dict], now: datetime) -> list[DueItem]:
    """Moves each due row to now + lease; returns the items this caller leased (and must enqueue).

    An entity with several due rows (say, a payment's first check and the order's window end) is
    leased once; its other rows are deleted in the same transaction.
    """
    lease_until = now + timedelta(minutes=get_settings().lease_minutes)
    leased: list[DueItem] = []
    seen: set[str] = set()
    for chunk in chunks_per_partition(rows, lambda row: row["PartitionKey"], TRANSACTION_ROWS):
        moves: list[tuple[TableEntity, dict | None]] = []
        for row in chunk:
            first = row["entity_id"] not in seen
            seen.add(row["entity_id"])
            moves.append((row, _moved(row, lease_until) if first else None))
        operations: list[tuple] = []
        for old, new in moves:
            operations.append(("delete", old, {"etag": old.metadata["etag"], "match_condition": MatchConditions.IfNotModified}))
            if new:
                operations.append(("upsert", new))
        try:
            duework_table().submit_transaction(operations)
            leased.extend(_item(new) for _, new in moves if new)
        except TableTransactionError:
            # Someone else moved some of these rows (an overlapping scan or a worker): lease one by one.
            leased.extend(item for old, new in moves if (item := _lease_one(old, new)))
    return leased


def _item(row: dict) -> DueItem:
    return DueItem(row["entity_id"], row["RowKey"], int(row["checks"]))


def _moved(row: dict, lease_until: datetime) -> dict:
    return {
        "PartitionKey": row["PartitionKey"],
        "RowKey": due_key(lease_until, row["entity_id"]),
        "entity_id": row["entity_id"],
        "checks": int(row.get("checks") or 0),
    }


def _lease_one(old: TableEntity, new: dict | None) -> DueItem | None:
    # A transaction even for one row: unlike delete_entity, it fails on a row already gone (404),
    # which is exactly the "someone else leased it" signal.
    operations: list[tuple] = [("delete", old, {"etag": old.metadata["etag"], "match_condition": MatchConditions.IfNotModified})]
    if new is not None:
        operations.append(("upsert", new))
    try:
        duework_table().submit_transaction(operations)
    except TableTransactionError:
        return None
    return _item(new) if new is not None else None


def fan_out(kind: str, queue: str, now: datetime, payload: Callable[[DueItem], dict], limit: int = 20_000) -> dict[str, int]:
    """The common timer body: lease what is due of one kind and enqueue one work item per entity."""
    from .storage import enqueue_many

    rows = find_due(kind, now, limit)
    leased = lease(rows, now)
    enqueued = enqueue_many(queue, (payload(item) for item in leased))
    log.info("%s scan: %d due rows, %d work items enqueued", kind, len(rows), enqueued)
    return {"found": len(rows), "enqueued": enqueued}
