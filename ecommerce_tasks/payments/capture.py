"""Authorize, then capture on shipment, exactly once; and the shop's cancellation with a void.

A capture takes money and cannot be taken back, so it follows the claims pattern the labels use:
1. claim the order's capture row (`capture|<payment id>`) before calling the provider; a duplicate
   or concurrent message finds the claim and leaves;
2. call the provider with an Idempotency-Key derived from the order and the payment, so a retry
   after a crash between the call and the record (the claim's lease ran out, or the message came
   back) is answered as the first call was, and captures nothing twice;
3. record the capture, then check the payment: the provider reports `paid` / `succeeded`, and the
   ordinary check marks the order paid and tells the shop (`order.paid` with `captured_at`).
A capture the provider refuses for good (already captured, authorization gone) is recorded on the
order and sent as `order.capture_failed`, never retried blindly.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta
from typing import Any

from azure.core.exceptions import ResourceModifiedError

from .. import clock
from ..claims import ClaimResult, claim, owner_id, update
from ..http import PermanentProviderError
from ..orders import Order, OrderRecord, OrderStatus, load_order, order_outbox, orders_table, replace_order
from ..outcomes import add_to_outbox, make_event, publish_outbox
from ..providers.payments import PaymentProvider, payment_providers
from ..settings import get_settings
from ..shop_events import OrderCancelRequested
from ..storage import enqueue
from ..work import PermanentError, RetryLater
from .check import CheckMessage, check_payment, write_decision
from .decide import cancel_decision

log = logging.getLogger("ecommerce_tasks.payments")

CAPTURE_PREFIX = "capture|"
CAPTURING, CAPTURED, FAILED = "capturing", "captured", "failed"
# What shipping publishes that may trigger a capture, per CAPTURE_ON.
TRIGGERS = {"label": "order.shipped", "in_transit": "shipment.in_transit"}


def run_payment_work(message: CheckMessage) -> object:
    """The payment-checks queue carries checks, captures and the shop's cancellations."""
    if message.action == "capture" and message.order_id:
        return capture_order(message.order_id)
    if message.action == "cancel" and message.order_id:
        return cancel_order(message.order_id)
    return check_payment(message)


def on_shipment_event(event: dict[str, Any]) -> None:
    """order.shipped / shipment.in_transit: due for its capture when CAPTURE_ON says so. The work
    item is idempotent (the claim), so a repeat of this event is harmless."""
    order_id = event.get("order_id")
    if TRIGGERS.get(get_settings().capture_on) != event["type"] or not order_id:
        return
    # order.shipped says whether the money is still to be captured; a scan's event does not: ask.
    payment = (event.get("data") or {}).get("payment")
    if payment is None:
        order = load_order(order_id).order
        payment = order.status if order else None
    if payment == OrderStatus.AUTHORIZED:
        enqueue(get_settings().payment_checks_queue, {"order_id": order_id, "action": "capture"})


def capture_key(order_id: str, payment_id: str) -> str:
    return f"capture-{order_id}-{payment_id}"


def _known(order_id: str) -> tuple[OrderRecord, Order]:
    record = load_order(order_id)
    if record.order is None:
        raise PermanentError(f"unknown order {order_id!r}")
    return record, record.order


