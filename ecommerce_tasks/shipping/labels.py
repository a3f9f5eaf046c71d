"""The label worker: one paid order per message, and never a second label.

The order of steps is what makes it safe:
1. claim the shipment row (intent, owner = this queue message, with a lease) before any carrier
   call; a duplicate message or a concurrent worker finds the claim and leaves;
2. persist what must survive a crash (PostNL's barcode) before creating;
3. create with the order number as reference, the Sendcloud adapter looking it up first, so a
   retry after a timeout or crash finds the parcel the first try bought;
4. store the PDF in Blob Storage under a name derived from the parcel (a rewrite is harmless);
5. mark the shipment created, with the `order.shipped` event in its outbox, in one conditional write.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Annotated, Any

from azure.core.exceptions import ResourceModifiedError
from pydantic import BaseModel, ConfigDict, Field

from .. import clock, duework
from ..claims import ClaimResult, claim, owner_id
from ..http import PermanentProviderError
from ..logs import mask_text
from ..orders import OrderStatus, load_order, orders_table
from ..outcomes import add_to_outbox, make_event, publish_outbox
from ..providers.carriers import Carrier, LabelNotFetched, LabelRequest, carrier_for
from ..settings import get_settings
from ..storage import name_segment, put_blob
from ..work import PermanentError
from .address import address_problems
from .model import CREATED, CREATING, FAILED, LABELS, TRACKING, Shipment, replace_shipment, shipment_outbox

log = logging.getLogger("ecommerce_tasks.shipping")


class LabelMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")
    order_id: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")]
    due_key: Annotated[str, Field(max_length=200)] | None = None


def on_order_paid(event: dict[str, Any]) -> None:
    """order.paid / order.late_payment: the order is due for its label (a repeat is a no-op)."""
    schedule_label(event["order_id"], datetime.fromisoformat(event["occurred_at"]))


def schedule_label(order_id: str, paid_at: datetime) -> None:
    """Makes a paid order due for its label (the key is stable, so a repeat is a no-op)."""
    duework.schedule(LABELS, order_id, paid_at)


def create_label(message: LabelMessage, now: datetime | None = None, carrier: Carrier | None = None) -> str:
    """Returns what happened: created, failed, busy (another worker has it), or why nothing was done."""
    settings = get_settings()
    now = now or clock.utcnow()
    order_id = message.order_id
    record = load_order(order_id)
    order = record.order
    if order is None:
        raise PermanentError(f"unknown order {order_id!r}")
    if order.status not in OrderStatus.SHIPPABLE or not order.ships:
        _done(message)
        return f"nothing to ship ({order.status}{'' if order.ships else ', ships: false'})"

    owner = owner_id()
    if record.shipment and record.shipment.get("state") in {CREATED, FAILED}:
        return _finish(Shipment.from_row(record.shipment), message, owner, now, "already " + record.shipment["state"])

    intent = Shipment(order_id=order_id, carrier=carrier.name if carrier else settings.carrier).to_row()
    got = claim(
        orders_table(), intent, owner, now, timedelta(seconds=settings.side_effect_lease_seconds),
        is_done=lambda row: row.get("state") in {CREATED, FAILED},
    )
    shipment = Shipment.from_row(got.row)
    if got.result is ClaimResult.BUSY:
        log.info("order %s: label in progress elsewhere", order_id)
        return "busy"
    if got.result is ClaimResult.DONE:
        return _finish(shipment, message, owner, now, "already " + shipment.state)
    if got.taken_over:
        log.warning("order %s: taking over a label attempt whose worker stopped; looking it up before creating", order_id)

    problems = address_problems(order.shipping_address)
    if problems:
        return _fail(shipment, "; ".join(problems), message, owner, now)

    carrier = carrier or carrier_for(settings, shipment.carrier)
    request = LabelRequest(
        order_id=order_id,
        recipient={**(order.shipping_address or {}), "name": (order.shipping_address or {}).get("name") or order.customer_name},
        sender=settings.ship_from,
        email=order.customer_email,
        weight_grams=order.weight_grams or settings.default_parcel_weight_grams,
    )
    try:
        if not shipment.reserved:
            reserved = carrier.reserve(request)
            if reserved:
                shipment.reserved = reserved
                replace_shipment(shipment)  # persisted before creating: a retry reuses it
        label = carrier.create_label(request, shipment.reserved)
    except LabelNotFetched as exc:
        # Bought, but no usable label: keep the parcel (never buy a second), flag it for the shop.
        shipment.parcel_id, shipment.tracking_number = exc.parcel.parcel_id, exc.parcel.tracking_number
        return _fail(shipment, f"{exc}; the parcel exists at the carrier: print its label there", message, owner, now)
    except PermanentProviderError as exc:
        return _fail(shipment, str(exc), message, owner, now)

    # Carrier ids become a blob name: encoded, so no id can leave the order's folder.
    blob = f"{order_id}/{name_segment(label.tracking_number or label.parcel_id)}.pdf"
    url = put_blob(settings.labels_container, blob, label.pdf, "application/pdf")
    shipment.state = CREATED
    shipment.parcel_id, shipment.tracking_number, shipment.tracking_url = label.parcel_id, label.tracking_number, label.tracking_url
    shipment.label_blob, shipment.label_url, shipment.created_at = blob, url, now.isoformat()
    shipment.status = (label.status.status.value if label.status.status else None) or "label_created"
    shipment.carrier_status, shipment.status_message = label.status.code, label.status.message
    shipment.history = [{"at": now.isoformat(), "status": shipment.status, "code": label.status.code, "message": label.status.message}]
    shipment.last_change_at = now.isoformat()
    shipment.finished = not carrier.tracks
    data = {
        "carrier": carrier.name,
        "tracking_number": label.tracking_number,
        "tracking_url": label.tracking_url,
        "label_blob": f"{settings.labels_container}/{blob}",
        "payment": order.status,  # "authorized": the money is still to be captured
    }
    add_to_outbox(shipment, [make_event("order.shipped", {"order_id": order_id}, now, data)], owner, now)
    try:
        replace_shipment(shipment)
    except ResourceModifiedError:
        # Our lease ran out mid-call and another worker took over; it finds this parcel by lookup.
        log.warning("order %s: label created but the shipment was taken over; leaving it to the new owner", order_id)
        return "superseded"
    if carrier.tracks:
        duework.schedule(TRACKING, order_id, now + timedelta(minutes=settings.tracking_interval_minutes))
    log.info("order %s: %s label %s created", order_id, carrier.name, label.tracking_number)
    return _finish(shipment, message, owner, now, "created")


def _fail(shipment: Shipment, reason: str, message: LabelMessage, owner: str, now: datetime) -> str:
    shipment.state = FAILED
    shipment.failure_reason = mask_text(reason)[:1000]
    event = make_event("shipment.label_failed", {"order_id": shipment.order_id}, now, {"reason": shipment.failure_reason})
    add_to_outbox(shipment, [event], owner, now)
    try:
        replace_shipment(shipment)
    except ResourceModifiedError:
        return "superseded"
    log.error("order %s: label failed for good: %s", shipment.order_id, shipment.failure_reason)
    return _finish(shipment, message, owner, now, "failed")


def _finish(shipment: Shipment, message: LabelMessage, owner: str, now: datetime, outcome: str) -> str:
    come_back = publish_outbox(shipment, shipment_outbox(shipment.order_id), owner, now)
    if come_back:
        duework.schedule(LABELS, shipment.order_id, come_back, replacing=message.due_key)
    else:
        _done(message)
    return outcome


def _done(message: LabelMessage) -> None:
    if message.due_key:
        duework.remove(LABELS, message.due_key)


def preview(order_id: str) -> str:
    """Dry run: what the label worker would do, without asking a carrier."""
    record = load_order(order_id)
    if record.order is None:
        return "unknown order"
    if record.order.status not in OrderStatus.SHIPPABLE or not record.order.ships:
        return "nothing to ship"
    if record.shipment and record.shipment.get("state") != CREATING:
        return "already " + record.shipment["state"]
    problems = address_problems(record.order.shipping_address)
    return f"would fail: {'; '.join(problems)}" if problems else f"would create a {get_settings().carrier} label"
