"""Sandbox providers over real HTTP, for the demo and the tests: payments here, carriers and
e-mail in shipping.py.

Speaks the documented shapes:
- Mollie v2: GET /mollie/v2/payments/{id}, `Authorization: Bearer test_...`; errors
  {"status", "title", "detail"}; 429 without any rate-limit header.
- Stripe: GET /stripe/v1/payment_intents/{id}, HTTP Basic with `sk_test_...`; errors
  {"error": {"type", "code", "message"}}.

Control endpoints (under /_sandbox, for scripts and tests only):
- POST /_sandbox/payments  {"provider", "id", "statuses": [...], "amount": "10.00", "currency",
  "method", "expires_in_seconds"}: each GET returns the next status of the script, the last repeats.
- POST /_sandbox/payments/{id}/status {"status": ...}: jump to a status (and stay).
- POST /_sandbox/faults {"path_contains", "responses": [{"status": 429, "headers": {...}} |
  {"delay": 2.5} | {"status": 500, "after_effect": true}]}: the next matching calls answer so.
- POST /_sandbox/chaos {"rate_429", "rate_500", "rate_timeout", "rate_after_effect", "timeout_seconds",
  "seed"}: random faults on every provider call (the soak's fault injection).
- POST /_sandbox/latency {"seconds": 0.05}; GET /_sandbox/requests; POST /_sandbox/reset.
- GET /_sandbox/shipping (parcels, labels, e-mails received); POST /_sandbox/shipping/script
  {"carrier": "sendcloud"|"postnl", "statuses": [...]}: the tracking steps of new parcels.
"""

from __future__ import annotations

import base64
import json
import random
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

import httpx
from standardwebhooks import Webhook

from ecommerce_tasks.money import to_stripe

from .shipping import ShippingState
from .shipping import handle as handle_shipping


@dataclass
class ScriptedPayment:
    provider: str
    payment_id: str
    statuses: list[str]
    amount: str = "10.00"
    currency: str = "EUR"
    method: str = "ideal"
    created_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    expires_in_seconds: int | None = 900
    reads: int = 0
    captures: list[dict[str, Any]] = field(default_factory=list)
    cancellation_reason: str = "abandoned"

    def current(self) -> str:
        return self.statuses[min(self.reads, len(self.statuses) - 1)]

    def next_status(self) -> str:
        status = self.statuses[min(self.reads, len(self.statuses) - 1)]
        self.reads += 1
        return status


class SandboxState:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.payments: dict[str, ScriptedPayment] = {}
        self.faults: list[tuple[str, dict[str, Any]]] = []
        self.latency = 0.0
        self.requests: dict[str, int] = {}
        self.chaos: dict[str, float] = {}
        # Reproducible fault injection, not security.
        self.random = random.Random(0)  # nosec B311
        self.shipping = ShippingState()
        # Idempotency-Key -> the answer first given to it, as Mollie and Stripe keep them.
        self.idempotent: dict[str, tuple[int, Any]] = {}
        # The shop's webhook receiver: its secret, scripted answers (status codes or "timeout"), what came in.
        self.receiver: dict[str, Any] = {"secret": "", "answers": [], "delay": 2.0}
        self.received: list[dict[str, Any]] = []

    def take_fault(self, path: str) -> dict[str, Any] | None:
        with self.lock:
            for index, (needle, response) in enumerate(self.faults):
                if needle in path:
                    del self.faults[index]
                    return response
            return self._chaos()

    def _chaos(self) -> dict[str, Any] | None:
        draw = self.random.random()
        for key, fault in (
            ("rate_429", {"status": 429}),
            ("rate_500", {"status": 503}),
            ("rate_timeout", {"delay": self.chaos.get("timeout_seconds", 5.0)}),
            ("rate_after_effect", {"status": 500, "after_effect": True}),
        ):
            rate = self.chaos.get(key, 0.0)
            if draw < rate:
                return fault
            draw -= rate
        return None


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S+00:00")


