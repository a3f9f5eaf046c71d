"""Applies shop events to the tables. Every apply is idempotent: a replayed event changes nothing."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from azure.core.exceptions import ResourceExistsError
from azure.data.tables import UpdateMode

from .. import duework
from ..logs import mask_email
from ..orders import ORDER_ROW, Order, OrderStatus, PaymentAttempt, iso, load_order, orders_table
from ..payments.lookup import remember_payment
from ..settings import get_settings
from ..work import parse
from ..inventory.intake import record_stock_event, upsert_product
from ..cleanup.intake import complete_checkout, erase_customer, record_checkout_step
from .events import (
    SHOP_EVENT,
    CheckoutCompleted,
    CheckoutUpdated,
    ErasureRequested,
    OrderPlaced,
    PaymentRef,
    PaymentStarted,
    ProductUpserted,
    StockChanged,
)

log = logging.getLogger("ecommerce_tasks.intake")

PAYMENTS = "payments"


ShopEventModel = OrderPlaced | PaymentStarted | ProductUpserted | StockChanged | CheckoutUpdated | CheckoutCompleted | ErasureRequested


def parse_event(body: str) -> ShopEventModel:
    return parse(SHOP_EVENT, body, "shop event")


def apply_event(event: ShopEventModel) -> None:
    HANDLERS[type(event)](event)


def _place_order(event: OrderPlaced) -> None:
    settings = get_settings()
    window_ends = event.placed_at + timedelta(hours=settings.payment_window_hours)
    order = Order(
        order_id=event.order_id,
        status=OrderStatus.AWAITING_PAYMENT,
        placed_at=event.placed_at.isoformat(),
        amount=event.amount,
        currency=event.currency,
        customer_email=event.customer.email,
        customer_name=event.customer.name,
        lines=[line.model_dump() for line in event.lines],
        window_ends_at=window_ends.isoformat(),
        ships=event.ships,
        shipping_address=event.shipping_address.model_dump() if event.shipping_address else None,
        weight_grams=event.weight_grams,
    )
    try:
        orders_table().create_entity(order.to_entity())
        log.info("order %s placed by %s", event.order_id, mask_email(event.customer.email))
    except ResourceExistsError:
        log.info("order %s already known: replayed order.placed ignored", event.order_id)
    for payment in event.payments:
        _add_attempt(event.order_id, payment)
    # Events may arrive in any order: read back the attempts, including any payment.started that
    # overtook this event (it stored its attempt before looking for the order; we look after).
    attempts = load_order(event.order_id).attempts.values()
    first_checks = [_first_check(datetime.fromisoformat(a.created_at)) for a in attempts]
    # One due row per order: the first payment check, or the window's end if no payment started
    # (an order nobody pays is cancelled then). Every check schedules the next, window included.
    duework.schedule(PAYMENTS, event.order_id, min([*first_checks, window_ends]))


def _start_payment(event: PaymentStarted) -> None:
    _add_attempt(event.order_id, event)  # store first, then look: see _place_order
    if _order_exists(event.order_id):
        duework.schedule(PAYMENTS, event.order_id, _first_check(event.created_at))
    else:
        log.info("payment %s arrived before order %s: its order.placed will schedule the check", event.payment_id, event.order_id)


def _first_check(created_at: datetime) -> datetime:
    return created_at + timedelta(minutes=get_settings().payment_first_check_minutes)


def _order_exists(order_id: str) -> bool:
    rows = orders_table().query_entities(
        "PartitionKey eq @pk and RowKey eq @rk", parameters={"pk": order_id, "rk": ORDER_ROW}, select=["RowKey"]
    )
    return any(True for _ in rows)


def _add_attempt(order_id: str, payment: PaymentRef) -> None:
    attempt = PaymentAttempt(provider=payment.provider, payment_id=payment.payment_id, created_at=iso(payment.created_at))
    entity = attempt.to_entity(order_id)
    # A merge without the status fields: a replay never resets a status a worker already recorded.
    for key in ("state", "provider_status", "expires_at", "checked_at"):
        entity.pop(key)
    orders_table().upsert_entity(entity, mode=UpdateMode.MERGE)
    remember_payment(payment.provider, payment.payment_id, order_id)


HANDLERS = {
    OrderPlaced: _place_order,
    PaymentStarted: _start_payment,
    ProductUpserted: upsert_product,
    StockChanged: record_stock_event,
    CheckoutUpdated: record_checkout_step,
    CheckoutCompleted: complete_checkout,
    ErasureRequested: erase_customer,
}
