"""What a payment check concludes: pure logic over an order, its attempts and the provider's answers."""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from ..money import format_amount
from ..orders import STOCK_RELEASE_ROW, Order, OrderRecord, OrderStatus, PaymentAttempt, iso
from ..outcomes import make_event
from ..providers.payments import PaymentState, PaymentStatus
from ..settings import Settings

STOCK_ROUTE = "stock"  # internal events: an order's stock reserved or released

# While one of these is the state of an attempt, the order is never cancelled: money is on its way.
MONEY_IN_FLIGHT = {PaymentState.PENDING.value, PaymentState.AUTHORIZED.value}


@dataclass
class Decision:
    order: Order
    order_changed: bool = False
    changed_attempts: list[PaymentAttempt] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    stock_release: dict[str, Any] | None = None
    next_check_at: datetime | None = None
    outcome: str = "waiting"


def attempts_to_fetch(record: OrderRecord, webhook_payment_id: str | None = None) -> list[PaymentAttempt]:
    """Which attempts must be asked: every unfinished one, unless the order is already paid."""
    unfinished = [a for a in record.attempts.values() if not PaymentState(a.state).is_final]
    if record.order and record.order.status == OrderStatus.PAID:
        # Only a webhook about another attempt is worth a look (a second payment for a paid order).
        return [a for a in unfinished if a.payment_id == webhook_payment_id]
    return unfinished


def backoff(settings: Settings, checks: int) -> timedelta:
    minutes = min(settings.payment_backoff_base_minutes * (2 ** min(checks, 20)), settings.payment_backoff_max_minutes)
    return timedelta(minutes=minutes)


def decide(record: OrderRecord, fetched: dict[str, PaymentStatus], now: datetime, checks: int, settings: Settings) -> Decision:
    if record.order is None:
        raise ValueError("decide() needs an order")
    order = copy.deepcopy(record.order)
    attempts = {pid: copy.copy(a) for pid, a in record.attempts.items()}
    decision = Decision(order=order, outcome="waiting" if order.status == OrderStatus.AWAITING_PAYMENT else f"unchanged ({order.status})")

    newly: dict[str, PaymentState] = {}
    for payment_id, status in fetched.items():
        attempt = attempts[payment_id]
        before = (attempt.state, attempt.provider_status, attempt.expires_at)
        attempt.state = status.state.value
        attempt.provider_status = status.provider_status
        attempt.expires_at = iso(status.expires_at) or attempt.expires_at
        attempt.checked_at = now.isoformat()
        if (attempt.state, attempt.provider_status, attempt.expires_at) != before:
            decision.changed_attempts.append(attempt)
            if attempt.state != before[0]:
                newly[payment_id] = status.state

    paid = [a for a in attempts.values() if a.state == PaymentState.PAID.value]
    authorized = [a for a in attempts.values() if a.state == PaymentState.AUTHORIZED.value]
    if order.status == OrderStatus.AWAITING_PAYMENT:
        if paid:
            _mark_paid(decision, paid[0], fetched.get(paid[0].payment_id), now)
        elif authorized:
            _mark_authorized(decision, authorized[0], fetched.get(authorized[0].payment_id), now)
        else:
            for payment_id, state in newly.items():
                if state.ended_unpaid:
                    decision.events.append(
                        make_event("payment.failed", {"order_id": order.order_id}, now, {"payment_id": payment_id, "status": state.value}, payment_id)
                    )
            _maybe_cancel(decision, list(attempts.values()), now)
    elif order.status == OrderStatus.AUTHORIZED:
        _follow_authorization(decision, record, list(attempts.values()), fetched, now, settings)
    elif order.status == OrderStatus.CANCELLED and paid:
        _late_payment(decision, paid[0], fetched.get(paid[0].payment_id), now)
    elif order.status == OrderStatus.PAID:
        for attempt in paid:
            if attempt.payment_id != order.paid_payment_id and attempt.payment_id in newly:
                order.needs_review = True
                order.review_reason = f"paid twice: payment {attempt.payment_id} also paid (refund one)"
                decision.order_changed = True
                decision.outcome = "paid twice"
                decision.events.append(
                    make_event("order.review_needed", {"order_id": order.order_id}, now, {"reason": order.review_reason}, attempt.payment_id)
                )

    decision.next_check_at = _next_check(order, list(attempts.values()), now, checks, settings)
    return decision


def _paid_fields(order: Order, attempt: PaymentAttempt, status: PaymentStatus | None, now: datetime) -> None:
    order.status = OrderStatus.PAID
    order.paid_payment_id = attempt.payment_id
    order.paid_at = iso(status.paid_at if status and status.paid_at else now)
    order.paid_method = (status.method if status else None) or attempt.provider
    paid_currency = (status.currency if status else None) or order.currency
    order.paid_amount = format_amount(status.amount, paid_currency) if status and status.amount is not None else order.amount
    if status and status.amount is not None and (status.amount != Decimal(order.amount) or paid_currency != order.currency):
        order.needs_review = True
        order.review_reason = f"amount paid {order.paid_amount} {paid_currency} differs from order total {order.amount} {order.currency}"