def mollie_payment(p: ScriptedPayment, status: str) -> dict[str, Any]:
    """A payment in the full shape Mollie documents: method null until chosen, details per
    method once paid, the remaining and settlement amounts, the checkout link while open."""
    now = datetime.now(timezone.utc)
    amount = {"value": p.amount, "currency": p.currency}
    body: dict[str, Any] = {
        "resource": "payment",
        "id": p.payment_id,
        "mode": "test",
        "status": status,
        "isCancelable": status == "open",
        "amount": amount,
        "description": f"Order payment {p.payment_id}",
        "method": None if status == "open" and p.method == "ideal" else p.method,
        "metadata": {"order_id": "sandbox"},
        "details": None,
        "profileId": "pfl_sandbox01",
        "sequenceType": "oneoff",
        "redirectUrl": "https://shop.example/return",
        "createdAt": _iso(p.created_at),
        "_links": {
            "self": {"href": f"https://api.mollie.com/v2/payments/{p.payment_id}", "type": "application/hal+json"},
            "dashboard": {"href": f"https://my.mollie.com/dashboard/payments/{p.payment_id}", "type": "text/html"},
            "documentation": {"href": "https://docs.mollie.com/reference/get-payment", "type": "text/html"},
        },
    }
    if status == "open":
        body["_links"]["checkout"] = {"href": f"https://www.mollie.com/checkout/select-method/{p.payment_id}", "type": "text/html"}
    if status in {"open", "pending", "authorized"} and p.expires_in_seconds is not None:
        body["expiresAt"] = _iso(p.created_at + timedelta(seconds=p.expires_in_seconds))
    if p.captures:
        body["amountCaptured"] = amount
        body["captureMode"] = "manual"
        body["_links"]["captures"] = {"href": f"https://api.mollie.com/v2/payments/{p.payment_id}/captures", "type": "application/hal+json"}
    if status == "paid":
        body["amountRefunded"] = {"value": "0.00", "currency": p.currency}
        body["amountRemaining"] = amount
        body["settlementAmount"] = amount
        body["details"] = (
            {"bankName": "Stichting Mollie Payments", "bankAccount": "NL53ABNA0627535577", "bankBic": "ABNANL2A", "transferReference": "RF12-3456-7890-1234"}
            if p.method == "banktransfer" else
            {"consumerName": "T. TEST", "consumerAccount": "NL91ABNA0417164300", "consumerBic": "ABNANL2A"}
        )
    stamp = {"paid": "paidAt", "canceled": "canceledAt", "expired": "expiredAt", "failed": "failedAt"}.get(status)
    if stamp:
        body[stamp] = _iso(now)
    return body


def stripe_intent(p: ScriptedPayment, status: str, expand_charge: bool = False) -> dict[str, Any]:
    """A PaymentIntent in Stripe's full shape; `latest_charge` is an id, or the charge when expanded."""
    minor = to_stripe(p.amount, p.currency)
    charged = status in {"succeeded", "requires_capture"}
    charge_id = "ch_" + p.payment_id.removeprefix("pi_")
    charge = {"id": charge_id, "object": "charge", "amount": minor, "paid": status == "succeeded", "captured": status == "succeeded",
              "status": "succeeded", "created": int(p.created_at.timestamp()) + 60, "currency": p.currency.lower()}
    declined = status == "requires_payment_method" and p.reads > 1
    return {
        "id": p.payment_id,
        "object": "payment_intent",
        "amount": minor,
        "amount_capturable": minor if status == "requires_capture" else 0,
        "amount_details": {"tip": {}},
        "amount_received": minor if status == "succeeded" else 0,
        "application": None,
        "automatic_payment_methods": {"enabled": True},
        "canceled_at": int(time.time()) if status == "canceled" else None,
        "cancellation_reason": p.cancellation_reason if status == "canceled" else None,
        "capture_method": "manual" if p.captures or status == "requires_capture" else "automatic_async",
        "client_secret": f"{p.payment_id}_secret_sandbox",
        "confirmation_method": "automatic",
        "created": int(p.created_at.timestamp()),
        "currency": p.currency.lower(),
        "customer": None,
        "description": None,
        "latest_charge": (charge if expand_charge else charge_id) if charged else None,
        "last_payment_error": {"type": "card_error", "code": "card_declined", "decline_code": "generic_decline", "message": "Your card was declined."}
        if declined else None,
        "livemode": False,
        "metadata": {},
        "next_action": None,
        "payment_method": "pm_sandbox" if charged else None,
        "payment_method_types": [p.method or "card"],
        "status": status,
    }


