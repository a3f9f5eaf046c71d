"""The order both telemetry probes run through the app: paid at Mollie, with a customer whose
e-mail address and name must never leave the process unmasked."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

EMAIL, NAME = "jane.doe@example.com", "Jane Doe"


def place_paid_order(sandbox_url: str, order_id: str, payment_id: str) -> None:
    from autopilot_sandbox import SandboxClient
    from ecommerce_tasks.intake import ShopIntake

    SandboxClient(sandbox_url).payment("mollie", payment_id, ["paid"])
    now = datetime.now(timezone.utc)
    ShopIntake().apply({
        "type": "order.placed", "event_id": f"e-{order_id}", "order_id": order_id, "placed_at": (now - timedelta(minutes=30)).isoformat(),
        "amount": "10.00", "currency": "EUR", "customer": {"email": EMAIL, "name": NAME},
        "lines": [{"sku": "SKU-1", "quantity": 1}],
        "payments": [{"provider": "mollie", "payment_id": payment_id, "created_at": (now - timedelta(minutes=20)).isoformat()}],
        "shipping_address": {"name": NAME, "street": "Damrak", "house_number": "1", "postal_code": "1012 LG", "city": "Amsterdam", "country": "NL"},
    })