def capture_order(order_id: str, now: datetime | None = None, providers: dict[str, PaymentProvider] | None = None) -> str:
    settings = get_settings()
    now = now or clock.utcnow()
    record, order = _known(order_id)
    if order.status != OrderStatus.AUTHORIZED or not order.authorized_payment_id:
        return f"nothing to capture ({order.status})"
    attempt = record.attempts[order.authorized_payment_id]
    row = {"PartitionKey": order_id, "RowKey": CAPTURE_PREFIX + attempt.payment_id, "state": CAPTURING,
           "provider": attempt.provider, "payment_id": attempt.payment_id, "idempotency_key": capture_key(order_id, attempt.payment_id)}
    got = claim(orders_table(), row, owner_id(), now, timedelta(seconds=settings.side_effect_lease_seconds),
                is_done=lambda r: r.get("state") in {CAPTURED, FAILED})
    if got.result is ClaimResult.BUSY:
        return "busy"
    if got.result is ClaimResult.DONE:
        return f"already {got.row['state']}"
    if got.taken_over:
        log.warning("order %s: taking over a capture whose worker stopped; the same idempotency key makes it one capture", order_id)
    provider = (providers or payment_providers(settings))[attempt.provider]
    claimed = got.row
    try:
        claimed["capture_id"] = provider.capture(attempt.payment_id, claimed["idempotency_key"])
    except PermanentProviderError as exc:
        claimed["state"], claimed["reason"] = FAILED, str(exc)[:1000]
        update(orders_table(), claimed)
        _capture_failed(order_id, attempt.payment_id, str(exc), now)
        log.error("order %s: capture refused for good: %s", order_id, exc)
        return "capture failed"
    claimed["state"], claimed["captured_at"] = CAPTURED, now.isoformat()
    update(orders_table(), claimed)
    log.info("order %s: %s payment %s captured", order_id, attempt.provider, attempt.payment_id)
    check_payment(CheckMessage(order_id=order_id), now, providers)  # the provider now says paid
    return "captured"


def _capture_failed(order_id: str, payment_id: str, reason: str, now: datetime) -> None:
    owner = uuid.uuid4().hex
    for _ in range(8):
        order = load_order(order_id).order
        if order is None:
            return
        order.capture_failed_reason = reason[:1000]
        order.needs_review = True
        order.review_reason = f"capture of {payment_id} refused: {reason[:300]}"
        add_to_outbox(order, [make_event("order.capture_failed", {"order_id": order_id}, now,
                                         {"payment_id": payment_id, "reason": order.capture_failed_reason}, payment_id)], owner, now)
        try:
            replace_order(order)
        except ResourceModifiedError:
            continue
        publish_outbox(order, order_outbox(order_id), owner, now)
        return
    raise RuntimeError(f"order {order_id}: could not record the refused capture")


def request_cancel(event: OrderCancelRequested) -> None:
    """order.cancel_requested (intake): the worker voids and cancels, once, asynchronously."""
    if load_order(event.order_id).order is None:
        raise RetryLater(f"unknown order {event.order_id!r} (its order.placed may be on its way)")
    enqueue(get_settings().payment_checks_queue, {"order_id": event.order_id, "action": "cancel"})


def cancel_order(order_id: str, now: datetime | None = None, providers: dict[str, PaymentProvider] | None = None) -> str:
    """Voids what can be voided, then cancels with `cancelled_by_shop` and releases the stock.
    A paid or shipped order is refused, with the reason recorded (refunds are the shop's)."""
    settings = get_settings()
    now = now or clock.utcnow()
    record, order = _known(order_id)
    if order.status == OrderStatus.CANCELLED:
        return "already cancelled"
    if order.status == OrderStatus.PAID:
        raise PermanentError(f"order {order_id} is paid: it cannot be cancelled here (refunds are not this app's job)")
    if record.shipment and record.shipment.get("state") == "created":
        raise PermanentError(f"order {order_id} has shipped: it cannot be cancelled here")
    providers = providers or payment_providers(settings)
    for attempt in record.attempts.values():
        if attempt.state in {"open", "pending", "authorized"}:
            try:
                providers[attempt.provider].void(attempt.payment_id, f"void-{order_id}-{attempt.payment_id}")
            except PermanentProviderError as exc:  # not cancelable (an iDEAL in progress): a late payment is still watched
                log.warning("order %s: %s payment %s not voided: %s", order_id, attempt.provider, attempt.payment_id, exc)
    decision = cancel_decision(record, "cancelled_by_shop", now)
    owner = uuid.uuid4().hex
    if not write_decision(decision, owner, now):
        raise RuntimeError(f"order {order_id} changed while it was being cancelled: the retry decides again")
    publish_outbox(decision.order, order_outbox(order_id), owner, now)
    return "cancelled"