def _refusal(provider: str, status: int, detail: str) -> tuple[int, Any]:
    if provider == "stripe":
        code = "payment_intent_unexpected_state" if status == 400 else "resource_missing" if status == 404 else "api_error"
        return status, {"error": {"type": "invalid_request_error", "code": code, "message": detail}}
    titles = {404: "Not Found", 422: "Unprocessable Entity", 500: "Internal Server Error"}
    return status, {"status": status, "title": titles.get(status, "Error"), "detail": detail}


class _Handler(BaseHTTPRequestHandler):
    server: "SandboxServer._Server"

    def log_message(self, fmt: str, *args: Any) -> None:  # quiet
        pass

    def _json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        try:
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout test): nothing to answer

    def _body(self) -> dict[str, Any]:
        length = int(self.headers.get("content-length") or 0)
        return json.loads(self.rfile.read(length) or b"{}") if length else {}

    def _send(self, status: int, body: Any, headers: dict[str, str]) -> None:
        if not isinstance(body, bytes):
            return self._json(status, body, headers)
        self.send_response(status)
        for key, value in {"Content-Length": str(len(body)), **headers}.items():
            self.send_header(key, value)
        self.end_headers()
        try:
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _shipping_call(self, method: str) -> bool:
        """Carriers and e-mail providers: a status fault answers before the work, a delay after it
        (the work is done, the answer is lost), an after-effect fault replaces the answer."""
        state = self.server.state
        path, _, query = self.path.partition("?")
        if not path.startswith(("/sendcloud/", "/postnl/", "/sendgrid/", "/acs/")):
            return False
        raw = self.rfile.read(int(self.headers.get("content-length") or 0))
        with state.lock:
            state.requests[f"{method} {path}"] = state.requests.get(f"{method} {path}", 0) + 1
        if state.latency:
            time.sleep(state.latency)
        fault = state.take_fault(f"{method} {path}") or {}  # path_contains may name the method
        if "status" in fault and not fault.get("after_effect"):
            self._fault(path, int(fault["status"]), fault.get("headers", {}))
            return True
        host, port = str(self.server.server_address[0]), self.server.server_address[1]
        answer = handle_shipping(state.shipping, method, path, query, self.headers, raw, f"http://{host}:{port}")
        if "delay" in fault:
            time.sleep(float(fault["delay"]))
        if fault.get("after_effect"):
            self._fault(path, 500, {})
        elif answer is None:
            self._json(404, {"error": "not found"})
        else:
            self._send(*answer)
        return True

    def do_POST(self) -> None:
        if self._shipping_call("POST"):
            return
        path = self.path.split("?")[0]
        if path == "/shop/webhooks":
            return self._receive_webhook()
        if path.startswith("/mollie/v2/payments/") and path.endswith("/captures"):
            return self._money_call("mollie", path.split("/")[4], "capture")
        if path.startswith("/stripe/v1/payment_intents/") and path.endswith(("/capture", "/cancel")):
            return self._money_call("stripe", path.split("/")[4], path.rsplit("/", 1)[1])
        state = self.server.state
        body = self._body()
        path = self.path.split("?")[0]
        with state.lock:
            if path == "/_sandbox/payments":
                payment = ScriptedPayment(
                    provider=body["provider"], payment_id=body["id"], statuses=list(body["statuses"]),
                    amount=body.get("amount", "10.00"), currency=body.get("currency", "EUR"),
                    method=body.get("method", "ideal" if body["provider"] == "mollie" else "card"),
                    expires_in_seconds=body.get("expires_in_seconds", 900),
                )
                if "created_at" in body:
                    payment.created_at = datetime.fromisoformat(body["created_at"])
                state.payments[payment.payment_id] = payment
                return self._json(201, {"id": payment.payment_id})
            if path.startswith("/_sandbox/payments/") and path.endswith("/status"):
                payment = state.payments[path.split("/")[3]]
                payment.statuses, payment.reads = [body["status"]], 0
                return self._json(200, {"id": payment.payment_id, "status": body["status"]})
            if path == "/_sandbox/faults":
                state.faults += [(body["path_contains"], response) for response in body["responses"]]
                return self._json(200, {"queued": len(body["responses"])})
            if path == "/_sandbox/chaos":
                state.chaos = {k: float(v) for k, v in body.items()}
                state.random = random.Random(int(body.get("seed", 0)))  # nosec B311
                return self._json(200, state.chaos)
            if path == "/_sandbox/webhooks":
                state.receiver = {"secret": body.get("secret", ""), "answers": list(body.get("answers", [])), "delay": float(body.get("delay", 2.0))}
                state.received.clear()
                return self._json(200, {})
            if path == "/_sandbox/latency":
                state.latency = float(body.get("seconds", 0))
                return self._json(200, {"seconds": state.latency})
            if path == "/_sandbox/shipping/script":
                key = "sendcloud_script" if body["carrier"] == "sendcloud" else "postnl_script"
                setattr(state.shipping, key, [list(step) for step in body["statuses"]])
                return self._json(200, {})
            if path == "/_sandbox/reset":
                for collection in (state.payments, state.faults, state.requests, state.chaos, state.idempotent):
                    collection.clear()
                state.shipping.reset()
                state.latency = 0.0
                return self._json(200, {})
        self._json(404, {"error": "unknown sandbox endpoint"})

    def _receive_webhook(self) -> None:
        """The shop's side: verifies the signature with the Standard Webhooks library, records the
        call, and answers as scripted (200 once the script is used up)."""
        state = self.server.state
        raw = self.rfile.read(int(self.headers.get("content-length") or 0))
        headers = {k.lower(): v for k, v in self.headers.items()}
        try:
            Webhook(state.receiver["secret"]).verify(raw, headers)
            verified = True
        except Exception:  # noqa: BLE001 - any failure to verify is recorded as such
            verified = False
        with state.lock:
            answer = state.receiver["answers"].pop(0) if state.receiver["answers"] else 200
            state.received.append({"id": headers.get("webhook-id"), "verified": verified, "answer": answer,
                                   "signatures": len(headers.get("webhook-signature", "").split()), "body": raw.decode("utf-8", "replace")})
        if answer == "timeout":
            time.sleep(state.receiver["delay"])
            answer = 200
        self._json(int(answer), {"received": True})

    def do_DELETE(self) -> None:
        path = self.path.split("?")[0]
        if path.startswith("/mollie/v2/payments/"):
            return self._money_call("mollie", path.rsplit("/", 1)[1], "cancel")
        self._json(404, {"error": "not found"})

    def _money_call(self, provider: str, payment_id: str, action: str) -> None:
        """Capture or void (cancel) a payment, as Mollie and Stripe do: a repeat with the same
        Idempotency-Key gets the first answer again and changes nothing."""
        state = self.server.state
        self.rfile.read(int(self.headers.get("content-length") or 0))
        key = self.headers.get("Idempotency-Key", "")
        with state.lock:
            request = f"{self.command} {self.path.split('?')[0]}"
            state.requests[request] = state.requests.get(request, 0) + 1
            if key and key in state.idempotent:
                return self._json(*state.idempotent[key])
        fault = state.take_fault(request) or {}
        if "status" in fault and not fault.get("after_effect"):
            return self._refuse(provider, int(fault["status"]), "sandbox fault", fault.get("headers", {}))
        with state.lock:
            payment = state.payments.get(payment_id)
            answer = self._apply(provider, payment, action) if payment and payment.provider == provider else None
            if answer is None:
                answer = _refusal(provider, 404, f"No payment exists with token {payment_id}.")
            if key:
                state.idempotent[key] = answer
        if "delay" in fault:
            time.sleep(float(fault["delay"]))  # done, but the answer comes too late: a timeout
        if fault.get("after_effect"):
            return self._refuse(provider, 500, "sandbox fault", {})
        self._json(*answer)

    @staticmethod
    def _apply(provider: str, payment: ScriptedPayment, action: str) -> tuple[int, Any]:
        status = payment.current()
        authorized = status in {"authorized", "requires_capture"}
        if action == "capture":
            if not authorized:
                detail = "The payment cannot be captured" if provider == "mollie" else "This PaymentIntent could not be captured because it has a status of " + status
                return _refusal(provider, 422 if provider == "mollie" else 400, detail)
            payment.statuses, payment.reads = ["paid" if provider == "mollie" else "succeeded"], 0
            capture = {"resource": "capture", "id": f"cpt_{len(payment.captures) + 1:04d}{payment.payment_id[3:]}", "mode": "test",
                       "status": "succeeded", "amount": {"value": payment.amount, "currency": payment.currency},
                       "paymentId": payment.payment_id, "createdAt": _iso(datetime.now(timezone.utc))}
            payment.captures.append(capture)
            return (201, capture) if provider == "mollie" else (200, stripe_intent(payment, "succeeded"))
        cancelable = status in {"open", "authorized", "requires_capture", "requires_payment_method", "requires_confirmation", "requires_action"}
        if not cancelable:
            return _refusal(provider, 422 if provider == "mollie" else 400, f"The payment cannot be canceled (status {status})")
        payment.statuses, payment.reads = ["canceled"], 0
        payment.cancellation_reason = "requested_by_customer"
        return (200, mollie_payment(payment, "canceled")) if provider == "mollie" else (200, stripe_intent(payment, "canceled"))

    def _refuse(self, provider: str, status: int, detail: str, headers: dict[str, str]) -> None:
        self._json(*_refusal(provider, status, detail), headers)

    def do_GET(self) -> None:
        if self._shipping_call("GET"):
            return
        state = self.server.state
        path = self.path.split("?")[0]
        if path == "/_sandbox/shipping":
            with state.lock:
                return self._json(200, state.shipping.summary())
        if path == "/_sandbox/webhooks":
            with state.lock:
                return self._json(200, {"received": list(state.received)})
        if path == "/_sandbox/requests":
            with state.lock:
                return self._json(200, dict(state.requests))
        if path.startswith("/_sandbox/payments/"):
            with state.lock:
                payment = state.payments.get(path.rsplit("/", 1)[1])
                status = payment.current() if payment else None
                captures = len(payment.captures) if payment else 0
            return self._json(200 if payment else 404, {"status": status, "captures": captures})
        with state.lock:
            state.requests[path] = state.requests.get(path, 0) + 1
        if state.latency:
            time.sleep(state.latency)
        fault = state.take_fault(path)
        after_effect = False
        if fault:
            if "delay" in fault:
                time.sleep(float(fault["delay"]))  # longer than the client's timeout: a timeout
            elif fault.get("after_effect"):
                after_effect = True  # do the work (advance the script), then fail anyway
            else:
                return self._fault(path, int(fault["status"]), fault.get("headers", {}))
        if path.startswith("/mollie/v2/payments/"):
            self._mollie(path.rsplit("/", 1)[1], after_effect)
        elif path.startswith("/stripe/v1/payment_intents/"):
            self._stripe(path.rsplit("/", 1)[1], after_effect, "latest_charge" in unquote(self.path.partition("?")[2]))
        else:
            self._json(404, {"error": "not found"})

    def _fault(self, path: str, status: int, headers: dict[str, str]) -> None:
        if path.startswith("/sendgrid/"):
            if status == 429 and not headers:  # SendGrid's 429: X-RateLimit-Reset, no Retry-After
                headers = {"X-RateLimit-Limit": "600", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(int(time.time()) + 1)}
            return self._json(status, {"errors": [{"field": None, "message": f"sandbox fault {status}"}]}, headers)
        if path.startswith("/sendcloud/"):
            return self._json(status, {"error": {"code": status, "message": f"sandbox fault {status}", "request": path}}, headers)
        if path.startswith("/stripe/"):
            kind = "rate_limit_error" if status == 429 else "api_error"
            return self._json(status, {"error": {"type": kind, "message": f"sandbox fault {status}"}}, headers)
        titles = {429: "Too Many Requests", 500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}
        return self._json(status, {"status": status, "title": titles.get(status, "Error"), "detail": "sandbox fault"}, headers)

    def _mollie(self, payment_id: str, after_effect: bool) -> None:
        auth = self.headers.get("Authorization", "")
        if not (auth.startswith("Bearer test_") or auth.startswith("Bearer live_")):
            return self._json(401, {"status": 401, "title": "Unauthorized Request", "detail": "Missing authentication, or failed to authenticate"})
        with self.server.state.lock:
            payment = self.server.state.payments.get(payment_id)
            status = payment.next_status() if payment and payment.provider == "mollie" else None
        if status is None or payment is None:
            return self._json(404, {"status": 404, "title": "Not Found", "detail": f"No payment exists with token {payment_id}."})
        if after_effect:
            return self._fault("/mollie/", 500, {})
        self._json(200, mollie_payment(payment, status))

    def _stripe(self, intent_id: str, after_effect: bool, expand_charge: bool) -> None:
        auth = self.headers.get("Authorization", "")
        try:
            user = base64.b64decode(auth.split(" ", 1)[1]).decode().split(":", 1)[0] if auth.startswith("Basic ") else ""
        except (ValueError, IndexError):
            user = ""
        if not user.startswith("sk_test_"):
            return self._json(401, {"error": {"type": "invalid_request_error", "message": "Invalid API Key provided"}})
        with self.server.state.lock:
            payment = self.server.state.payments.get(intent_id)
            status = payment.next_status() if payment and payment.provider == "stripe" else None
        if status is None or payment is None:
            return self._json(404, {"error": {"type": "invalid_request_error", "code": "resource_missing", "param": "intent", "message": f"No such payment_intent: '{intent_id}'"}})
        if after_effect:
            return self._fault("/stripe/", 500, {})
        self._json(200, stripe_intent(payment, status, expand_charge))


