"""The demo: Azurite, the sandbox providers, a sample shop, every task through the local runner.

Run it with `bash scripts/demo.sh` (or `autopilot demo` once set up).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
import threading
import time
from collections import Counter
from datetime import datetime, timedelta, timezone

from typing import Any
from urllib.parse import unquote

import httpx

from autopilot_local.devtools import Azurite, local_environment
from ecommerce_tasks.http import close_http_client
from ecommerce_tasks.intake import ShopIntake
from ecommerce_tasks.cleanup.model import load_checkout
from ecommerce_tasks.leads import leads_table
from ecommerce_tasks.inventory.model import ledger, load_product
from ecommerce_tasks.orders import load_order
from autopilot_local.runner import HostConfig, LocalHost
from autopilot_sandbox import SandboxClient, SandboxServer
from ecommerce_tasks.settings import reload_settings
from ecommerce_tasks.shipping.model import load_shipment
from ecommerce_tasks.storage import REQUEST_COUNTER, enqueue, queue_client, read_blob
from ecommerce_tasks.work import failures_table

NOW = datetime.now(timezone.utc)
DEMO_WEBHOOK_SECRET = "whsec_ZGVtby1zaG9wLXdlYmhvb2stc2VjcmV0LW5vdC1hLXNlY3JldA=="  # noqa: S105 - the demo receiver's own: opens nothing

# order id -> (situation, provider, payment script, placed minutes ago, sandbox extras)
SHOP: dict[str, tuple[str, str, list[str] | None, float, dict[str, Any]]] = {
    "demo-1001": ("iDEAL paid, customer closed the browser", "mollie", ["paid"], 25, {}),
    "demo-1002": ("iDEAL abandoned on the bank page", "mollie", ["expired"], 30, {}),
    "demo-1003": ("first attempt expired, second paid", "mollie", None, 40, {}),
    "demo-1004": ("card paid (Stripe); address lacks a house number", "stripe", ["succeeded"], 15, {}),
    "demo-1005": ("card declined, never retried; window over", "stripe", ["requires_payment_method"], 73 * 60, {}),
    "demo-1006": ("bank transfer still open (expires in 12 days)", "mollie", ["open"], 60, {"expires_in_seconds": 12 * 86400, "method": "banktransfer"}),
    "demo-1007": ("pay later: authorized, shipped, then captured", "mollie", ["authorized"], 45, {"method": "klarnapaylater", "expires_in_seconds": None}),
    "demo-1008": ("iDEAL failed at the bank", "mollie", ["failed"], 20, {}),
    "demo-1009": ("paid while waiting: the webhook tells us", "mollie", ["open"], 5, {}),
    "demo-1010": ("bank transfer paid after the order was cancelled", "mollie", ["open"], 73 * 60, {"expires_in_seconds": 12 * 86400, "method": "banktransfer"}),
    "demo-1011": ("provider answers 429 then 503 first", "mollie", ["paid"], 25, {}),
    "demo-1012": ("first attempt unknown to Mollie, second paid", "mollie", None, 35, {}),
    "demo-1013": ("names the payment of demo-1001 (a shop bug)", "mollie", None, 20, {}),
}


def _order_event(order_id: str, minutes_ago: float, payments: list[dict]) -> dict:
    return {
        "type": "order.placed",
        "event_id": f"evt-{order_id}",
        "order_id": order_id,
        "placed_at": (NOW - timedelta(minutes=minutes_ago)).isoformat(),
        "amount": "42.50",
        "currency": "EUR",
        "customer": {"email": f"customer.{order_id}@example.com", "name": "Sam Example"},
        "lines": [{"sku": "MUG-BLUE", "quantity": 2, "name": "Blue mug"}, {"sku": "TEA-50", "quantity": 1, "name": "Tea, 50 bags"}],
        "payments": payments,
        "shipping_address": ADDRESSES.get(order_id, ADDRESS),
        "weight_grams": 1200,
    }


ADDRESS = {"name": "Sam Example", "street": "Damrak", "house_number": "12", "postal_code": "1012 LG", "city": "Amsterdam", "country": "NL"}
# A paid order whose address the shop took without a house number: its label fails once, clearly.
ADDRESSES = {"demo-1004": {**ADDRESS, "house_number": ""}}


def _seed(sandbox: SandboxClient) -> None:
    intake = ShopIntake()
    for order_id, (_, provider, script, minutes_ago, extras) in SHOP.items():
        number = order_id.split("-")[1]
        if order_id == "demo-1003":
            sandbox.payment("mollie", f"tr_{number}a", ["expired"], amount="42.50")
            sandbox.payment("mollie", f"tr_{number}b", ["paid"], amount="42.50")
            payments = [_ref("mollie", f"tr_{number}a", minutes_ago - 2), _ref("mollie", f"tr_{number}b", minutes_ago - 20)]
        elif order_id == "demo-1012":
            # tr_1012a is not in the sandbox: Mollie answers 404 (say, a test key asked about a live payment)
            sandbox.payment("mollie", f"tr_{number}b", ["paid"], amount="42.50")
            payments = [_ref("mollie", f"tr_{number}a", minutes_ago - 2), _ref("mollie", f"tr_{number}b", minutes_ago - 20)]
        elif order_id == "demo-1013":
            payments = [_ref("mollie", "tr_1001x", minutes_ago - 3)]  # one payment pays one order: demo-1001's
        else:
            payment_id = f"{'tr' if provider == 'mollie' else 'pi'}_{number}x"
            sandbox.payment(provider, payment_id, script or ["open"], amount="42.50", **extras)
            payments = [_ref(provider, payment_id, max(minutes_ago - 3, 3))]
        intake.send(_order_event(order_id, minutes_ago, payments))
    sandbox.faults("tr_1011x", {"status": 429}, {"status": 503})
    # A shop bug: an event that breaks the contract. It is rejected with a reason, nothing else stops.
    enqueue(os.environ["SHOP_EVENTS_QUEUE"], {"type": "order.placed", "order_id": "demo-9999", "amount": "lots"})


PRODUCTS = {
    "MUG-BLUE": {"name": "Blue mug", "low_stock_threshold": 5},
    "TEA-50": {"name": "Tea, 50 bags", "low_stock_threshold": 3},
    "POT-RED": {"name": "Red teapot", "low_stock_threshold": 1},
}


def _stock(event_id: str, sku: str, kind: str, minutes_ago: float, **fields) -> dict:
    occurred = (NOW - timedelta(minutes=minutes_ago)).isoformat()
    return {"type": "stock.changed", "event_id": event_id, "sku": sku, "kind": kind, "occurred_at": occurred, **fields}


def _seed_stock() -> None:
    intake = ShopIntake()
    for sku, settings in PRODUCTS.items():
        intake.send({"type": "product.upserted", "event_id": f"p-{sku}", "sku": sku, **settings})
    events = [
        _stock("s-mug-in", "MUG-BLUE", "delivery_received", 5 * 24 * 60, quantity=30),
        _stock("s-tea-in", "TEA-50", "delivery_received", 5 * 24 * 60, quantity=20),
        _stock("s-pot-in", "POT-RED", "delivery_received", 5 * 24 * 60, quantity=1),
    ]
    for order_id, (_, _, _, minutes_ago, _) in SHOP.items():  # the shop reserves stock at checkout
        events.append(_stock(f"s-{order_id}-mug", "MUG-BLUE", "reserved", minutes_ago, quantity=2, order_id=order_id))
        events.append(_stock(f"s-{order_id}-tea", "TEA-50", "reserved", minutes_ago, quantity=1, order_id=order_id))
    events += [
        _stock("s-mug-return", "MUG-BLUE", "return_received", 50, quantity=1, resellable=True),
        _stock("s-mug-broken", "MUG-BLUE", "damaged", 40, quantity=2, note="dropped in the warehouse"),
        _stock("s-tea-count", "TEA-50", "recount", 30, counted=19),
    ]
    for event in events:
        intake.send(event)
        if event["event_id"] == "s-mug-return":
            intake.send(event)  # the warehouse system sends one event twice: applied once


# checkout id -> (situation, hours idle, contact e-mail, consent, lines, payment status)
CHECKOUTS = {
    "cart-2001": ("abandoned, contact and consent", 30, "ann@example.com", True, True, None),
    "cart-2002": ("abandoned, no consent; then erased on request", 30, "bob@example.com", False, True, None),
    "cart-2003": ("abandoned, no contact details", 30, None, False, True, None),
    "cart-2004": ("empty cart, 3 hours idle", 3, None, False, False, None),
    "cart-2005": ("abandoned at the bank page (authorized)", 30, "cy@example.com", True, True, "authorized"),
    "cart-2006": ("still shopping (1 hour idle)", 1, "di@example.com", True, True, None),
    "cart-2007": ("became order demo-1001", 30, "ed@example.com", True, True, None),
}


def _seed_checkouts() -> None:
    intake = ShopIntake()
    for checkout_id, (_, hours, email, consent, lines, payment) in CHECKOUTS.items():

        def at(offset: float, idle: float = hours) -> str:
            return (NOW - timedelta(hours=idle + offset)).isoformat()

        base = {"type": "checkout.updated", "checkout_id": checkout_id}
        intake.send({**base, "event_id": f"{checkout_id}-cart", "step": "cart", "occurred_at": at(0.5), "currency": "EUR",
                     "cart_url": f"https://shop.example/cart/{checkout_id}"})
        if lines:
            intake.send({**base, "event_id": f"{checkout_id}-line", "step": "line", "occurred_at": at(0.4),
                         "line": {"sku": "MUG-BLUE", "quantity": 2, "unit_price": "12.50", "name": "Blue mug"}})
        if email:
            intake.send({**base, "event_id": f"{checkout_id}-address", "step": "address", "occurred_at": at(0.2),
                         "email": email, "name": "Sam Example", "marketing_consent": consent})
        if payment:
            intake.send({**base, "event_id": f"{checkout_id}-pay", "step": "payment", "occurred_at": at(0),
                         "payment": {"provider": "mollie", "payment_id": "tr_2005x", "status": payment}})
    intake.send({"type": "checkout.completed", "event_id": "cart-2007-done", "checkout_id": "cart-2007", "order_id": "demo-1001",
                 "occurred_at": NOW.isoformat()})


def _on_sale(sku: str) -> bool:
    product = load_product(sku)[0]
    return bool(product and product.available)


def _ref(provider: str, payment_id: str, minutes_ago: float) -> dict:
    return {"provider": provider, "payment_id": payment_id, "created_at": (NOW - timedelta(minutes=minutes_ago)).isoformat()}


def _describe(order) -> str:
    if order.status == "paid":
        text = f"paid {order.paid_amount} via {order.paid_method} ({order.paid_payment_id})"
        if order.captured_at:
            text += ", authorized first and captured when it shipped"
    elif order.status == "authorized":
        text = f"authorized {order.paid_amount} via {order.paid_method}: ships, then is captured"
    elif order.status == "cancelled":
        text = f"cancelled: {order.cancel_reason}; stock release recorded"
    else:
        text = "awaiting payment; checked again later"
    if order.needs_review:
        text += f"  ** review: {order.review_reason}"
    return text


def run_demo() -> int:
    tag = "demo" + datetime.now().strftime("%H%M%S")
    print("Starting Azurite and the sandbox payment providers ...")
    with Azurite(), SandboxServer() as sandbox_server:
        output = Path(".demo") / tag
        os.environ.update(local_environment(tag, sandbox_server.url, email_dir=str(output / "emails")))
        os.environ.update({
            "HTTP_BACKOFF_BASE_SECONDS": "0.05",
            "LOCAL_FUNCTION_KEY": "demo-function-key",
            "CARRIER": "sendcloud",  # the sandbox Sendcloud: parcels, PDF labels, tracking that advances
            "TRACKING_INTERVAL_MINUTES": "0",  # every run asks the carrier again (hours apart in production)
            "EMAIL_PROVIDER": "local",  # each e-mail becomes an .eml file
            # The shop also gets every event as a signed webhook, at the sandbox's receiver.
            "SHOP_WEBHOOK_URL": f"{sandbox_server.url}/shop/webhooks",
            "SHOP_WEBHOOK_SECRET": DEMO_WEBHOOK_SECRET,
            "WEBHOOK_RETRY_SECONDS": "0,0,0,0,0",  # the day-long schedule, squeezed into the demo's runs
        })
        reload_settings()
        close_http_client()
        sandbox = SandboxClient(sandbox_server.url)
        sandbox.webhook_receiver(DEMO_WEBHOOK_SECRET, answers=[503, 503, 503])  # the shop is down for its first three calls
        host = LocalHost(config=HostConfig.load().with_overrides(visibility_timeout=0))

        print(f"Seeding a sample shop: {len(SHOP)} orders and one malformed event, sent as base64 JSON to the intake queue")
        _seed(sandbox)
        _seed_stock()
        _seed_checkouts()
        REQUEST_COUNTER.reset()
        started = time.perf_counter()
        first = host.run_once()
        print(f"Run 1 (intake, payment scan, checks): {_stats(first)}")

        print("Meanwhile: the customer of demo-1009 pays, and demo-1010's bank transfer arrives; both providers call the webhook")
        sandbox.set_status("tr_1009x", "paid")
        sandbox.set_status("tr_1010x", "paid")
        server = host.http_server(0)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{server.server_address[1]}/api/payments/webhook/mollie"
        for payment_id in ("tr_1009x", "tr_1010x"):
            answer = httpx.post(url, data={"id": payment_id}, headers={"x-functions-key": "demo-function-key"})
            print(f"  POST /api/payments/webhook/mollie id={payment_id} -> {answer.status_code}")
        unauthenticated = httpx.post(url, data={"id": "tr_1009x"})
        print(f"  the same call without the function key -> {unauthenticated.status_code}")
        print("Meanwhile: a customer buys the last red teapot")
        ShopIntake().send(_stock("s-pot-sold", "POT-RED", "reserved", 0, quantity=1, order_id="shop-7001"))
        second = host.run_once()
        server.shutdown()
        server.server_close()
        elapsed = time.perf_counter() - started
        print(f"Run 2 (webhook checks, stock released by cancellations, the teapot sold): {_stats(second)}")
        print(f"  POT-RED is {'on sale' if _on_sale('POT-RED') else 'sold out: no longer on sale'}")
        print("Then: a supplier delivers 6 red teapots")
        ShopIntake().send(_stock("s-pot-delivery", "POT-RED", "delivery_received", 0, quantity=6))
        print("And: bob@example.com asks the shop to erase his data")
        ShopIntake().send({"type": "customer.erasure_requested", "event_id": "gdpr-1", "email": "bob@example.com", "requested_at": NOW.isoformat()})
        third = host.run_once()
        print(f"Run 3 (the delivery, the erasure, parcels on their way): {_stats(third)}")
        print(f"  POT-RED is {'on sale again' if _on_sale('POT-RED') else 'still sold out'}")
        for run in (4, 5):
            later = host.run_once()
            print(f"Run {run} (later: the carrier moves and delivers the parcels): {_stats(later)}")

        _report(os.environ["SHOP_OUTCOMES_QUEUE"], os.environ["SHOP_EVENTS_QUEUE"], elapsed)
        _report_webhooks(sandbox)
        _report_shipping(output)
        close_http_client()
    return 0


def _checkout_outcome(checkout_id: str) -> str:
    from azure.core.exceptions import ResourceNotFoundError

    rows = load_checkout(checkout_id)
    if [row["RowKey"] for row in rows] == ["completed"]:
        return "completed: its steps are gone; a marker stays a day, so late steps cannot make it a lead"
    if rows:
        return f"untouched ({len(rows)} rows kept)"
    try:
        lead = leads_table().get_entity(checkout_id, "lead")
    except ResourceNotFoundError:
        return "gone: no checkout rows, no lead"
    reminder = {"sent": "its one reminder e-mailed", "due": "one reminder due"}.get(lead["reminder"], "no reminder (no consent)")
    return f"archived as a lead, {lead['value']} {lead['currency']}, last step {lead['last_step']}; {reminder}"


def _stats(report) -> str:
    return ", ".join(f"{name} {s.succeeded} ok/{s.failed} failed/{s.poisoned} poisoned" for name, s in report.queues.items() if s.processed)


def _report(outcomes_queue: str, events_queue: str, elapsed: float) -> None:
    requests = REQUEST_COUNTER.total()
    print()
    print("What happened to each order")
    print("-" * 118)
    print(f"{'order':<10} {'situation':<50} outcome")
    print("-" * 118)
    for order_id, (situation, *_rest) in SHOP.items():
        order = load_order(order_id).order
        print(f"{order_id:<10} {situation:<50} {_describe(order) if order else 'MISSING'}")
    print("-" * 118)

    print()
    print("Stock (every level equals the sum of its ledger)")
    print("-" * 118)
    print(f"{'product':<10} {'on hand':>8} {'reserved':>9} {'sellable':>9} {'selling':>8} {'ledger':>7}  ledger adds up")
    for sku in PRODUCTS:
        product, _ = load_product(sku)
        if product is None:
            print(f"{sku:<10} MISSING")
            continue
        rows = ledger(sku)
        adds_up = product.on_hand == sum(r["delta_on_hand"] for r in rows) and product.reserved == sum(r["delta_reserved"] for r in rows)
        print(f"{sku:<10} {product.on_hand:>8} {product.reserved:>9} {product.sellable:>9} {'yes' if product.available else 'NO':>8} {len(rows):>7}  {'yes' if adds_up else 'NO'}")
    print("-" * 118)

    print()
    print("Checkouts")
    print("-" * 118)
    for checkout_id, (situation, *_rest) in CHECKOUTS.items():
        print(f"{checkout_id:<10} {situation:<50} {_checkout_outcome(checkout_id)}")
    print("-" * 118)

    client = queue_client(outcomes_queue)
    events = []
    while batch := list(client.receive_messages(messages_per_page=32, max_messages=32, visibility_timeout=60)):
        events += [json.loads(message.content) for message in batch]
    counts = Counter(e["type"] for e in events)
    print("Events published for the shop on the outbound queue: " + ", ".join(f"{n} {t}" for t, n in sorted(counts.items())))
    for rejected in failures_table().query_entities("PartitionKey eq @q", parameters={"q": events_queue}):
        print(f"Rejected shop event (recorded with its reason): {rejected['reason'][:160]}")
    print(f"Storage requests for all of this: {requests} ({requests / len(SHOP):.1f} per order, intake included); {elapsed:.1f} s")


def _report_webhooks(sandbox: SandboxClient) -> None:
    received = sandbox.webhooks_received()
    events = {call["id"] for call in received}
    refused = [call["id"] for call in received if call["answer"] != 200]
    late = sorted({i for i in refused if any(c["id"] == i and c["answer"] == 200 for c in received)})
    print(f"Webhooks to the shop (signed, Standard Webhooks): {len(events)} events in {len(received)} calls; "
          f"every signature valid: {'yes' if all(call['verified'] for call in received) else 'NO'}")
    print(f"  the shop was down for its first {len(refused)} calls (503); {len(late)} event(s) came again and were delivered late: {', '.join(late)}")


def _report_shipping(output: Path) -> None:
    from ecommerce_tasks.settings import get_settings

    labels = output / "labels"
    labels.mkdir(parents=True, exist_ok=True)
    print()
    print("Shipping (sandbox Sendcloud)")
    print("-" * 118)
    for order_id in SHOP:
        shipment = load_shipment(order_id)
        if shipment is None:
            continue
        if shipment.state == "created":
            path = labels / f"{order_id}.pdf"
            path.write_bytes(read_blob(get_settings().labels_container, shipment.label_blob or ""))
            steps = " > ".join(f"{h['code']} {h['status'] or ''}".strip() for h in shipment.history)
            print(f"{order_id:<10} {shipment.tracking_number:<17} {shipment.status:<14} {steps}; label {path}")
        else:
            print(f"{order_id:<10} label {shipment.state}: {shipment.failure_reason}")
    print("-" * 118)
    mails = sorted((output / "emails").glob("*.eml"))

    def kind(stem: str) -> str:  # the mailbox names a file by its key, <order>:<event type>[:<discriminator>], encoded
        return unquote(stem.replace("_", ":")).split(":")[1]

    kinds = Counter(kind(m.stem) for m in mails)
    print(f"E-mails to customers ({len(mails)}, one per order or cart and event, in {output / 'emails'}): "
          + ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items())))
