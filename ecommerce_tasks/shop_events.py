"""The inbound data contract: JSON events a shop sends (schema in docs/data-contract.md)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Annotated, Literal, Union

from email_validator import EmailNotValidError, validate_email
from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter, model_validator

from .money import decimals_of, is_currency, minor_units
from .providers.payments import PAYMENT_ID_PATTERNS
from .settings import get_settings

EARLIEST = datetime(2000, 1, 1, tzinfo=timezone.utc)


def _plausible_time(moment: datetime) -> datetime:
    """A shop's clock may be a little ahead, not years: a time far off is a bug, rejected once
    (a recount dated 9999 would otherwise freeze a product's stock for good)."""
    try:
        latest = datetime.now(timezone.utc) + timedelta(hours=get_settings().event_max_future_hours)
        in_range = EARLIEST <= moment <= latest
        moment.astimezone(timezone.utc)
    except OverflowError:
        in_range = False
    if not in_range:
        raise ValueError("time must lie between 2000-01-01 and EVENT_MAX_FUTURE_HOURS from now")
    return moment


Moment = Annotated[AwareDatetime, Field(strict=False), AfterValidator(_plausible_time)]  # ISO strings, from JSON or a dict

# Unicode that can disguise text (bidi overrides and isolates) or break it (controls, NUL).
_DISGUISING = re.compile(r"[\x00-\x1f\x7f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _clean_text(text: str) -> str:
    if _DISGUISING.search(text):
        raise ValueError("control or bidirectional override characters are not allowed")
    return text


def _email_address(address: str) -> str:
    """Validated by email-validator. Internationalized addresses (SMTPUTF8) are refused here: not
    every e-mail provider can send to them, and a refusal now beats a failed e-mail later."""
    try:
        return validate_email(address, check_deliverability=False, allow_smtputf8=False).normalized
    except EmailNotValidError as exc:
        raise ValueError(f"not a deliverable e-mail address: {exc}") from None


Email = Annotated[str, Field(max_length=254), AfterValidator(_email_address)]
Name = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_clean_text)]
Text = Annotated[str, Field(max_length=200), AfterValidator(_clean_text)]

# Ids become table keys: no '/', '\\', '#', '?' or control characters, bounded length.
EntityId = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")]
Money = Annotated[
    str,
    Field(pattern=r"^\d{1,12}(\.\d{1,4})?$",
          description="decimal string with the currency's ISO 4217 minor units, as Mollie writes it: '10.00' EUR, '4250' JPY, '1.250' KWD"),
]


def _iso_currency(code: str) -> str:
    if not is_currency(code):
        raise ValueError(f"{code!r} is not an ISO 4217 currency with minor units")
    return code


Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$"), AfterValidator(_iso_currency)]


def check_decimals(amount: str, currency: str, field: str = "amount") -> None:
    units = minor_units(currency)
    if units is not None and decimals_of(amount) != units:
        raise ValueError(f"{field} {amount!r} must have {units} decimals in {currency}")


class Strict(BaseModel):
    # strict: "5" is not a number and true is not 1; JSON times are still read from ISO strings.
    model_config = ConfigDict(extra="forbid", str_max_length=2000, strict=True)


class Customer(Strict):
    email: Email
    name: Name


class OrderLine(Strict):
    sku: EntityId
    quantity: Annotated[int, Field(gt=0, le=100_000)]
    name: Text = ""


class PaymentRef(Strict):
    provider: Literal["mollie", "stripe"]
    payment_id: Annotated[str, Field(max_length=130)]
    created_at: Moment

    @model_validator(mode="after")
    def _id_matches_provider(self) -> "PaymentRef":
        if not PAYMENT_ID_PATTERNS[self.provider].match(self.payment_id):
            raise ValueError(f"payment_id {self.payment_id!r} is not a {self.provider} payment id")
        return self




class ShippingAddress(Strict):
    """Taken as the shop has it: whether it can be shipped to is decided (and reported) by the
    label worker, so a bad address fails its label once, with the reason, instead of the order."""

    name: Text = ""
    company: Text = ""
    street: Text = ""
    house_number: Annotated[str, Field(max_length=20)] = ""
    postal_code: Annotated[str, Field(max_length=20)] = ""
    city: Text = ""
    country: Annotated[str, Field(max_length=60, description="ISO 3166-1 alpha-2, e.g. NL")] = ""
    phone: Annotated[str, Field(max_length=40)] = ""


class OrderPlaced(Strict):
    """An order that waits for an online payment."""

    type: Literal["order.placed"]
    event_id: EntityId
    order_id: EntityId
    placed_at: Moment
    amount: Money
    currency: Currency
    customer: Customer
    lines: Annotated[list[OrderLine], Field(min_length=1, max_length=500)]
    payments: Annotated[list[PaymentRef], Field(max_length=50)] = []
    ships: bool = Field(True, description="false for orders with nothing to ship (no label)")
    shipping_address: ShippingAddress | None = None
    weight_grams: Annotated[int, Field(gt=0, le=100_000)] | None = None

    @model_validator(mode="after")
    def _amount_fits_the_currency(self) -> "OrderPlaced":
        check_decimals(self.amount, self.currency)
        return self


