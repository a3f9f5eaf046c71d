"""Payment providers behind one small interface: fetch a payment and say where it stands."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from enum import Enum
from typing import Annotated, Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..http import PermanentProviderError, request_json
from ..money import from_stripe
from ..settings import Settings


class PaymentState(str, Enum):
    OPEN = "open"
    PENDING = "pending"
    AUTHORIZED = "authorized"
    PAID = "paid"
    CANCELED = "canceled"
    EXPIRED = "expired"
    FAILED = "failed"
    # The provider does not know the payment (404): often a test key asked about a live payment.
    # Not asked again, and not paid; the order's window decides, and the shop is asked to look.
    UNKNOWN = "unknown"

    @property
    def is_final(self) -> bool:
        return self in FINAL_STATES

    @property
    def ended_unpaid(self) -> bool:
        return self in {PaymentState.CANCELED, PaymentState.EXPIRED, PaymentState.FAILED}


FINAL_STATES = frozenset({PaymentState.PAID, PaymentState.CANCELED, PaymentState.EXPIRED, PaymentState.FAILED, PaymentState.UNKNOWN})
NOT_FOUND = frozenset({404, 410})
STRIPE_AUTHORIZATION = timedelta(days=7)


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
    expires_at: datetime | None = None  # of an open payment, or of an authorization
    cancellation_reason: str | None = None  # Stripe: "automatic" when an authorization lapsed


class PaymentProvider(Protocol):
    name: str

    def fetch(self, payment_id: str) -> PaymentStatus: ...

    def capture(self, payment_id: str, idempotency_key: str) -> str:
        """Takes an authorized payment's money; returns the provider's id of the capture. A repeat
        with the same key is the same capture (the provider answers it as the first time)."""
        ...

    def void(self, payment_id: str, idempotency_key: str) -> None:
        """Releases an authorization (or cancels an open payment) that will not be captured."""
        ...


PAYMENT_ID_PATTERNS = {
    "mollie": re.compile(r"^tr_[A-Za-z0-9]{4,64}$"),
    "stripe": re.compile(r"^pi_[A-Za-z0-9_]{4,128}$"),
}


def _fetch_or_unknown(provider: str, payment_id: str, get: Callable[[], dict[str, Any]], parse: Callable[[dict[str, Any]], PaymentStatus]) -> PaymentStatus:
    """One payment's answer; a 404 is an answer too (the payment is unknown), not a failure."""
    try:
        body = get()
    except PermanentProviderError as exc:
        if exc.status not in NOT_FOUND:
            raise
        return PaymentStatus(provider, payment_id, PaymentState.UNKNOWN, f"HTTP {exc.status}: {exc.detail}"[:300])
    try:
        status = parse(body)
    except (ValidationError, ValueError) as exc:
        raise PermanentProviderError(provider, f"unexpected answer for {payment_id}: {_problems(exc)}") from None
    if status.payment_id != payment_id:
        raise PermanentProviderError(provider, f"asked for {payment_id}, the answer is about another payment")
    return status


def _problems(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:3])
    return str(exc)[:200]


class _Answer(BaseModel):
    """A provider's answer: the fields we read are typed and bounded; anything else is ignored."""

    model_config = ConfigDict(extra="ignore", str_max_length=2000)


class MollieAmount(_Answer):
    value: Annotated[str, Field(pattern=r"^-?\d{1,12}(\.\d{1,4})?$")]
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")]


class MollieLink(_Answer):
    href: Annotated[str, Field(max_length=2000)]
    type: str = ""


class MollieLinks(_Answer):
    self_: MollieLink | None = Field(None, alias="self")
    checkout: MollieLink | None = None
    dashboard: MollieLink | None = None


class MolliePayment(_Answer):
    """GET /v2/payments/{id}, as Mollie documents it (method is null until the customer picks one;
    details depend on the method: iDEAL's consumer, a bank transfer's reference...)."""

    resource: Literal["payment"] = "payment"
    id: Annotated[str, Field(pattern=PAYMENT_ID_PATTERNS["mollie"].pattern)]
    status: Annotated[str, Field(max_length=40)]
    amount: MollieAmount
    amountRemaining: MollieAmount | None = None
    amountRefunded: MollieAmount | None = None
    amountCaptured: MollieAmount | None = None
    settlementAmount: MollieAmount | None = None
    method: Annotated[str, Field(max_length=60)] | None = None
    details: dict[str, Any] | None = None  # personal data (consumer name, IBAN): never stored
    createdAt: datetime | None = None
    paidAt: datetime | None = None
    expiresAt: datetime | None = None
    canceledAt: datetime | None = None
    failedAt: datetime | None = None
    links: MollieLinks | None = Field(None, alias="_links")


_MOLLIE_STATES = {state.value: state for state in PaymentState if state is not PaymentState.UNKNOWN}


