"""A generator that plays a shop: orders with payments, stock events, checkouts, and bad input."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from autopilot_sandbox import SandboxClient

# name -> (provider, scripted statuses of each attempt, what the order must end as)
SCENARIOS: dict[str, tuple[str, list[list[str]], str]] = {
    "paid": ("mollie", [["paid"]], "paid"),
    "open_then_paid": ("mollie", [["open", "paid"]], "paid"),
    "expired": ("mollie", [["open", "expired"]], "cancelled"),
    "failed": ("mollie", [["failed"]], "cancelled"),
    "canceled": ("mollie", [["canceled"]], "cancelled"),
    "second_attempt_paid": ("mollie", [["expired"], ["open", "paid"]], "paid"),
    "stripe_paid": ("stripe", [["processing", "succeeded"]], "paid"),
    "stripe_declined": ("stripe", [["requires_payment_method"]], "cancelled"),
    "authorized": ("mollie", [["authorized"]], "paid"),  # pay later: ships, is captured with its label, ends paid
    "late_payment": ("mollie", [["open"]], "paid"),  # cancelled by the window, then paid
}

HOSTILE = [
    "{not json",
    "   ",
    json.dumps({"type": "order.placed", "order_id": "x" * 5000}),
    json.dumps({"type": "order.placed", "event_id": "e", "order_id": "'; DROP TABLE orders; --", "amount": "1.00"}),
    json.dumps({"type": "stock.changed", "event_id": "e-huge", "sku": "P0", "kind": "delivery_received", "quantity": 10**12,
                "occurred_at": "2026-01-01T00:00:00Z"}),
    json.dumps({"type": "order.placed", "event_id": "e-inj", "order_id": "o1", "placed_at": "2026-01-01T00:00:00Z",
                "amount": "1.00", "currency": "EUR", "customer": {"email": "<script>alert(1)</script>", "name": "x"},
                "lines": [{"sku": "P0", "quantity": 1}]}),
    json.dumps({"type": "stock.changed", "event_id": "e-unknown", "sku": "NO-SUCH-PRODUCT", "kind": "lost", "quantity": 1,
                "occurred_at": "2026-01-01T00:00:00Z"}),
    json.dumps({"type": "checkout.updated", "event_id": "e-cq", "checkout_id": "PartitionKey eq 'x'", "step": "cart",
                "occurred_at": "2026-01-01T00:00:00Z"}),
    json.dumps(["not", "an", "object"]),
    json.dumps({"type": "stock.changed", "event_id": "e-neg", "sku": "P0", "kind": "damaged", "quantity": -5,
                "occurred_at": "2026-01-01T00:00:00Z"}),
]
HOSTILE_CHECKS = [json.dumps({"order_id": "no-such-order"}), json.dumps({"provider": "mollie", "payment_id": "tr_nobody0000"}),
                  json.dumps({"checks": "lots"})]


@dataclass
class ShopRecord:
    """What the generator did: the truth the invariants are checked against."""

    orders: dict[str, str] = field(default_factory=dict)  # order id -> scenario
    payments: dict[str, list[str]] = field(default_factory=dict)  # order id -> payment ids
    late: list[str] = field(default_factory=list)
    paid_late: set[str] = field(default_factory=set)
    products: list[str] = field(default_factory=list)
    stock_event_ids: set[str] = field(default_factory=set)
    checkouts: dict[str, str] = field(default_factory=dict)  # checkout id -> "live", "completed" or "abandoned"
    bad_address: set[str] = field(default_factory=set)  # orders whose label must fail, once
    hostile_events: list[str] = field(default_factory=list)
    hostile_checks: list[str] = field(default_factory=list)
    sent: int = 0
    duplicates: int = 0


class Shop:
    def __init__(self, sandbox: SandboxClient, send, seed: int = 1, duplicate_every: int = 7):
        self.sandbox = sandbox
        self.send_raw = send  # (queue kind, text) -> None
        self.random = random.Random(seed)
        self.duplicate_every = duplicate_every
        self.record = ShopRecord()
        self._n = 0

    def _send(self, event: dict[str, Any]) -> None:
        text = json.dumps(event)
        self.send_raw("events", text)
        self.record.sent += 1
        if self.duplicate_every and self.record.sent % self.duplicate_every == 0:
            self.send_raw("events", text)  # at-least-once from the shop's side too
            self.record.duplicates += 1

    @staticmethod
    def _now(offset_seconds: float = 0) -> str:
        return (datetime.now(timezone.utc) + timedelta(seconds=offset_seconds)).isoformat()

    def open_shop(self, products: int) -> None:
        for i in range(products):
            sku = f"P{i}"
            self.record.products.append(sku)
            self._send({"type": "product.upserted", "event_id": f"p-{sku}", "sku": sku, "low_stock_threshold": 3})
            self._stock(sku, "delivery_received", quantity=50)

    def _stock(self, sku: str, kind: str, **fields: Any) -> None:
        self._n += 1
        event_id = f"s{self._n}"
        self.record.stock_event_ids.add(event_id)
        self._send({"type": "stock.changed", "event_id": event_id, "sku": sku, "kind": kind, "occurred_at": self._now(), **fields})

    def order(self) -> None:
        self._n += 1
        number = self._n
        order_id = f"so{number}"
        scenario = self.random.choice(list(SCENARIOS))
        provider, scripts, _ = SCENARIOS[scenario]
        sku = self.random.choice(self.record.products)
        payments = []
        for attempt, script in enumerate(scripts):
            payment_id = f"{'tr' if provider == 'mollie' else 'pi'}_{order_id}x{attempt}"
            extra = {"expires_in_seconds": 30 * 86400} if scenario == "late_payment" else {}
            self.sandbox.payment(provider, payment_id, script, amount="10.00", **extra)
            payments.append({"provider": provider, "payment_id": payment_id, "created_at": self._now(-1)})
        self.record.orders[order_id] = scenario
        address = {"name": f"Soak Customer{number}", "street": "Damrak", "house_number": str(number), "postal_code": "1012 LG",
                   "city": "Amsterdam", "country": "NL"}
        if self.random.random() < 0.1:
            address["postal_code"] = ""
            self.record.bad_address.add(order_id)
        self.record.payments[order_id] = [p["payment_id"] for p in payments]
        self._stock(sku, "reserved", quantity=1, order_id=order_id)
        self._send({
            "type": "order.placed", "event_id": f"e-{order_id}", "order_id": order_id, "placed_at": self._now(-1),
            "amount": "10.00", "currency": "EUR",
            "customer": {"email": f"soak.customer{number}@example.com", "name": f"Soak Customer{number}"},
            "lines": [{"sku": sku, "quantity": 1}], "payments": payments, "shipping_address": address,
        })
        if scenario == "late_payment":
            self.record.late.append(order_id)

    def stock_noise(self) -> None:
        sku = self.random.choice(self.record.products)
        kind = self.random.choice(["damaged", "lost", "return_received", "delivery_received", "recount"])
        if kind == "recount":
            self._stock(sku, kind, counted=self.random.randint(20, 60))
        else:
            self._stock(sku, kind, quantity=self.random.randint(1, 3))

    def checkout(self) -> None:
        self._n += 1
        checkout_id = f"sc{self._n}"
        fate = self.random.choice(["abandoned", "abandoned", "live", "completed"])
        base = {"type": "checkout.updated", "checkout_id": checkout_id}
        self._send({**base, "event_id": f"{checkout_id}-c", "step": "cart", "occurred_at": self._now(), "currency": "EUR"})
        self._send({**base, "event_id": f"{checkout_id}-l", "step": "line", "occurred_at": self._now(),
                    "line": {"sku": "P0", "quantity": 1, "unit_price": "5.00"}})
        self._send({**base, "event_id": f"{checkout_id}-a", "step": "address", "occurred_at": self._now(),
                    "email": f"soak.shopper{self._n}@example.com", "name": "Soak Shopper", "marketing_consent": True})
        if fate == "live":
            self._send({**base, "event_id": f"{checkout_id}-p", "step": "payment", "occurred_at": self._now(),
                        "payment": {"provider": "mollie", "payment_id": "tr_live", "status": "authorized"}})
        elif fate == "completed":
            self._send({"type": "checkout.completed", "event_id": f"{checkout_id}-done", "checkout_id": checkout_id,
                        "order_id": "done", "occurred_at": self._now()})
        self.record.checkouts[checkout_id] = fate

    def hostile(self) -> None:
        for text in HOSTILE:
            self.send_raw("events", text)
            self.record.hostile_events.append(text)
        for text in HOSTILE_CHECKS:
            self.send_raw("checks", text)
            self.record.hostile_checks.append(text)
        self.send_raw("undecodable", "this was never base64 {")

    def pay_late(self, webhook, status_of) -> None:
        """Money arrives for late-payment orders the app has cancelled: the provider calls the webhook."""
        for order_id in self.record.late:
            if order_id in self.record.paid_late or status_of(order_id) != "cancelled":
                continue
            payment_id = self.record.payments[order_id][0]
            self.sandbox.set_status(payment_id, "paid")
            webhook("mollie", payment_id)
            self.record.paid_late.add(order_id)