def _paid_data(order: Order) -> dict[str, Any]:
    return {
        "payment_id": order.paid_payment_id,
        "paid_at": order.paid_at,
        "method": order.paid_method,
        "amount": {"value": order.paid_amount, "currency": order.currency},
        "needs_review": order.needs_review,
        "review_reason": order.review_reason,
    }


def _mark_paid(decision: Decision, attempt: PaymentAttempt, status: PaymentStatus | None, now: datetime) -> None:
    _paid_fields(decision.order, attempt, status, now)
    decision.order_changed = True
    decision.outcome = "paid"
    decision.events.append(make_event("order.paid", {"order_id": decision.order.order_id}, now, _paid_data(decision.order)))


def _mark_authorized(decision: Decision, attempt: PaymentAttempt, status: PaymentStatus | None, now: datetime) -> None:
    """Money reserved, not taken (pay later, manual capture): the order ships, and is captured then."""
    order = decision.order
    _paid_fields(order, attempt, status, now)
    order.status = OrderStatus.AUTHORIZED
    order.paid_at = None  # reserved, not paid: the capture pays it
    order.authorized_payment_id = attempt.payment_id
    order.authorized_at = now.isoformat()
    order.authorization_expires_at = attempt.expires_at
    decision.order_changed = True
    decision.outcome = "authorized"
    data = {**_paid_data(order), "authorized_until": order.authorization_expires_at}
    data.pop("paid_at")
    decision.events.append(make_event("order.authorized", {"order_id": order.order_id}, now, data))


def _follow_authorization(decision: Decision, record: OrderRecord, attempts: list[PaymentAttempt], fetched: dict[str, PaymentStatus],
                          now: datetime, settings: Settings) -> None:
    """An authorized order: captured (paid), lapsed (cancelled), or nearing its end unshipped (alert)."""
    order = decision.order
    paid = [a for a in attempts if a.state == PaymentState.PAID.value]
    held = next((a for a in attempts if a.payment_id == order.authorized_payment_id), None)
    if paid:
        attempt = next((a for a in paid if a.payment_id == order.authorized_payment_id), paid[0])
        _paid_fields(order, attempt, fetched.get(attempt.payment_id), now)
        order.captured_at = order.paid_at
        decision.order_changed = True
        decision.outcome = "paid (captured)"
        decision.events.append(make_event("order.paid", {"order_id": order.order_id}, now,
                                          {**_paid_data(order), "captured_at": order.captured_at, "after_authorization": True}))
    elif held is not None and PaymentState(held.state).ended_unpaid and not any(a.state == PaymentState.AUTHORIZED.value for a in attempts):
        _cancel(decision, "authorization_expired", now)
    elif not order.authorization_alerted and order.authorization_expires_at and not _shipped(record):
        ends = datetime.fromisoformat(order.authorization_expires_at)
        if now >= ends - timedelta(hours=settings.authorization_alert_hours):
            order.authorization_alerted = True
            decision.order_changed = True
            decision.outcome = "authorization expiring"
            decision.events.append(make_event("order.authorization_expiring", {"order_id": order.order_id}, now,
                                              {"payment_id": order.authorized_payment_id, "authorized_until": order.authorization_expires_at}))


def _shipped(record: OrderRecord) -> bool:
    return bool(record.shipment and record.shipment.get("state") == "created")


def _late_payment(decision: Decision, attempt: PaymentAttempt, status: PaymentStatus | None, now: datetime) -> None:
    order = decision.order
    cancelled = f"cancelled at {order.cancelled_at} ({order.cancel_reason})"
    _paid_fields(order, attempt, status, now)
    order.needs_review = True
    order.review_reason = f"late payment: order was {cancelled}; its released stock may be gone"
    decision.order_changed = True
    decision.outcome = "late payment"
    decision.events.append(make_event("order.late_payment", {"order_id": order.order_id}, now, _paid_data(order)))
    # Take the stock back if it is still there; the inventory flags a reservation it cannot meet.
    decision.events += stock_events(order, "reserved", now)


