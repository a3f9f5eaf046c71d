"""The notification worker: one e-mail per order and event, exactly once.

Published events reach this queue at least once (an outbox can publish again after a crash, the
queue can deliver twice, workers run concurrently). The ledger (table `notifications`, one row per
order and event id) is claimed before sending and marked sent after: a second message for the
same event finds it sent, or claimed by a live sender, and sends nothing. Only a crash between a
provider's "accepted" and the ledger write can repeat an e-mail, and not even then with ACS (the
same Operation-Id) or the local mailbox (the same file).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Annotated, Any

from azure.core.exceptions import ResourceModifiedError
from pydantic import BaseModel, ConfigDict, Field

from .. import clock
from ..claims import ClaimResult, claim, owner_id, update
from ..http import PermanentProviderError
from ..logs import mask_email, mask_text
from ..orders import load_order
from ..providers.email import EmailProvider, email_provider
from ..settings import get_settings
from ..storage import enqueue, table_client
from ..work import PermanentError
from .render import TEMPLATES, render

log = logging.getLogger("ecommerce_tasks.notifications")

SENDING, SENT, FAILED = "sending", "sent", "failed"


class NotifyMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")
    order_id: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")]
    event_id: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:|-]{0,199}$")]
    type: Annotated[str, Field(max_length=60)]
    occurred_at: Annotated[str, Field(max_length=40)] = ""
    data: dict[str, Any] = {}


def ledger_table():
    return table_client(get_settings().table("notifications"))


def queue_notification(event: dict[str, Any]) -> None:
    """Hands a published event to this family, if it is one the customer hears about."""
    if event["type"] in TEMPLATES and event.get("order_id"):
        enqueue(
            get_settings().notifications_queue,
            {k: event[k] for k in ("order_id", "event_id", "type", "occurred_at", "data") if k in event},
        )


def send_notification(message: NotifyMessage, now: datetime | None = None, provider: EmailProvider | None = None) -> str:
    settings = get_settings()
    now = now or clock.utcnow()
    template = TEMPLATES.get(message.type)
    if template is None:
        raise PermanentError(f"no customer e-mail for event type {message.type!r}")
    row = {"PartitionKey": message.order_id, "RowKey": message.event_id, "state": SENDING, "type": message.type, "template": template}
    got = claim(
        ledger_table(), row, owner_id(), now, timedelta(seconds=settings.side_effect_lease_seconds),
        is_done=lambda r: r.get("state") in {SENT, FAILED},
    )
    if got.result is not ClaimResult.MINE:
        log.info("order %s: %s e-mail %s", message.order_id, message.type, "already sent" if got.result is ClaimResult.DONE else "being sent elsewhere")
        return "duplicate" if got.result is ClaimResult.DONE else "busy"

    order = load_order(message.order_id).order
    if order is None:
        raise PermanentError(f"unknown order {message.order_id!r}")
    provider = provider or email_provider(settings)
    if got.taken_over and not provider.deduplicates:
        log.warning("order %s: resending %s e-mail after a stopped sender; %s may deliver it twice", message.order_id, message.type, provider.name)
    context = {
        "shop": {"name": settings.shop_name, "url": settings.shop_url},
        "customer": {"name": order.customer_name},
        "order": {"id": order.order_id, "amount": order.amount, "currency": order.currency, "lines": order.lines},
        "event": message.data,
    }
    email = render(template, context, order.customer_email, order.customer_name, message.event_id, settings.email_templates_dir)
    ledger = got.row
    try:
        ledger["provider_id"] = provider.send(email)[:500]
        ledger["state"] = SENT
    except PermanentProviderError as exc:
        ledger["state"], ledger["reason"] = FAILED, mask_text(str(exc))[:1000]
    ledger.update(provider=provider.name, to=mask_email(order.customer_email), at=now.isoformat(), owner=None, lease_until=None)
    try:
        update(ledger_table(), ledger)
    except ResourceModifiedError:
        log.warning("order %s: %s e-mail ledger changed while sending (a stopped sender's lease ended)", message.order_id, message.type)
    if ledger["state"] == FAILED:
        raise PermanentError(f"order {message.order_id}: {message.type} e-mail refused: {ledger['reason']}")
    log.info("order %s: %s e-mail sent to %s via %s", message.order_id, message.type, mask_email(order.customer_email), provider.name)
    return "sent"