class PaymentStarted(PaymentRef):
    """A (further) payment attempt for an order: the customer went to the payment page."""

    type: Literal["payment.started"]
    event_id: EntityId
    order_id: EntityId


class OrderCancelRequested(Strict):
    """The shop cancels an order that is not paid: an authorization is voided, stock released.
    A paid or shipped order is refused (refunds are not this app's job)."""

    type: Literal["order.cancel_requested"]
    event_id: EntityId
    order_id: EntityId
    requested_at: Moment
    reason: Annotated[str, Field(max_length=200), AfterValidator(_clean_text)] = ""


class ProductUpserted(Strict):
    """A product whose stock the autopilot keeps (created, or its settings changed)."""

    type: Literal["product.upserted"]
    event_id: EntityId
    sku: EntityId
    name: Text = ""
    allow_backorders: bool = False
    sell_threshold: Annotated[int, Field(ge=0, le=1_000_000)] = Field(0, description="unavailable at or below this sellable stock")
    low_stock_threshold: Annotated[int, Field(ge=0, le=1_000_000)] = Field(5, description="the merchant is alerted at or below this")


StockKind = Literal["return_received", "damaged", "lost", "delivery_received", "recount", "reserved", "released", "shipped"]


class StockChanged(Strict):
    """Something happened to a product's stock. Every kind but recount carries a positive quantity;
    a recount carries the absolute `counted` level at `occurred_at`."""

    type: Literal["stock.changed"]
    event_id: EntityId
    sku: EntityId
    kind: StockKind
    occurred_at: Moment
    quantity: Annotated[int, Field(gt=0, le=1_000_000)] | None = None
    counted: Annotated[int, Field(ge=0, le=10_000_000)] | None = None
    resellable: bool = True  # return_received only: a return that cannot be sold again is recorded, not stocked
    order_id: EntityId | None = None  # reserved, released, shipped
    note: Annotated[str, Field(max_length=500)] = ""

    @model_validator(mode="after")
    def _fields_fit_the_kind(self) -> "StockChanged":
        if self.kind == "recount":
            if self.counted is None or self.quantity is not None:
                raise ValueError("a recount carries `counted` (the absolute level) and no `quantity`")
        elif self.quantity is None or self.counted is not None:
            raise ValueError(f"{self.kind} carries a positive `quantity` and no `counted`")
        if self.kind in {"reserved", "released", "shipped"} and not self.order_id:
            raise ValueError(f"{self.kind} needs the `order_id` it belongs to")
        return self


CheckoutStep = Literal["cart", "line", "address", "shipping", "payment"]


class CheckoutLine(Strict):
    sku: EntityId
    quantity: Annotated[int, Field(ge=0, le=100_000)]  # 0: removed from the cart
    unit_price: Money = "0.00"
    name: Text = ""


class CheckoutPayment(Strict):
    provider: Annotated[str, Field(max_length=40)]
    payment_id: Annotated[str, Field(max_length=130)]
    status: Literal["open", "pending", "authorized", "paid", "canceled", "expired", "failed"]


class CheckoutUpdated(Strict):
    """One step of a checkout, as the shop stores it: the cart, a line, the address, shipping, payment."""

    type: Literal["checkout.updated"]
    event_id: EntityId
    checkout_id: EntityId
    step: CheckoutStep
    occurred_at: Moment
    email: Email | None = None  # cart or address step
    name: Text | None = None
    marketing_consent: bool | None = None
    cart_url: Annotated[str, Field(pattern=r"^https://", max_length=2000)] | None = None
    currency: Currency | None = None
    line: CheckoutLine | None = None
    shipping_method: Annotated[str, Field(max_length=100)] | None = None
    payment: CheckoutPayment | None = None

    @model_validator(mode="after")
    def _step_has_its_data(self) -> "CheckoutUpdated":
        if self.step == "line" and self.line is None:
            raise ValueError("a line step carries `line`")
        if self.step == "payment" and self.payment is None:
            raise ValueError("a payment step carries `payment`")
        if self.currency and self.line and "unit_price" in self.line.model_fields_set:
            check_decimals(self.line.unit_price, self.currency, "line.unit_price")
        return self


class CheckoutCompleted(Strict):
    """The checkout became an order: it is no longer abandoned, and its rows are removed."""

    type: Literal["checkout.completed"]
    event_id: EntityId
    checkout_id: EntityId
    order_id: EntityId
    occurred_at: Moment


class ErasureRequested(Strict):
    """Erase a customer's leads and open checkouts (a GDPR request the shop received)."""

    type: Literal["customer.erasure_requested"]
    event_id: EntityId
    email: Email
    requested_at: Moment


ShopEvent = Annotated[
    Union[OrderPlaced, PaymentStarted, OrderCancelRequested, ProductUpserted, StockChanged, CheckoutUpdated, CheckoutCompleted, ErasureRequested],
    Field(discriminator="type"),
]
SHOP_EVENT = TypeAdapter(ShopEvent)
ShopEventModel = OrderPlaced | PaymentStarted | OrderCancelRequested | ProductUpserted | StockChanged | CheckoutUpdated | CheckoutCompleted | ErasureRequested