def _maybe_cancel(decision: Decision, attempts: list[PaymentAttempt], now: datetime) -> None:
    order = decision.order
    unknown = [a for a in attempts if a.state == PaymentState.UNKNOWN.value]
    if attempts and all(PaymentState(a.state).ended_unpaid for a in attempts):
        latest = max(attempts, key=lambda a: a.created_at)
        reason = f"payment_{latest.state}"
    elif now >= _window_end(order) and not any(a.state in MONEY_IN_FLIGHT for a in attempts):
        # An attempt the provider does not know is not paid, but it may be a configuration error
        # (a test key against live payments): the order ends with the window, and the shop looks.
        finished = all(PaymentState(a.state).is_final for a in attempts)
        reason = "payment_unknown" if unknown and finished else "payment_window_elapsed"
        if unknown:
            order.needs_review = True
            order.review_reason = "payment unknown to the provider: " + ", ".join(
                f"{a.provider} {a.payment_id} ({a.provider_status})" for a in unknown)
    else:
        return
    _cancel(decision, reason, now)


def cancel_decision(record: OrderRecord, reason: str, now: datetime) -> Decision:
    """The decision to cancel an order now (the shop asked), releasing its stock."""
    if record.order is None:
        raise ValueError("cancel_decision() needs an order")
    decision = Decision(order=copy.deepcopy(record.order))
    _cancel(decision, reason, now)
    return decision


def _cancel(decision: Decision, reason: str, now: datetime) -> None:
    order = decision.order
    order.status = OrderStatus.CANCELLED
    order.cancelled_at = now.isoformat()
    order.cancel_reason = reason
    decision.order_changed = True
    decision.outcome = f"cancelled ({reason})"
    decision.stock_release = {
        "PartitionKey": order.order_id,
        "RowKey": STOCK_RELEASE_ROW,
        "lines": json.dumps(order.lines),
        "reason": reason,
        "recorded_at": now.isoformat(),
    }
    data: dict[str, Any] = {"reason": reason, "release_stock": order.lines}
    if order.needs_review:
        data |= {"needs_review": True, "review_reason": order.review_reason}
    decision.events.append(make_event("order.cancelled", {"order_id": order.order_id}, now, data))
    decision.events += stock_events(order, "released", now)


def stock_events(order: Order, kind: str, now: datetime) -> list[dict[str, Any]]:
    """Internal events on the `stock` route (for whichever family keeps stock; not sent to the shop)."""
    quantities: dict[str, int] = {}
    for line in order.lines:
        quantities[line["sku"]] = quantities.get(line["sku"], 0) + int(line["quantity"])
    events = []
    for sku, quantity in quantities.items():
        event_id = f"o.{order.order_id}.{kind}.{sku}"
        if len(event_id) > 64:
            event_id = "o." + hashlib.sha1(event_id.encode(), usedforsecurity=False).hexdigest()  # an id, not security
        data = {
            "type": "stock.changed", "event_id": event_id, "sku": sku, "kind": kind, "quantity": quantity,
            "order_id": order.order_id, "occurred_at": now.isoformat(), "note": f"payments: order {order.status}",
        }
        events.append({**make_event(f"stock.{kind}", {"order_id": order.order_id}, now, data, sku), "route": STOCK_ROUTE})
    return events


def _window_end(order: Order) -> datetime:
    return datetime.fromisoformat(order.window_ends_at)


def _next_check(order: Order, attempts: list[PaymentAttempt], now: datetime, checks: int, settings: Settings) -> datetime | None:
    unfinished = [a for a in attempts if not PaymentState(a.state).is_final]
    if order.status == OrderStatus.AWAITING_PAYMENT:
        window_ends = _window_end(order)
        if not unfinished:
            return max(window_ends, now + timedelta(seconds=1))
        candidates = [now + backoff(settings, checks)]
        # Ask once more right after the provider's own expiry rather than on a blind schedule.
        candidates += _after_expiries(unfinished, now)
        if window_ends > now:
            candidates.append(window_ends)
        return min(candidates)
    if order.status == OrderStatus.AUTHORIZED:
        candidates = [now + backoff(settings, checks), *_after_expiries(unfinished, now)]
        if order.authorization_expires_at and not order.authorization_alerted:
            alert_at = datetime.fromisoformat(order.authorization_expires_at) - timedelta(hours=settings.authorization_alert_hours)
            candidates.append(max(alert_at, now + timedelta(seconds=1)))
        return min(candidates)
    if order.status == OrderStatus.CANCELLED and unfinished:
        # A payment left open when the window closed may still be paid (a bank transfer): watch for it.
        watch_until = datetime.fromisoformat(order.cancelled_at or now.isoformat()) + timedelta(days=settings.late_payment_watch_days)
        if now < watch_until:
            return min([now + backoff(settings, checks), watch_until, *_after_expiries(unfinished, now)])
    return None


def _after_expiries(attempts: list[PaymentAttempt], now: datetime) -> list[datetime]:
    """A minute after each attempt's own expiry still ahead: worth one more question then."""
    expiries = [datetime.fromisoformat(a.expires_at) for a in attempts if a.expires_at]
    return [moment + timedelta(minutes=1) for moment in expiries if moment > now]
