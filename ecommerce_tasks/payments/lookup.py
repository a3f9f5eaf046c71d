"""payment id -> order id, so a webhook (which names only the payment) finds its order."""

from __future__ import annotations

from azure.core.exceptions import ResourceNotFoundError

from ..settings import get_settings
from ..storage import table_client


def _table():
    return table_client(get_settings().table("paymentlookup"))


def remember_payment(provider: str, payment_id: str, order_id: str) -> None:
    _table().upsert_entity({"PartitionKey": payment_id, "RowKey": provider, "order_id": order_id})


def order_for_payment(provider: str, payment_id: str) -> str | None:
    try:
        return _table().get_entity(payment_id, provider)["order_id"]
    except ResourceNotFoundError:
        return None
