"""Shop events that concern orders and their payments: order.placed and payment.started. Every
apply is idempotent: a replayed event changes nothing."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta

from azure.core.exceptions import ResourceExistsError
from azure.data.tables import UpdateMode

from .. import clock, duework
from ..logs import mask_email
from ..orders import ORDER_ROW, Order, OrderStatus, PaymentAttempt, load_order, order_outbox, orders_table
from ..outcomes import add_to_outbox, make_event, publish_outbox
from ..settings import get_settings
from ..shop_events import OrderPlaced, PaymentRef, PaymentStarted
from ..work import PermanentError
from .lookup import claim_payment

log = logging.getLogger("ecommerce_tasks.payments")

PAYMENTS = "payments"


def place_order(event: OrderPlaced) -> None:
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
    # One payment pays one order: a payment another order named first is not this order's.
    owners = {p.payment_id: claim_payment(p.provider, p.payment_id, event.order_id) for p in event.payments}
    taken = {pid: owner for pid, owner in owners.items() if owner != event.order_id}
    publisher = uuid.uuid4().hex
    now = clock.utcnow()
    if taken:
        order.needs_review = True
        order.review_reason = "; ".join(f"payment {pid} belongs to order {owner}: not used for this order" for pid, owner in taken.items())
        add_to_outbox(order, [make_event("order.review_needed", {"order_id": order.order_id}, now, {"reason": order.review_reason}, "payment_taken")],
                      publisher, now)
    try:
        order.etag = orders_table().create_entity(order.to_entity()).get("etag")
        log.info("order %s placed by %s", event.order_id, mask_email(event.customer.email))
        if taken:
            log.warning("order %s: %s", event.order_id, order.review_reason)
            publish_outbox(order, order_outbox(order.order_id), publisher, now)
    except ResourceExistsError:
        log.info("order %s already known: replayed order.placed ignored", event.order_id)
    for payment in event.payments:
        if payment.payment_id not in taken:
            _store_attempt(event.order_id, payment)
    # Events may arrive in any order: read back the attempts, including any payment.started that
    # overtook this event (it stored its attempt before looking for the order; we look after).
    attempts = load_order(event.order_id).attempts.values()
    first_checks = [_first_check(datetime.fromisoformat(a.created_at)) for a in attempts]
    # One due row per order: the first payment check, or the window's end if no payment started
    # (an order nobody pays is cancelled then). Every check schedules the next, window included.
    duework.schedule(PAYMENTS, event.order_id, min([*first_checks, window_ends]))


def start_payment(event: PaymentStarted) -> None:
    owner = claim_payment(event.provider, event.payment_id, event.order_id)
    if owner != event.order_id:
        raise PermanentError(f"payment {event.payment_id} belongs to order {owner}: one payment pays one order, not also {event.order_id}")
    _store_attempt(event.order_id, event)  # store first, then look: see _place_order
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


def _store_attempt(order_id: str, payment: PaymentRef) -> None:
    attempt = PaymentAttempt(provider=payment.provider, payment_id=payment.payment_id, created_at=payment.created_at.isoformat())
    entity = attempt.to_entity(order_id)
    # A merge without the status fields: a replay never resets a status a worker already recorded.
    for key in ("state", "provider_status", "expires_at", "checked_at"):
        entity.pop(key)
    orders_table().upsert_entity(entity, mode=UpdateMode.MERGE)
