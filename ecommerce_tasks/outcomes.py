"""Outbound events the shop consumes, published from the order's outbox.

A state change and the events it causes are written in one conditional write of the order row
(order.outbox). The writer then publishes them to the outbound queue and clears them. The outbox
carries a lease (owner, until): a concurrent worker that sees events it did not write leaves them
to their owner, while a crash leaves them to whoever comes after the lease ends. Each event has a
stable event_id, so a consumer can drop the rare repeat after a crash between send and clear.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta
from typing import Any

from azure.core.exceptions import ResourceModifiedError

from .orders import Order, load_order, replace_order
from .settings import get_settings
from .storage import queue_client

log = logging.getLogger("ecommerce_tasks.outcomes")

MAX_CONFLICT_RETRIES = 8


def make_event(event_type: str, order: Order, occurred_at: datetime, data: dict[str, Any], discriminator: str = "") -> dict[str, Any]:
    suffix = f":{discriminator}" if discriminator else ""
    return {
        "event_id": f"{order.order_id}:{event_type}{suffix}",
        "type": event_type,
        "order_id": order.order_id,
        "occurred_at": occurred_at.isoformat(),
        "data": data,
    }


def add_to_outbox(order: Order, events: list[dict[str, Any]], owner: str, now: datetime) -> None:
    known = {e["event_id"] for e in order.outbox}
    order.outbox.extend(e for e in events if e["event_id"] not in known)
    order.outbox_owner = owner
    order.outbox_until = (now + timedelta(minutes=get_settings().payment_lease_minutes)).isoformat()


def publish_outbox(order: Order, owner: str, now: datetime) -> int:
    """Publishes the order's pending events if this worker owns them (or their lease ran out).

    Returns how many events this call sent.
    """
    if not order.outbox:
        return 0
    lease_over = order.outbox_until is None or datetime.fromisoformat(order.outbox_until) <= now
    if order.outbox_owner != owner:
        if not lease_over:
            return 0  # another worker wrote them and is publishing them right now
        # Take over after a crash: claim first, so two recoverers cannot both publish.
        add_to_outbox(order, [], owner, now)
        try:
            replace_order(order)
        except ResourceModifiedError:
            log.info("order %s: outbox claimed by another worker", order.order_id)
            return 0

    outcomes = queue_client(get_settings().shop_outcomes_queue)
    sent_ids = []
    for event in order.outbox:
        outcomes.send_message(json.dumps(event, separators=(",", ":")))
        sent_ids.append(event["event_id"])
        log.info("order %s: published %s", order.order_id, event["type"])
    _clear(order, set(sent_ids))
    return len(sent_ids)


def _clear(order: Order, sent_ids: set[str]) -> None:
    for _ in range(MAX_CONFLICT_RETRIES):
        order.outbox = [e for e in order.outbox if e["event_id"] not in sent_ids]
        if not order.outbox:
            order.outbox_owner = None
            order.outbox_until = None
        try:
            replace_order(order)
            return
        except ResourceModifiedError:
            fresh = load_order(order.order_id).order
            if fresh is None:
                return
            order = fresh
    raise RuntimeError(f"order {order.order_id}: could not clear its outbox after {MAX_CONFLICT_RETRIES} conflicts")
