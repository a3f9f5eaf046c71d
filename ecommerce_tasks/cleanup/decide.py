"""What to do with a checkout that has been quiet: pure logic over its rows."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from ..money import format_amount
from ..settings import Settings

LIVE_PAYMENT = {"authorized", "pending", "paid"}
STEP_ORDER = ["cart", "line", "address", "shipping", "payment"]


@dataclass
class CheckoutView:
    checkout_id: str
    last_activity: datetime
    first_activity: datetime
    email: str | None = None
    name: str | None = None
    consent: bool = False
    cart_url: str | None = None
    currency: str | None = None
    items: list[dict[str, Any]] = field(default_factory=list)
    payment_status: str | None = None
    last_step: str = "cart"

    @property
    def value(self) -> Decimal:
        return sum((Decimal(i["unit_price"]) * i["quantity"] for i in self.items), Decimal("0.00"))


def view(checkout_id: str, rows: list[dict[str, Any]]) -> CheckoutView:
    events = sorted((json.loads(row["event"]) for row in rows), key=lambda e: e["occurred_at"])
    times = [datetime.fromisoformat(e["occurred_at"]) for e in events]
    result = CheckoutView(checkout_id, last_activity=max(times), first_activity=min(times))
    for event in events:  # later steps overwrite earlier ones
        result.email = event.get("email") or result.email
        result.name = event.get("name") or result.name
        if event.get("marketing_consent") is not None:
            result.consent = event["marketing_consent"]
        result.cart_url = event.get("cart_url") or result.cart_url
        result.currency = event.get("currency") or result.currency
        if event.get("payment"):
            result.payment_status = event["payment"]["status"]
        if STEP_ORDER.index(event["step"]) > STEP_ORDER.index(result.last_step):
            result.last_step = event["step"]
    result.items = [e["line"] for e in events if e.get("line") and e["line"]["quantity"] > 0]
    return result


@dataclass(frozen=True)
class Action:
    kind: str  # "keep" (live payment), "wait", "archive", "delete"
    reason: str
    until: datetime | None = None


def decide(checkout: CheckoutView, now: datetime, settings: Settings) -> Action:
    if checkout.payment_status in LIVE_PAYMENT:
        return Action("keep", f"payment {checkout.payment_status}: never touched")
    empty = not checkout.items
    hours = settings.empty_cart_after_hours if empty else settings.abandoned_after_hours
    idle_from = checkout.last_activity + timedelta(hours=hours)
    if now < idle_from:
        return Action("wait", "still active", until=idle_from)
    if empty:
        return Action("delete", "empty cart")
    if not checkout.email:
        return Action("delete", "no contact details")
    if settings.cleanup_mode == "delete":
        return Action("delete", "abandoned (delete mode)")
    return Action("archive", "abandoned with contact details")


def lead_entity(checkout: CheckoutView, now: datetime) -> dict[str, Any]:
    return {
        "PartitionKey": checkout.checkout_id,
        "RowKey": "lead",
        "email": checkout.email,
        "name": checkout.name or "",
        "consent": checkout.consent,
        # One reminder, and only with consent: the notifications family sends it ("sent" then).
        "reminder": "due" if checkout.consent else "no_consent",
        "items": json.dumps(checkout.items),
        "value": format_amount(checkout.value, checkout.currency or ""),
        "currency": checkout.currency or "",
        "last_step": checkout.last_step,
        "cart_url": checkout.cart_url or "",
        "started_at": checkout.first_activity.isoformat(),
        "last_activity_at": checkout.last_activity.isoformat(),
        "archived_at": now.isoformat(),
    }