class MolliePayments:
    """Mollie Payments API v2: GET /payments/{id} with a Bearer key."""

    name = "mollie"

    def __init__(self, base_url: str, api_key: str):
        self._base = base_url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {api_key}", "Accept": "application/json"}

    def fetch(self, payment_id: str) -> PaymentStatus:
        url = f"{self._base}/payments/{payment_id}"
        return _fetch_or_unknown(self.name, payment_id, lambda: request_json(self.name, "GET", url, headers=self._headers), self.parse)

    def capture(self, payment_id: str, idempotency_key: str) -> str:
        """POST /v2/payments/{id}/captures (the whole authorized amount)."""
        answer = request_json(self.name, "POST", f"{self._base}/payments/{payment_id}/captures",
                              headers={**self._headers, "Idempotency-Key": idempotency_key}, json={})
        return str(answer.get("id", ""))[:100]

    def void(self, payment_id: str, idempotency_key: str) -> None:
        """DELETE /v2/payments/{id}: cancels a cancelable payment, an authorization included."""
        request_json(self.name, "DELETE", f"{self._base}/payments/{payment_id}", headers={**self._headers, "Idempotency-Key": idempotency_key})

    def parse(self, body: dict[str, Any]) -> PaymentStatus:
        payment = MolliePayment.model_validate(body)
        return PaymentStatus(
            provider=self.name,
            payment_id=payment.id,
            # Mollie's statuses are ours; one it adds later is taken as not final (asked again).
            state=_MOLLIE_STATES.get(payment.status, PaymentState.OPEN),
            provider_status=payment.status,
            amount=Decimal(payment.amount.value),
            currency=payment.amount.currency,
            method=payment.method,
            paid_at=_aware(payment.paidAt),
            expires_at=_aware(payment.expiresAt),
        )


def _aware(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


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

MinorAmount = Annotated[int, Field(ge=0, le=10**15, strict=True)]


class StripeCharge(_Answer):
    id: Annotated[str, Field(pattern=r"^(ch|py)_[A-Za-z0-9_]{1,200}$")]
    created: Annotated[int, Field(ge=0, strict=True)]
    paid: bool | None = None
    status: Annotated[str, Field(max_length=40)] | None = None


class StripeIntent(_Answer):
    """GET /v1/payment_intents/{id}?expand[]=latest_charge, as Stripe documents it."""

    object: Literal["payment_intent"] = "payment_intent"
    id: Annotated[str, Field(pattern=PAYMENT_ID_PATTERNS["stripe"].pattern)]
    status: Annotated[str, Field(max_length=40)]
    amount: MinorAmount
    amount_received: MinorAmount = 0
    amount_capturable: MinorAmount = 0
    currency: Annotated[str, Field(pattern=r"^[a-zA-Z]{3}$")]
    created: Annotated[int, Field(ge=0, strict=True)]
    latest_charge: StripeCharge | Annotated[str, Field(max_length=255)] | None = None
    payment_method_types: list[Annotated[str, Field(max_length=60)]] = []
    cancellation_reason: Annotated[str, Field(max_length=60)] | None = None
    last_payment_error: dict[str, Any] | None = None
    livemode: bool | None = None


class StripePayments:
    """Stripe PaymentIntents: GET /payment_intents/{id}, HTTP Basic with the secret key. The latest
    charge is expanded, since it says when the money was taken (the intent's `created` does not)."""

    name = "stripe"

    def __init__(self, base_url: str, api_key: str):
        self._base = base_url.rstrip("/")
        self._auth = (api_key, "")

    def fetch(self, payment_id: str) -> PaymentStatus:
        url = f"{self._base}/payment_intents/{payment_id}"
        return _fetch_or_unknown(
            self.name, payment_id,
            lambda: request_json(self.name, "GET", url, auth=self._auth, params={"expand[]": "latest_charge"}), self.parse,
        )

    def capture(self, payment_id: str, idempotency_key: str) -> str:
        """POST /v1/payment_intents/{id}/capture (amount_capturable in full)."""
        answer = request_json(self.name, "POST", f"{self._base}/payment_intents/{payment_id}/capture", auth=self._auth,
                              headers={"Idempotency-Key": idempotency_key})
        return str(answer.get("latest_charge") or answer.get("id", ""))[:100]

    def void(self, payment_id: str, idempotency_key: str) -> None:
        """POST /v1/payment_intents/{id}/cancel."""
        request_json(self.name, "POST", f"{self._base}/payment_intents/{payment_id}/cancel", auth=self._auth,
                     headers={"Idempotency-Key": idempotency_key})

    def parse(self, body: dict[str, Any]) -> PaymentStatus:
        intent = StripeIntent.model_validate(body)
        state = _STRIPE_STATES.get(intent.status, PaymentState.OPEN)
        currency = intent.currency.upper()
        paid = state is PaymentState.PAID
        charge = intent.latest_charge if isinstance(intent.latest_charge, StripeCharge) else None
        return PaymentStatus(
            provider=self.name,
            payment_id=intent.id,
            state=state,
            provider_status=intent.status,
            amount=from_stripe(intent.amount_received if paid else intent.amount, currency),
            currency=currency,
            method=intent.payment_method_types[0] if intent.payment_method_types else None,
            # When the charge succeeded; without it, the check uses the moment it first saw `succeeded`.
            paid_at=datetime.fromtimestamp(charge.created, tz=timezone.utc) if paid and charge else None,
            # Stripe gives no end for a held card payment: its authorization lapses after 7 days.
            expires_at=datetime.fromtimestamp(intent.created, tz=timezone.utc) + STRIPE_AUTHORIZATION if state is PaymentState.AUTHORIZED else None,
            cancellation_reason=intent.cancellation_reason,
        )


def payment_providers(settings: Settings) -> dict[str, PaymentProvider]:
    return {
        "mollie": MolliePayments(settings.mollie_api_base_url, settings.mollie_api_key),
        "stripe": StripePayments(settings.stripe_api_base_url, settings.stripe_api_key),
    }
