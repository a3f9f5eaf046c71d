"""Provider webhooks: take only the payment id from the call, trust nothing else, enqueue a check."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from urllib.parse import parse_qs

from ..providers.payments import PAYMENT_ID_PATTERNS
from ..settings import get_settings
from ..storage import enqueue


class BadWebhook(ValueError):
    pass


STRIPE_TOLERANCE_SECONDS = 300  # Stripe's own libraries default to five minutes


def verify_stripe_signature(body: bytes, header: str, secret: str, now: float | None = None) -> None:
    """Stripe signs `<t>.<body>` with the endpoint secret (HMAC-SHA256, hex) and sends
    `Stripe-Signature: t=<unix time>,v1=<signature>[,v1=...]` (two v1 while a secret rolls)."""
    pairs = [part.split("=", 1) for part in header.split(",") if "=" in part]
    timestamps = [v for k, v in pairs if k.strip() == "t"]
    signatures = [v.strip() for k, v in pairs if k.strip() == "v1"]
    if len(timestamps) != 1 or not timestamps[0].strip().isdigit() or not signatures:
        raise BadWebhook("missing or malformed Stripe-Signature")
    timestamp = int(timestamps[0])
    if abs((now if now is not None else time.time()) - timestamp) > STRIPE_TOLERANCE_SECONDS:
        raise BadWebhook("Stripe-Signature timestamp outside the tolerance")
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    if not any(hmac.compare_digest(expected.encode(), candidate.encode("ascii", "replace")) for candidate in signatures):
        raise BadWebhook("Stripe-Signature does not match")


def payment_id_from_webhook(provider: str, body: bytes, content_type: str) -> str:
    if provider == "mollie":
        # Mollie posts a form `id=tr_...`: no status, no signature. The check re-fetches the payment.
        values = parse_qs(body.decode("utf-8", "replace")).get("id", [])
        payment_id = values[0] if values else ""
    elif provider == "stripe":
        try:
            event = json.loads(body)
            obj = event["data"]["object"]
            payment_id = obj["id"] if obj.get("object", "payment_intent") == "payment_intent" else ""
        except (ValueError, KeyError, TypeError, AttributeError, RecursionError):
            raise BadWebhook("not a Stripe event with a PaymentIntent") from None
        if not isinstance(payment_id, str):
            raise BadWebhook("not a Stripe event with a PaymentIntent")
    else:
        raise BadWebhook(f"unknown provider {provider!r}")
    if not PAYMENT_ID_PATTERNS[provider].match(payment_id or ""):
        raise BadWebhook(f"no valid {provider} payment id in the call")
    return payment_id


def accept_webhook(provider: str, body: bytes, content_type: str, headers: dict[str, str] | None = None) -> str:
    """Checks the call (signature where the provider signs), then queues a check of the payment."""
    secret = get_settings().stripe_webhook_secret
    if provider == "stripe" and secret:
        verify_stripe_signature(body, (headers or {}).get("stripe-signature", ""), secret)
    payment_id = payment_id_from_webhook(provider, body, content_type)
    enqueue(get_settings().payment_checks_queue, {"provider": provider, "payment_id": payment_id})
    return payment_id