class SandboxServer:
    """Runs the sandbox on a loopback port in a background thread."""

    class _Server(ThreadingHTTPServer):
        daemon_threads = True
        request_queue_size = 256  # the default listen backlog of 5 refuses a busy worker pool
        state: SandboxState

    def __init__(self, port: int = 0, host: str = "127.0.0.1"):
        self._server = self._Server((host, port), _Handler)
        self._server.state = SandboxState()
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True, name="sandbox")

    @property
    def url(self) -> str:
        host, port = str(self._server.server_address[0]), self._server.server_address[1]
        return f"http://{host}:{port}"

    def start(self) -> "SandboxServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> "SandboxServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class SandboxClient:
    """Drives a sandbox's control endpoints."""

    def __init__(self, base_url: str):
        self._http = httpx.Client(base_url=base_url, timeout=10)

    def payment(self, provider: str, payment_id: str, statuses: list[str], **extra: Any) -> None:
        self._http.post("/_sandbox/payments", json={"provider": provider, "id": payment_id, "statuses": statuses, **extra}).raise_for_status()

    def set_status(self, payment_id: str, status: str) -> None:
        self._http.post(f"/_sandbox/payments/{payment_id}/status", json={"status": status}).raise_for_status()

    def faults(self, path_contains: str, *responses: dict[str, Any]) -> None:
        self._http.post("/_sandbox/faults", json={"path_contains": path_contains, "responses": list(responses)}).raise_for_status()

    def chaos(self, **rates: float) -> None:
        self._http.post("/_sandbox/chaos", json=rates).raise_for_status()

    def webhook_receiver(self, secret: str, answers: list[int | str] | None = None, delay: float = 2.0) -> None:
        """Scripts the shop's receiver at /shop/webhooks: the secret it verifies with, its next answers."""
        self._http.post("/_sandbox/webhooks", json={"secret": secret, "answers": list(answers or []), "delay": delay}).raise_for_status()

    def webhooks_received(self) -> list[dict[str, Any]]:
        return self._http.get("/_sandbox/webhooks").json()["received"]

    def captures_of(self, payment_id: str) -> int:
        """How many captures the provider made of this payment (however often it was asked)."""
        return self._http.get(f"/_sandbox/payments/{payment_id}").json()["captures"]

    def status_of(self, payment_id: str) -> str:
        """The payment's current scripted status (what the provider would answer now)."""
        return self._http.get(f"/_sandbox/payments/{payment_id}").json()["status"]

    def latency(self, seconds: float) -> None:
        self._http.post("/_sandbox/latency", json={"seconds": seconds}).raise_for_status()

    def requests(self) -> dict[str, int]:
        return self._http.get("/_sandbox/requests").json()

    def reset(self) -> None:
        self._http.post("/_sandbox/reset").raise_for_status()

    def shipping(self) -> dict[str, Any]:
        """Parcels (with their order numbers), PostNL labels per barcode, and every e-mail received."""
        return self._http.get("/_sandbox/shipping").json()

    def tracking_script(self, carrier: str, statuses: list[list[Any]]) -> None:
        """The statuses new parcels step through, one per tracking read (the last repeats)."""
        self._http.post("/_sandbox/shipping/script", json={"carrier": carrier, "statuses": statuses}).raise_for_status()
