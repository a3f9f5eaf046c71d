"""Orders and their payment attempts in Table Storage.

One partition per order (PartitionKey = order id): the order row ("order"), one row per payment
attempt ("payment|<id>") and, once cancelled, the stock release ("stockrelease"). One query reads
an order with all its attempts; one entity-group transaction writes them together.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime
from collections.abc import Iterable, Mapping
from typing import Any

from azure.core import MatchConditions
from azure.data.tables import TableClient, UpdateMode

from .entities import from_entity
from .settings import get_settings
from .storage import table_client

ORDER_ROW = "order"
PAYMENT_PREFIX = "payment|"
STOCK_RELEASE_ROW = "stockrelease"
SHIPMENT_ROW = "shipment"


class OrderStatus:
    AWAITING_PAYMENT = "awaiting_payment"
    AUTHORIZED = "authorized"  # the money is reserved (pay later, manual capture): it ships, then is captured
    PAID = "paid"
    CANCELLED = "cancelled"

    # An order in one of these ships: it gets a label.
    SHIPPABLE = frozenset({AUTHORIZED, PAID})


def iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None



@dataclass
class PaymentAttempt:
    provider: str
    payment_id: str
    created_at: str
    state: str = "open"
    provider_status: str = ""
    expires_at: str | None = None
    checked_at: str | None = None

    @property
    def row_key(self) -> str:
        return PAYMENT_PREFIX + self.payment_id

    def to_entity(self, order_id: str) -> dict[str, Any]:
        return {"PartitionKey": order_id, "RowKey": self.row_key, **asdict(self)}

    @classmethod
    def from_entity(cls, entity: Mapping[str, Any]) -> "PaymentAttempt":
        return from_entity(cls, entity)


@dataclass
class Order:
    order_id: str
    status: str
    placed_at: str
    amount: str
    currency: str
    customer_email: str
    customer_name: str
    lines: list[dict[str, Any]]
    window_ends_at: str
    paid_at: str | None = None
    paid_method: str | None = None
    paid_amount: str | None = None
    paid_payment_id: str | None = None
    cancelled_at: str | None = None
    cancel_reason: str | None = None
    needs_review: bool = False
    review_reason: str | None = None
    authorized_payment_id: str | None = None
    authorized_at: str | None = None
    authorization_expires_at: str | None = None
    authorization_alerted: bool = False
    captured_at: str | None = None
    capture_failed_reason: str | None = None
    ships: bool = True
    shipping_address: dict[str, str] | None = None
    weight_grams: int | None = None
    # Outbound events written with the state change that caused them, published afterwards.
    outbox: list[dict[str, Any]] = field(default_factory=list)
    outbox_owner: str | None = None
    outbox_until: str | None = None
    etag: str | None = None

    def to_entity(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("etag")
        data["lines"] = json.dumps(self.lines)
        data["outbox"] = json.dumps(self.outbox)
        data["shipping_address"] = json.dumps(self.shipping_address) if self.shipping_address else None
        return {"PartitionKey": self.order_id, "RowKey": ORDER_ROW, **data}

    @classmethod
    def from_entity(cls, entity: Any) -> "Order":
        values = {k: entity.get(k) for k in cls.__dataclass_fields__ if k != "etag"}
        values["lines"] = json.loads(values["lines"] or "[]")
        values["outbox"] = json.loads(values["outbox"] or "[]")
        values["needs_review"] = bool(values["needs_review"])
        values["authorization_alerted"] = bool(values["authorization_alerted"])
        values["ships"] = values["ships"] is not False
        values["shipping_address"] = json.loads(values["shipping_address"]) if values["shipping_address"] else None
        return cls(**values, etag=entity.metadata.get("etag"))


@dataclass
class OrderRecord:
    """An order as stored: the order row (None if unknown) and its payment attempts."""

    order: Order | None
    attempts: dict[str, PaymentAttempt]
    shipment: dict[str, Any] | None = None  # the shipping family's row, as stored (see shipping.model)


def orders_table() -> TableClient:
    return table_client(get_settings().table("orders"))


def load_order(order_id: str) -> OrderRecord:
    """One query: the order row, every payment attempt and the shipment of the order."""
    return order_record(orders_table().query_entities("PartitionKey eq @pk", parameters={"pk": order_id}))


def order_record(entities: Iterable[Any]) -> OrderRecord:
    """The order's partition, read by whichever client, as a record."""
    order = None
    shipment = None
    attempts: dict[str, PaymentAttempt] = {}
    for entity in entities:
        row = entity["RowKey"]
        if row == ORDER_ROW:
            order = Order.from_entity(entity)
        elif row.startswith(PAYMENT_PREFIX):
            attempt = PaymentAttempt.from_entity(entity)
            attempts[attempt.payment_id] = attempt
        elif row == SHIPMENT_ROW:
            shipment = {**entity, "etag": entity.metadata["etag"]}
    return OrderRecord(order, attempts, shipment)


def order_update_operation(order: Order) -> tuple:
    """A transaction operation replacing the order row only if nobody changed it since it was read."""
    return (
        "update",
        order.to_entity(),
        {"mode": UpdateMode.REPLACE, "etag": order.etag, "match_condition": MatchConditions.IfNotModified},
    )


def replace_order(order: Order) -> None:
    """Conditional write of the order row; raises ResourceModifiedError (412) if it changed meanwhile."""
    metadata = orders_table().update_entity(
        order.to_entity(), mode=UpdateMode.REPLACE, etag=order.etag, match_condition=MatchConditions.IfNotModified
    )
    order.etag = metadata.get("etag")


def order_outbox(order_id: str):
    from .outcomes import OutboxStore

    return OutboxStore(f"order {order_id}", lambda: load_order(order_id).order, replace_order)
