"""A fake provider that answers exactly what a test scripts, over real HTTP, with bodies written in
the shapes the providers' public API references show (not the project's sandbox): the tests that
use it prove the adapters read what Mollie and Stripe really send."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class DocumentedProvider:
    """answer(path, status, body, headers, method) scripts the next calls of a path (the last one
    repeats). A header "X-Test-No-Length" sends the body without Content-Length (read to close)."""

    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], list[tuple[int, Any, dict[str, str]]]] = {}
        self.calls: list[tuple[str, str, dict[str, str]]] = []  # (path, query, headers)
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _answer(self) -> None:
                path, _, query = self.path.partition("?")
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with fake.lock:
                    fake.calls.append((path, query, dict(self.headers)))
                    script = fake.routes.get((self.command, path))
                    status, body, headers = (script.pop(0) if len(script) > 1 else script[0]) if script else (404, {}, {})
                headers = dict(headers)
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", headers.pop("Content-Type", "application/json"))
                if not headers.pop("X-Test-No-Length", None):
                    self.send_header("Content-Length", str(len(data)))
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                try:
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client stopped reading (a size cap): fine

            do_GET = do_POST = do_PUT = do_DELETE = _answer

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def answer(self, path: str, status: int, body: Any, headers: dict[str, str] | None = None, method: str = "GET") -> None:
        with self.lock:
            self.routes.setdefault((method, path), []).append((status, body, dict(headers or {})))

    def asked(self, path: str) -> int:
        with self.lock:
            return sum(1 for called, _, _ in self.calls if called == path)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def mollie_links(payment_id: str, checkout: bool = False) -> dict[str, Any]:
    links = {
        "self": {"href": f"https://api.mollie.com/v2/payments/{payment_id}", "type": "application/hal+json"},
        "dashboard": {"href": f"https://www.mollie.com/dashboard/org_12345678/payments/{payment_id}", "type": "text/html"},
        "documentation": {"href": "https://docs.mollie.com/reference/v2/payments-api/get-payment", "type": "text/html"},
    }
    if checkout:
        links["checkout"] = {"href": f"https://www.mollie.com/checkout/select-method/{payment_id[3:]}", "type": "text/html"}
    return links


def mollie_open(payment_id: str, value: str = "10.00", currency: str = "EUR") -> dict[str, Any]:
    """An open payment: the customer has not chosen a method yet, so `method` is null."""
    return {
        "resource": "payment", "id": payment_id, "mode": "live", "createdAt": "2026-11-30T09:13:37+00:00",
        "amount": {"value": value, "currency": currency}, "description": "Order #12345", "method": None,
        "metadata": {"order_id": "12345"}, "status": "open", "isCancelable": False, "locale": "nl_NL",
        "restrictPaymentMethodsToCountry": "NL", "expiresAt": "2026-11-30T09:28:37+00:00", "details": None,
        "profileId": "pfl_QkEhN94Ba", "sequenceType": "oneoff", "redirectUrl": "https://webshop.example.org/order/12345/",
        "webhookUrl": "https://webshop.example.org/payments/webhook/", "_links": mollie_links(payment_id, checkout=True),
    }


def mollie_paid_ideal(payment_id: str, value: str = "10.00", currency: str = "EUR") -> dict[str, Any]:
    return {
        **mollie_open(payment_id, value, currency),
        "status": "paid", "method": "ideal", "paidAt": "2026-11-30T09:16:01+00:00", "countryCode": "NL",
        "amountRefunded": {"value": "0.00", "currency": currency}, "amountRemaining": {"value": value, "currency": currency},
        "settlementAmount": {"value": value, "currency": "EUR"},
        "details": {"consumerName": "T. TEST", "consumerAccount": "NL17RABO0213698412", "consumerBic": "RABONL2U"},
        "_links": mollie_links(payment_id),
    }


def mollie_open_bank_transfer(payment_id: str) -> dict[str, Any]:
    return {
        **mollie_open(payment_id),
        "method": "banktransfer", "status": "open", "expiresAt": "2026-12-12T09:13:37+00:00",
        "details": {"bankName": "Stichting Mollie Payments", "bankAccount": "NL53ABNA0627535577", "bankBic": "ABNANL2A",
                    "transferReference": "RF12-3456-7890-1234"},
        "_links": {**mollie_links(payment_id), "status": {"href": "https://www.mollie.com/checkout/bank-transfer/status/abc", "type": "text/html"}},
    }


def mollie_not_found(payment_id: str) -> dict[str, Any]:
    return {"status": 404, "title": "Not Found", "detail": f"No payment exists with token {payment_id}.",
            "_links": {"documentation": {"href": "https://docs.mollie.com/overview/handling-errors", "type": "text/html"}}}


def stripe_charge(intent_id: str, amount: int, currency: str, created: int) -> dict[str, Any]:
    return {
        "id": "ch_3MmlLrLkdIwHu7ix0snN0B15", "object": "charge", "amount": amount, "amount_captured": amount, "amount_refunded": 0,
        "balance_transaction": "txn_3MmlLrLkdIwHu7ix0uke3Ezy", "billing_details": {"address": {"city": None, "country": None}, "email": None, "name": None},
        "captured": True, "created": created, "currency": currency, "disputed": False, "livemode": False,
        "outcome": {"network_status": "approved_by_network", "risk_level": "normal", "seller_message": "Payment complete.", "type": "authorized"},
        "paid": True, "payment_intent": intent_id, "payment_method": "pm_1MmlLrLkdIwHu7ixbY8lDuAW",
        "payment_method_details": {"card": {"brand": "visa", "last4": "4242", "exp_month": 3, "exp_year": 2027}, "type": "card"},
        "receipt_url": "https://pay.stripe.com/receipts/payment/CAcaFwoV", "refunded": False, "status": "succeeded",
    }


def stripe_intent(intent_id: str, status: str, amount: int, currency: str = "eur", *, received: int | None = None,
                  latest_charge: Any = None, created: int = 1764494017) -> dict[str, Any]:
    return {
        "id": intent_id, "object": "payment_intent", "amount": amount, "amount_capturable": amount if status == "requires_capture" else 0,
        "amount_details": {"tip": {}}, "amount_received": amount if received is None and status == "succeeded" else (received or 0),
        "application": None, "application_fee_amount": None, "automatic_payment_methods": {"enabled": True},
        "canceled_at": None, "cancellation_reason": None, "capture_method": "automatic",
        "client_secret": f"{intent_id}_secret_YrKJUKribcBjcG8HVhfZluoGH", "confirmation_method": "automatic",
        "created": created, "currency": currency, "customer": None, "description": None, "invoice": None,
        "last_payment_error": None, "latest_charge": latest_charge, "livemode": False, "metadata": {}, "next_action": None,
        "on_behalf_of": None, "payment_method": "pm_1MmlLrLkdIwHu7ixbY8lDuAW",
        "payment_method_options": {"card": {"installments": None, "mandate_options": None, "network": None, "request_three_d_secure": "automatic"}},
        "payment_method_types": ["card"], "processing": None, "receipt_email": None, "review": None, "setup_future_usage": None,
        "shipping": None, "source": None, "statement_descriptor": None, "statement_descriptor_suffix": None, "status": status,
        "transfer_data": None, "transfer_group": None,
    }


def stripe_not_found(intent_id: str) -> dict[str, Any]:
    return {"error": {"code": "resource_missing", "doc_url": "https://stripe.com/docs/error-codes/resource-missing",
                      "message": f"No such payment_intent: '{intent_id}'", "param": "intent",
                      "request_log_url": "https://dashboard.stripe.com/test/logs/req_1234", "type": "invalid_request_error"}}


PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


def sendcloud_parcel(parcel_id: int, order_number: str, label_url: str, tracking_number: str = "3SYZXG192833973") -> dict[str, Any]:
    """POST /api/v2/parcels answer as Sendcloud documents it (abridged to the fields it always has)."""
    return {"parcel": {
        "id": parcel_id, "name": "John Doe", "company_name": "", "address": "Stadhuisplein", "house_number": "10",
        "city": "Eindhoven", "postal_code": "5611 EM", "country": {"iso_2": "NL", "iso_3": "NLD", "name": "Netherlands"},
        "email": "john@doe.example", "telephone": "+31612345678", "order_number": order_number, "weight": "1.200",
        "tracking_number": tracking_number, "tracking_url": f"https://tracking.sendcloud.sc/forward?carrier=postnl&code={tracking_number}",
        "status": {"id": 1000, "message": "Ready to send"}, "date_created": "30-11-2026 12:00:00",
        "label": {"normal_printer": [f"{label_url}?start_from={n}" for n in range(4)], "label_printer": label_url},
        "documents": [{"type": "label", "size": "a6", "link": label_url}], "carrier": {"code": "postnl"},
        "shipment": {"id": 8, "name": "PostNL Standard"}, "is_return": False, "insured_value": 0, "total_order_value": "42.50",
    }}
