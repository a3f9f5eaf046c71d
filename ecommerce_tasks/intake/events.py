"""The inbound data contract: JSON events a shop sends (schema in docs/data-contract.md)."""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter, model_validator

from ..providers.payments import PAYMENT_ID_PATTERNS

# Ids become table keys: no '/', '\\', '#', '?' or control characters, bounded length.
EntityId = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")]
Money = Annotated[str, Field(pattern=r"^\d{1,10}\.\d{2}$", description="decimal string, as Mollie sends it: '10.00'")]
Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_max_length=2000)


class Customer(Strict):
    email: Annotated[str, Field(pattern=r"^[^@\s]{1,64}@[^@\s]{1,255}\.[A-Za-z]{2,}$")]
    name: Annotated[str, Field(min_length=1, max_length=200)]


class OrderLine(Strict):
    sku: EntityId
    quantity: Annotated[int, Field(gt=0, le=100_000)]
    name: Annotated[str, Field(max_length=200)] = ""


class PaymentRef(Strict):
    provider: Literal["mollie", "stripe"]
    payment_id: Annotated[str, Field(max_length=130)]
    created_at: AwareDatetime

    @model_validator(mode="after")
    def _id_matches_provider(self) -> "PaymentRef":
        if not PAYMENT_ID_PATTERNS[self.provider].match(self.payment_id):
            raise ValueError(f"payment_id {self.payment_id!r} is not a {self.provider} payment id")
        return self


Text = Annotated[str, Field(max_length=200)]


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
    placed_at: AwareDatetime
    amount: Money
    currency: Currency
    customer: Customer
    lines: Annotated[list[OrderLine], Field(min_length=1, max_length=500)]
    payments: Annotated[list[PaymentRef], Field(max_length=50)] = []
    ships: bool = Field(True, description="false for orders with nothing to ship (no label)")
    shipping_address: ShippingAddress | None = None
    weight_grams: Annotated[int, Field(gt=0, le=100_000)] | None = None


class PaymentStarted(PaymentRef):
    """A (further) payment attempt for an order: the customer went to the payment page."""

    type: Literal["payment.started"]
    event_id: EntityId
    order_id: EntityId


class ProductUpserted(Strict):
    """A product whose stock the autopilot keeps (created, or its settings changed)."""

    type: Literal["product.upserted"]
    event_id: EntityId
    sku: EntityId
    name: Annotated[str, Field(max_length=200)] = ""
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
    occurred_at: AwareDatetime
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
Email = Annotated[str, Field(pattern=r"^[^@\s]{1,64}@[^@\s]{1,255}\.[A-Za-z]{2,}$")]


class CheckoutLine(Strict):
    sku: EntityId
    quantity: Annotated[int, Field(ge=0, le=100_000)]  # 0: removed from the cart
    unit_price: Money = "0.00"
    name: Annotated[str, Field(max_length=200)] = ""


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
    occurred_at: AwareDatetime
    email: Email | None = None  # cart or address step
    name: Annotated[str, Field(max_length=200)] | None = None
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
        return self


class CheckoutCompleted(Strict):
    """The checkout became an order: it is no longer abandoned, and its rows are removed."""

    type: Literal["checkout.completed"]
    event_id: EntityId
    checkout_id: EntityId
    order_id: EntityId
    occurred_at: AwareDatetime


class ErasureRequested(Strict):
    """Erase a customer's leads and open checkouts (a GDPR request the shop received)."""

    type: Literal["customer.erasure_requested"]
    event_id: EntityId
    email: Email
    requested_at: AwareDatetime


ShopEvent = Annotated[
    Union[OrderPlaced, PaymentStarted, ProductUpserted, StockChanged, CheckoutUpdated, CheckoutCompleted, ErasureRequested],
    Field(discriminator="type"),
]
SHOP_EVENT = TypeAdapter(ShopEvent)
