"""Claims: record the intent to cause a side effect before causing it.

A label or an e-mail cannot be taken back, and neither Sendcloud nor SendGrid has an idempotency
key. So a worker first creates (or takes over) the row that stands for the side effect, as its
owner with a lease, and only the owner acts. The owner is the queue message id: a redelivery of
the same message after a crash is the same owner and picks up where it left; a duplicate copy of
the message is another owner and leaves the work to the first while its lease runs.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import TableClient, UpdateMode

from . import context


class ClaimResult(Enum):
    MINE = "mine"  # this caller owns the row now and must act
    DONE = "done"  # the side effect happened (or failed for good) already
    BUSY = "busy"  # another owner holds a live lease and is acting now


@dataclass
class Claim:
    result: ClaimResult
    row: dict[str, Any]  # as stored, with its etag in row["etag"]
    taken_over: bool = False  # a former owner's lease ran out: it may have acted already


def owner_id() -> str:
    return context.message_id.get() or f"local-{uuid.uuid4().hex}"


def claim(
    table: TableClient, row: dict[str, Any], owner: str, now: datetime, lease: timedelta, is_done: Callable[[dict[str, Any]], bool]
) -> Claim:
    """Creates the row owned by `owner`, or takes it over when its owner is this one or its lease ended."""
    leased = {**row, "owner": owner, "lease_until": (now + lease).isoformat()}
    try:
        metadata = table.create_entity(leased)
        return Claim(ClaimResult.MINE, {**leased, "etag": metadata["etag"]})
    except ResourceExistsError:
        pass
    current = _read(table, row["PartitionKey"], row["RowKey"])
    if current is None:  # deleted between our create and read: rare; let the caller retry
        return Claim(ClaimResult.BUSY, row)
    if is_done(current):
        return Claim(ClaimResult.DONE, current)
    lease_until = datetime.fromisoformat(current["lease_until"]) if current.get("lease_until") else now
    if current.get("owner") != owner and lease_until > now:
        return Claim(ClaimResult.BUSY, current)
    taken = {**current, "owner": owner, "lease_until": (now + lease).isoformat()}
    try:
        taken["etag"] = update(table, taken)
    except ResourceModifiedError:
        return Claim(ClaimResult.BUSY, current)
    return Claim(ClaimResult.MINE, taken, taken_over=current.get("owner") != owner)


def update(table: TableClient, row: dict[str, Any]) -> str:
    """Conditional replace with the row's etag; returns the new etag (412 -> ResourceModifiedError)."""
    entity = {k: v for k, v in row.items() if k != "etag"}
    metadata = table.update_entity(entity, mode=UpdateMode.REPLACE, etag=row["etag"], match_condition=MatchConditions.IfNotModified)
    return metadata["etag"]


def _read(table: TableClient, partition: str, row_key: str) -> dict[str, Any] | None:
    try:
        entity = table.get_entity(partition, row_key)
    except ResourceNotFoundError:
        return None
    return {**entity, "etag": entity.metadata["etag"]}
