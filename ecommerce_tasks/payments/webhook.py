"""Provider webhooks: take only the payment id from the call, trust nothing else, enqueue a check."""

from __future__ import annotations

import json
from urllib.parse import parse_qs

from ..providers.payments import PAYMENT_ID_PATTERNS
from ..settings import get_settings
from ..storage import enqueue


class BadWebhook(ValueError):
    pass


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
        except (ValueError, KeyError, TypeError, AttributeError):
            raise BadWebhook("not a Stripe event with a PaymentIntent") from None
    else:
        raise BadWebhook(f"unknown provider {provider!r}")
    if not PAYMENT_ID_PATTERNS[provider].match(payment_id or ""):
        raise BadWebhook(f"no valid {provider} payment id in the call")
    return payment_id


def accept_webhook(provider: str, body: bytes, content_type: str) -> str:
    payment_id = payment_id_from_webhook(provider, body, content_type)
    enqueue(get_settings().payment_checks_queue, {"provider": provider, "payment_id": payment_id})
    return payment_id
