"""The shipment of an order: one row ("shipment") in the order's partition of the orders table.

It is created as the intent to buy a label (state "creating", with an owner and lease, see
claims.py) before any carrier is asked, and becomes "created" (with the parcel, tracking number,
label document and status history) or "failed" (with the reason). A separate row from the order
row, so payment checks and shipping never contend for one ETag, and one query still reads both.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from ..entities import from_entity
from ..orders import SHIPMENT_ROW, orders_table

CREATING, CREATED, FAILED = "creating", "created", "failed"
LABELS, TRACKING = "labels", "tracking"  # duework kinds
JSON_FIELDS = ("reserved", "history", "outbox")


@dataclass
class Shipment:
    order_id: str
    state: str = CREATING
    carrier: str = ""
    owner: str | None = None
    lease_until: str | None = None
    reserved: dict[str, str] = field(default_factory=dict)  # values persisted before creating (PostNL barcode)
    parcel_id: str | None = None
    tracking_number: str | None = None
    tracking_url: str | None = None
    label_blob: str | None = None
    label_url: str | None = None
    created_at: str | None = None
    status: str | None = None
    carrier_status: str | None = None
    status_message: str | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    last_change_at: str | None = None
    finished: bool = False
    stalled: bool = False
    failure_reason: str | None = None
    outbox: list[dict[str, Any]] = field(default_factory=list)
    outbox_owner: str | None = None
    outbox_until: str | None = None
    etag: str | None = None

    def to_row(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("etag")
        for name in JSON_FIELDS:
            data[name] = json.dumps(data[name])
        return {"PartitionKey": self.order_id, "RowKey": SHIPMENT_ROW, **data}

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> "Shipment":
        decoded = {name: json.loads(row[name]) if row.get(name) else ({} if name == "reserved" else []) for name in JSON_FIELDS}
        return from_entity(cls, row, order_id=row["PartitionKey"], finished=bool(row.get("finished")),
                           stalled=bool(row.get("stalled")), **decoded)


def replace_shipment(shipment: Shipment) -> None:
    """Conditional write (ETag); raises ResourceModifiedError (412) if it changed since it was read."""
    from ..claims import update

    shipment.etag = update(orders_table(), {**shipment.to_row(), "etag": shipment.etag})


def load_shipment(order_id: str) -> Shipment | None:
    from ..orders import load_order

    row = load_order(order_id).shipment
    return Shipment.from_row(row) if row else None


def shipment_outbox(order_id: str):
    from ..outcomes import OutboxStore

    return OutboxStore(f"shipment {order_id}", lambda: load_shipment(order_id), replace_shipment)
