"""Payment providers behind one small interface: fetch a payment and say where it stands."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal
from enum import Enum
from typing import Protocol

from ..http import request_json
from ..settings import Settings


class PaymentState(str, Enum):
    OPEN = "open"
    PENDING = "pending"
    AUTHORIZED = "authorized"
    PAID = "paid"
    CANCELED = "canceled"
    EXPIRED = "expired"
    FAILED = "failed"

    @property
    def is_final(self) -> bool:
        return self in FINAL_STATES

    @property
    def ended_unpaid(self) -> bool:
        return self in {PaymentState.CANCELED, PaymentState.EXPIRED, PaymentState.FAILED}


FINAL_STATES = frozenset({PaymentState.PAID, PaymentState.CANCELED, PaymentState.EXPIRED, PaymentState.FAILED})


@dataclass(frozen=True)
class PaymentStatus:
    provider: str
    payment_id: str
    state: PaymentState
    provider_status: str
    amount: Decimal | None = None
    currency: str | None = None
    method: str | None = None
    paid_at: datetime | None = None
    expires_at: datetime | None = None


class PaymentProvider(Protocol):
    name: str

    def fetch(self, payment_id: str) -> PaymentStatus: ...


PAYMENT_ID_PATTERNS = {
    "mollie": re.compile(r"^tr_[A-Za-z0-9]{4,64}$"),
    "stripe": re.compile(r"^pi_[A-Za-z0-9_]{4,128}$"),
}


def _parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


class MolliePayments:
    """Mollie Payments API v2: GET /payments/{id} with a Bearer key."""

    name = "mollie"

    def __init__(self, base_url: str, api_key: str):
        self._base = base_url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {api_key}", "Accept": "application/json"}

    def fetch(self, payment_id: str) -> PaymentStatus:
        body = request_json(self.name, "GET", f"{self._base}/payments/{payment_id}", headers=self._headers)
        amount = body.get("amount") or {}
        return PaymentStatus(
            provider=self.name,
            payment_id=body["id"],
            # Mollie's statuses are already ours: open, pending, authorized, paid, canceled, expired, failed.
            state=PaymentState(body["status"]),
            provider_status=body["status"],
            amount=Decimal(amount["value"]) if "value" in amount else None,
            currency=amount.get("currency"),
            method=body.get("method"),
            paid_at=_parse_time(body.get("paidAt")),
            expires_at=_parse_time(body.get("expiresAt")),
        )


_STRIPE_STATES = {
    "succeeded": PaymentState.PAID,
    "canceled": PaymentState.CANCELED,
    "requires_capture": PaymentState.AUTHORIZED,
    "processing": PaymentState.PENDING,
    # A declined card returns the intent to requires_payment_method: the customer may still retry,
    # so it is open, not failed. The order's payment window decides when to give up.
    "requires_payment_method": PaymentState.OPEN,
    "requires_confirmation": PaymentState.OPEN,
    "requires_action": PaymentState.OPEN,
}


class StripePayments:
    """Stripe PaymentIntents: GET /payment_intents/{id}, HTTP Basic with the secret key."""

    name = "stripe"

    def __init__(self, base_url: str, api_key: str):
        self._base = base_url.rstrip("/")
        self._auth = (api_key, "")

    def fetch(self, payment_id: str) -> PaymentStatus:
        body = request_json(self.name, "GET", f"{self._base}/payment_intents/{payment_id}", auth=self._auth)
        status = body["status"]
        state = _STRIPE_STATES.get(status, PaymentState.OPEN)
        minor = body.get("amount_received") or body.get("amount")
        paid_at = None
        if state is PaymentState.PAID:
            paid_at = datetime.fromtimestamp(body.get("created", 0), tz=timezone.utc)
        methods = body.get("payment_method_types") or []
        return PaymentStatus(
            provider=self.name,
            payment_id=body["id"],
            state=state,
            provider_status=status,
            # Stripe amounts are integers in minor units; every currency used here has two decimals.
            amount=Decimal(minor).scaleb(-2) if minor is not None else None,
            currency=(body.get("currency") or "").upper() or None,
            method=methods[0] if methods else None,
            paid_at=paid_at,
        )


def payment_providers(settings: Settings) -> dict[str, PaymentProvider]:
    return {
        "mollie": MolliePayments(settings.mollie_api_base_url, settings.mollie_api_key),
        "stripe": StripePayments(settings.stripe_api_base_url, settings.stripe_api_key),
    }
