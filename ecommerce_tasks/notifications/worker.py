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
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any

from azure.core.exceptions import ResourceModifiedError, ResourceNotFoundError
from pydantic import BaseModel, ConfigDict, Field, model_validator

from .. import clock
from ..leads import leads_table
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

SENDING, SENT, FAILED, SKIPPED = "sending", "sent", "failed", "skipped"


EntityId = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")]


class NotifyMessage(BaseModel):
    """An event the customer hears about: an order's, or an abandoned checkout's (the reminder)."""

    model_config = ConfigDict(extra="forbid")
    order_id: EntityId | None = None
    checkout_id: EntityId | None = None
    event_id: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:|-]{0,199}$")]
    type: Annotated[str, Field(max_length=60)]
    occurred_at: Annotated[str, Field(max_length=40)] = ""
    data: dict[str, Any] = {}

    @model_validator(mode="after")
    def _names_one_subject(self) -> "NotifyMessage":
        if bool(self.order_id) == bool(self.checkout_id):
            raise ValueError("needs order_id or checkout_id (one of them)")
        return self

    @property
    def subject(self) -> str:
        return self.order_id or self.checkout_id or ""


def ledger_table():
    return table_client(get_settings().table("notifications"))


def notification_for(event: dict[str, Any]) -> dict[str, Any] | None:
    """The e-mail work item a published event becomes, or None if the customer hears nothing of it."""
    data = event.get("data") or {}
    if event["type"] == "lead.created" and data.get("reminder") != "due":
        return None  # no consent: no reminder
    if event["type"] == "order.paid" and data.get("after_authorization"):
        return None  # the customer was thanked when the payment was reserved; the capture is the shop's news
    if event["type"] in TEMPLATES and (event.get("order_id") or event.get("checkout_id")):
        return {k: event[k] for k in ("order_id", "checkout_id", "event_id", "type", "occurred_at", "data") if k in event}
    return None


def queue_notification(event: dict[str, Any]) -> None:
    """Hands a published event to this family, if it is one the customer hears about."""
    if (item := notification_for(event)) is not None:
        enqueue(get_settings().notifications_queue, item)


@dataclass(frozen=True)
class Recipient:
    email: str
    name: str
    context: dict[str, Any]  # what the templates see besides shop and event


def _recipient(message: NotifyMessage) -> Recipient | None:
    """Who gets the e-mail, read again from storage (never from the message). None: nobody may."""
    if message.order_id:
        order = load_order(message.order_id).order
        if order is None:
            raise PermanentError(f"unknown order {message.order_id!r}")
        context = {"order": {"id": order.order_id, "amount": order.amount, "currency": order.currency, "lines": order.lines}}
        return Recipient(order.customer_email, order.customer_name, context)
    if not message.checkout_id:
        raise PermanentError("a notification names an order or a checkout")
    try:
        lead = leads_table().get_entity(message.checkout_id, "lead")
    except ResourceNotFoundError:
        return None  # erased on request or purged since: no reminder
    if lead.get("reminder") not in {"due", "sent"} or not lead.get("email"):
        return None  # no consent: no reminder
    return Recipient(lead["email"], lead.get("name") or "", {"order": None})


def send_notification(message: NotifyMessage, now: datetime | None = None, provider: EmailProvider | None = None) -> str:
    settings = get_settings()
    now = now or clock.utcnow()
    template = TEMPLATES.get(message.type)
    if template is None:
        raise PermanentError(f"no customer e-mail for event type {message.type!r}")
    row = {"PartitionKey": message.subject, "RowKey": message.event_id, "state": SENDING, "type": message.type, "template": template}
    got = claim(
        ledger_table(), row, owner_id(), now, timedelta(seconds=settings.side_effect_lease_seconds),
        is_done=lambda r: r.get("state") in {SENT, FAILED, SKIPPED},
    )
    if got.result is not ClaimResult.MINE:
        log.info("%s: %s e-mail %s", message.subject, message.type, "already sent" if got.result is ClaimResult.DONE else "being sent elsewhere")
        return "duplicate" if got.result is ClaimResult.DONE else "busy"

    ledger = got.row
    recipient = _recipient(message)
    if recipient is None:
        ledger.update(state=SKIPPED, at=now.isoformat(), owner=None, lease_until=None)
        update(ledger_table(), ledger)
        log.info("%s: %s e-mail not sent: no consent, or the customer's data was erased", message.subject, message.type)
        return "skipped"
    provider = provider or email_provider(settings)
    if got.taken_over and not provider.deduplicates:
        log.warning("%s: resending %s e-mail after a stopped sender; %s may deliver it twice", message.subject, message.type, provider.name)
    context = {
        "shop": {"name": settings.shop_name, "url": settings.shop_url},
        "customer": {"name": recipient.name},
        **recipient.context,
        "event": message.data,
    }
    email = render(template, context, recipient.email, recipient.name, message.event_id, settings.email_templates_dir)
    try:
        ledger["provider_id"] = provider.send(email)[:500]
        ledger["state"] = SENT
    except PermanentProviderError as exc:
        ledger["state"], ledger["reason"] = FAILED, mask_text(str(exc))[:1000]
    ledger.update(provider=provider.name, to=mask_email(recipient.email), at=now.isoformat(), owner=None, lease_until=None)
    try:
        update(ledger_table(), ledger)
    except ResourceModifiedError:
        log.warning("%s: %s e-mail ledger changed while sending (a stopped sender's lease ended)", message.subject, message.type)
    if ledger["state"] == FAILED:
        raise PermanentError(f"{message.subject}: {message.type} e-mail refused: {ledger['reason']}")
    if message.checkout_id:
        _mark_reminder_sent(message.checkout_id)
    log.info("%s: %s e-mail sent to %s via %s", message.subject, message.type, mask_email(recipient.email), provider.name)
    return "sent"


def _mark_reminder_sent(checkout_id: str) -> None:
    try:
        leads_table().update_entity({"PartitionKey": checkout_id, "RowKey": "lead", "reminder": "sent"})  # merge
    except ResourceNotFoundError:
        pass  # erased meanwhile
