"""payment id -> order id, so a webhook (which names only the payment) finds its order, and so
one payment pays one order: the first order that names a payment owns it."""

from __future__ import annotations

from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError

from ..settings import get_settings
from ..storage import table_client


def _table():
    return table_client(get_settings().table("paymentlookup"))


def claim_payment(provider: str, payment_id: str, order_id: str) -> str:
    """Records that the payment belongs to the order, unless another order named it first.
    Returns the owning order id (this one, also on a replay). An insert: two orders naming one
    payment at the same moment cannot both win."""
    try:
        _table().create_entity({"PartitionKey": payment_id, "RowKey": provider, "order_id": order_id})
        return order_id
    except ResourceExistsError:
        return order_for_payment(provider, payment_id) or order_id


def order_for_payment(provider: str, payment_id: str) -> str | None:
    try:
        return _table().get_entity(payment_id, provider)["order_id"]
    except ResourceNotFoundError:
        return None
