"""The payment check worker: one order per message, idempotent under duplicates and concurrency."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime
from typing import Annotated, Literal

from azure.data.tables import TableTransactionError, UpdateMode
from pydantic import BaseModel, ConfigDict, Field, model_validator

from .. import clock, duework
from ..http import PermanentProviderError
from ..orders import OrderRecord, load_order, order_outbox, order_update_operation, orders_table
from ..outcomes import add_to_outbox, publish_outbox
from ..providers.payments import PaymentProvider, PaymentStatus, payment_providers
from ..settings import Settings, get_settings
from ..work import PermanentError
from .decide import Decision, attempts_to_fetch, decide
from .lookup import order_for_payment

log = logging.getLogger("ecommerce_tasks.payments")

PAYMENTS = "payments"
MAX_CONFLICT_RETRIES = 8


class CheckMessage(BaseModel):
    """A work item: an order from the due scan, or a payment named by a webhook."""

    model_config = ConfigDict(extra="forbid")
    order_id: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")] | None = None
    due_key: Annotated[str, Field(max_length=200)] | None = None
    checks: Annotated[int, Field(ge=0, le=10_000)] = 0
    provider: Literal["mollie", "stripe"] | None = None
    payment_id: Annotated[str, Field(max_length=130)] | None = None
    action: Literal["check", "capture", "cancel"] = "check"  # capture on shipment; the shop's cancellation

    @model_validator(mode="after")
    def _names_something(self) -> "CheckMessage":
        if not self.order_id and not (self.provider and self.payment_id):
            raise ValueError("needs order_id, or provider and payment_id")
        if self.action != "check" and not self.order_id:
            raise ValueError(f"a {self.action} names its order_id")
        return self


def check_payment(message: CheckMessage, now: datetime | None = None, providers: dict[str, PaymentProvider] | None = None) -> Decision | None:
    """Runs one check; returns what it decided (None when there was nothing left to do)."""
    settings = get_settings()
    now = now or clock.utcnow()
    providers = providers or payment_providers(settings)
    order_id = message.order_id or _order_of(message)
    owner = uuid.uuid4().hex  # this invocation, as owner of the outbox events it writes

    record = load_order(order_id)
    if record.order is None:
        raise PermanentError(f"unknown order {order_id!r}")
    fetched = _fetch(record, providers, message.payment_id)

    decision = None
    for _ in range(MAX_CONFLICT_RETRIES):
        decision = decide(record, fetched, now, message.checks, settings)
        if write_decision(decision, owner, now):
            break
        record = load_order(order_id)  # someone else changed the order: decide again on fresh state
        fetched.update(_fetch(record, providers, message.payment_id, skip=fetched))
    else:
        raise RuntimeError(f"order {order_id}: gave up after {MAX_CONFLICT_RETRIES} concurrent updates")

    come_back = publish_outbox(decision.order, order_outbox(order_id), owner, now)
    if come_back:
        decision.next_check_at = come_back
    _reschedule(message, order_id, decision, force=come_back is not None)
    log.info("order %s: %s", order_id, decision.outcome,
             extra={"autopilot.order_id": order_id, "autopilot.payment_outcome": decision.outcome})
    return decision


def _order_of(message: CheckMessage) -> str:
    if not (message.provider and message.payment_id):
        raise PermanentError("a check names an order, or a provider and a payment")
    order_id = order_for_payment(message.provider, message.payment_id)
    if order_id is None:
        raise PermanentError(f"unknown {message.provider} payment {message.payment_id!r}")
    return order_id


def _fetch(record: OrderRecord, providers: dict[str, PaymentProvider], webhook_payment_id: str | None, skip: dict | None = None) -> dict[str, PaymentStatus]:
    fetched = {}
    for attempt in attempts_to_fetch(record, webhook_payment_id):
        if skip and attempt.payment_id in skip:
            continue
        try:
            fetched[attempt.payment_id] = providers[attempt.provider].fetch(attempt.payment_id)
        except PermanentProviderError as exc:
            raise PermanentError(f"order {record.order.order_id if record.order else '?'}: {exc}") from exc
    return fetched


def decision_operations(decision: Decision, owner: str, now: datetime) -> list[tuple]:
    """The decision as one entity-group transaction on the order's partition (its events into the
    order's outbox, owned by this invocation)."""
    operations: list[tuple] = []
    if decision.events:
        add_to_outbox(decision.order, decision.events, owner, now)
    if decision.order_changed or decision.events:
        operations.append(order_update_operation(decision.order))
    operations += [("upsert", a.to_entity(decision.order.order_id), {"mode": UpdateMode.MERGE}) for a in decision.changed_attempts]
    if decision.stock_release:
        operations.append(("upsert", decision.stock_release))
    return operations


def write_decision(decision: Decision, owner: str, now: datetime) -> bool:
    """One entity-group transaction on the order's partition. False on a concurrent change (412)."""
    operations = decision_operations(decision, owner, now)
    if not operations:
        return True
    try:
        results = orders_table().submit_transaction(operations)
    except TableTransactionError as exc:
        if exc.status_code == 412:
            return False
        raise
    if operations[0][0] == "update":
        decision.order.etag = results[0].get("etag")
    return True


def _reschedule(message: CheckMessage, order_id: str, decision: Decision, force: bool = False) -> None:
    if decision.next_check_at is not None:
        # A webhook check (no due_key) leaves the order's own schedule as it is.
        if message.due_key or force:
            duework.schedule(PAYMENTS, order_id, decision.next_check_at, message.checks + 1, replacing=message.due_key)
    elif message.due_key:
        duework.remove(PAYMENTS, message.due_key)


def preview(order_id: str, now: datetime, settings: Settings, providers: dict[str, PaymentProvider]) -> str:
    """Dry run: what a check would conclude, asking the provider (read-only) and writing nothing."""
    record = load_order(order_id)
    if record.order is None:
        return "unknown order"
    try:
        fetched = _fetch(record, providers, None)
    except PermanentError as exc:
        return f"would fail: {exc}"
    return decide(record, fetched, now, 0, settings).outcome
