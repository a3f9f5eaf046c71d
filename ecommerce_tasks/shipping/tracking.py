"""The tracking worker: asks the carrier for one shipment's status, keeps the history, tells the
shop and the customer what changed, stops at a final status and flags shipments gone silent."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from azure.core.exceptions import ResourceModifiedError

from .. import clock, duework
from ..claims import owner_id
from ..http import PermanentProviderError
from ..outcomes import add_to_outbox, make_event, publish_outbox
from ..providers.carriers import Carrier, CarrierStatus, ShipmentStatus, carrier_for
from ..settings import Settings, get_settings
from ..work import PermanentError
from .labels import LabelMessage
from .model import CREATED, TRACKING, Shipment, load_shipment, replace_shipment, shipment_outbox

log = logging.getLogger("ecommerce_tasks.shipping")

MAX_CONFLICT_RETRIES = 5
# What the shop and the customer hear about a new normalized status (the customer: order.* events).
STATUS_EVENTS = {
    ShipmentStatus.IN_TRANSIT: "shipment.in_transit",
    ShipmentStatus.DELIVERED: "order.delivered",
    ShipmentStatus.DELIVERY_PROBLEM: "order.delivery_problem",
    ShipmentStatus.RETURNED: "shipment.returned",
    ShipmentStatus.CANCELLED: "shipment.cancelled",
}

TrackMessage = LabelMessage  # the same work item: an order id and the due row that sent it


@dataclass
class TrackingChange:
    changed: bool = False
    events: list[dict[str, Any]] = field(default_factory=list)


def apply_status(shipment: Shipment, update: CarrierStatus, now: datetime, settings: Settings) -> TrackingChange:
    """Pure: folds one carrier answer into the shipment; returns whether it changed and what to tell."""
    change = TrackingChange()
    subject = {"order_id": shipment.order_id}
    if update.code != shipment.carrier_status:
        shipment.history.append({"at": now.isoformat(), "status": update.status.value if update.status else None, "code": update.code, "message": update.message})
        shipment.carrier_status, shipment.status_message = update.code, update.message
        shipment.last_change_at = now.isoformat()
        shipment.stalled = False
        change.changed = True
        if update.status and update.status.value != shipment.status:
            shipment.status = update.status.value
            event_type = STATUS_EVENTS.get(update.status)
            if event_type:
                data = {"status": shipment.status, "carrier_status": update.code, "message": update.message, "tracking_url": shipment.tracking_url}
                # Discriminated by history length: a second delivery problem is news again.
                change.events.append(make_event(event_type, subject, now, data, str(len(shipment.history))))
            if update.status.is_final:
                shipment.finished = True
    last_change = datetime.fromisoformat(shipment.last_change_at) if shipment.last_change_at else now
    if not shipment.finished and not shipment.stalled and now - last_change > timedelta(days=settings.tracking_silent_days):
        shipment.stalled = True
        change.changed = True
        silent_days = round((now - last_change).total_seconds() / 86400, 1)
        change.events.append(
            make_event("shipment.stalled", subject, now, {"status": shipment.status, "silent_days": silent_days}, shipment.last_change_at or "")
        )
    return change


def track_shipment(message: TrackMessage, now: datetime | None = None, carrier: Carrier | None = None) -> str:
    settings = get_settings()
    now = now or clock.utcnow()
    owner = owner_id()
    for _ in range(MAX_CONFLICT_RETRIES):
        shipment = load_shipment(message.order_id)
        if shipment is None or shipment.state != CREATED:
            _stop(message)
            return "no shipment to track"
        if shipment.finished:
            return _publish_and_reschedule(shipment, message, owner, now, settings, "finished")
        tracker = carrier or carrier_for(settings, shipment.carrier)
        if not tracker.tracks:
            _stop(message)
            return "carrier has no tracking"
        try:
            update = tracker.track(shipment.parcel_id or "", shipment.tracking_number or "")
        except PermanentProviderError as exc:
            raise PermanentError(f"order {message.order_id}: {exc}") from exc
        change = apply_status(shipment, update, now, settings)
        if not change.changed:
            return _publish_and_reschedule(shipment, message, owner, now, settings, "unchanged")
        add_to_outbox(shipment, change.events, owner, now)
        try:
            replace_shipment(shipment)
        except ResourceModifiedError:
            continue  # a concurrent check wrote first: read again and fold our answer into theirs
        return _publish_and_reschedule(shipment, message, owner, now, settings, shipment.status or "unknown")
    raise RuntimeError(f"order {message.order_id}: gave up after {MAX_CONFLICT_RETRIES} concurrent tracking updates")


def _publish_and_reschedule(shipment: Shipment, message: TrackMessage, owner: str, now: datetime, settings: Settings, outcome: str) -> str:
    come_back = publish_outbox(shipment, shipment_outbox(shipment.order_id), owner, now)
    if shipment.finished and not come_back:
        _stop(message)
    else:
        next_at = come_back or now + timedelta(minutes=settings.tracking_interval_minutes)
        duework.schedule(TRACKING, shipment.order_id, next_at, replacing=message.due_key)
    return outcome


def _stop(message: TrackMessage) -> None:
    if message.due_key:
        duework.remove(TRACKING, message.due_key)
