"""Shipping: labels (local, Sendcloud, PostNL) and tracking, against Azurite and the sandbox carriers."""

from __future__ import annotations

import json
import threading
from datetime import timedelta

import pypdfium2
import pytest
import zxingcpp

from ecommerce_tasks import clock, duework
from ecommerce_tasks.orders import load_order
from ecommerce_tasks.settings import reload_settings
from ecommerce_tasks.shipping.labels import LabelMessage, create_label
from ecommerce_tasks.shipping.model import LABELS, TRACKING, load_shipment
from ecommerce_tasks.storage import REQUEST_COUNTER, read_blob
from ecommerce_tasks.work import failure_for
from tests.conftest import NOW, drain_outcomes, function, payment_ref, place, send_raw

ADDRESS = {"name": "Jane Doe", "street": "Damrak", "house_number": "12", "postal_code": "1012 LG", "city": "Amsterdam", "country": "NL"}


def paid_order(host, env, sandbox, order_id: str, address=ADDRESS, **extra) -> None:
    """An order whose Mollie payment the check finds paid: it is then due for its label."""
    payment_id = f"tr_{order_id.replace('-', '')}"
    sandbox.payment("mollie", payment_id, ["paid"])
    place(host, env, order_id, payments=[payment_ref("mollie", payment_id)], shipping_address=address, **extra)
    host.run_timer(function(host, "payments_scan"))
    host.drain(function(host, "payments_check"))
    assert load_order(order_id).order.status == "paid"


def make_labels(host) -> None:
    host.run_timer(function(host, "shipping_labels_scan"))
    host.drain(function(host, "shipping_label"))


def use(monkeypatch, **settings: str) -> None:
    for key, value in settings.items():
        monkeypatch.setenv(key, value)
    reload_settings()


def decode_pdf(pdf: bytes) -> dict[str, str]:
    """Renders the first page and reads every barcode on it: {format: text}."""
    page = pypdfium2.PdfDocument(pdf)[0]
    found = zxingcpp.read_barcodes(page.render(scale=4).to_pil())
    return {result.format.name: result.text for result in found}


def shop_events(env) -> list[dict]:
    return drain_outcomes(env.shop_outcomes_queue)


def test_local_label_is_a_pdf_with_a_decodable_code128_and_qr_code(host, env, sandbox):
    paid_order(host, env, sandbox, "ship-local")
    make_labels(host)

    shipment = load_shipment("ship-local")
    assert shipment.state == "created" and shipment.carrier == "local" and shipment.status == "label_created"
    pdf = read_blob(env.labels_container, shipment.label_blob)
    assert pdf.startswith(b"%PDF")
    codes = decode_pdf(pdf)
    assert codes["Code128"] == shipment.tracking_number
    assert codes["QRCode"] == shipment.tracking_url == f"https://track.example.com/{shipment.tracking_number}"
    shipped = [e for e in shop_events(env) if e["type"] == "order.shipped"]
    assert len(shipped) == 1 and shipped[0]["data"]["tracking_url"] == shipment.tracking_url
    assert shipment.finished  # the local carrier has nothing to track
    assert not duework.find_due(TRACKING, NOW + timedelta(days=30), 10)


def test_sendcloud_timeout_after_the_parcel_was_created_still_makes_one_label(host, env, sandbox, monkeypatch):
    use(monkeypatch, CARRIER="sendcloud")
    paid_order(host, env, sandbox, "ship-timeout")
    # The carrier creates the parcel, then answers after the client's 0.5 s timeout.
    sandbox.faults("POST /sendcloud/api/v2/parcels", {"delay": 1.0})
    make_labels(host)

    parcels = [p for p in sandbox.shipping()["parcels"] if p["order_number"] == "ship-timeout"]
    assert len(parcels) == 1
    shipment = load_shipment("ship-timeout")
    assert shipment.state == "created" and shipment.parcel_id == str(parcels[0]["id"])
    assert decode_pdf(read_blob(env.labels_container, shipment.label_blob))["Code128"] == shipment.tracking_number


def test_sendcloud_429_and_5xx_are_retried_into_one_label(host, env, sandbox, monkeypatch):
    use(monkeypatch, CARRIER="sendcloud")
    paid_order(host, env, sandbox, "ship-retry")
    sandbox.faults("POST /sendcloud/api/v2/parcels", {"status": 429, "headers": {"Retry-After": "0"}}, {"status": 503})
    make_labels(host)
    assert len([p for p in sandbox.shipping()["parcels"] if p["order_number"] == "ship-retry"]) == 1
    assert load_shipment("ship-retry").state == "created"
    assert sandbox.requests()["POST /sendcloud/api/v2/parcels"] == 3


def test_a_crash_after_the_carrier_created_the_parcel_is_recovered_by_lookup(host, env, sandbox, monkeypatch):
    use(monkeypatch, CARRIER="sendcloud", SIDE_EFFECT_LEASE_SECONDS="60")
    paid_order(host, env, sandbox, "ship-crash")
    # The first worker's blob upload dies (after the carrier bought the label): the message retries.
    import ecommerce_tasks.shipping.labels as labels

    real_put = labels.put_blob
    calls = []

    def crash_once(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise ConnectionError("worker died")
        return real_put(*args, **kwargs)

    monkeypatch.setattr(labels, "put_blob", crash_once)
    make_labels(host)
    assert len([p for p in sandbox.shipping()["parcels"] if p["order_number"] == "ship-crash"]) == 1
    assert load_shipment("ship-crash").state == "created" and len(calls) == 2


def test_duplicate_and_concurrent_label_messages_make_one_label_and_one_email(host, env, sandbox, monkeypatch):
    use(monkeypatch, CARRIER="sendcloud")
    paid_order(host, env, sandbox, "ship-dup")
    body = json.dumps({"order_id": "ship-dup"})
    for _ in range(6):
        send_raw(env.label_requests_queue, body)
    sandbox.latency(0.05)  # keep the first creator busy while the others arrive
    make_labels(host)  # the scan adds a 7th work item; the runner runs a batch of 16 concurrently
    sandbox.latency(0)
    host.drain(function(host, "notifications_send"))

    assert len([p for p in sandbox.shipping()["parcels"] if p["order_number"] == "ship-dup"]) == 1
    assert [e["type"] for e in shop_events(env)].count("order.shipped") == 1
    mails = sorted(p.name for p in (env_email_dir(env)).glob("ship-dup*.eml"))
    assert mails == ["ship-dup_order.paid.eml", "ship-dup_order.shipped.eml"]


def env_email_dir(env):
    from pathlib import Path

    return Path(env.email_outbox_dir)


@pytest.mark.parametrize(
    "address, reason",
    [
        (None, "no shipping address"),
        ({**ADDRESS, "postal_code": ""}, "postal_code is missing"),
        ({**ADDRESS, "postal_code": "12345"}, "not a valid NL postal code"),
        ({**ADDRESS, "country": "Netherlands"}, "not an ISO 3166 alpha-2 code"),
    ],
)
def test_a_bad_address_fails_once_with_the_reason_and_no_carrier_call(host, env, sandbox, monkeypatch, address, reason):
    use(monkeypatch, CARRIER="sendcloud")
    paid_order(host, env, sandbox, "ship-bad", address=address)
    sandbox.reset()
    make_labels(host)
    shipment = load_shipment("ship-bad")
    assert shipment.state == "failed" and reason in shipment.failure_reason
    failed = [e for e in shop_events(env) if e["type"] == "shipment.label_failed"]
    assert len(failed) == 1 and reason in failed[0]["data"]["reason"]
    assert not [k for k in sandbox.requests() if "sendcloud" in k]
    assert not duework.find_due(LABELS, NOW + timedelta(days=1), 10)  # not retried, not due again


def test_an_address_the_carrier_refuses_fails_once_with_its_reason(host, env, sandbox, monkeypatch):
    use(monkeypatch, CARRIER="sendcloud")
    paid_order(host, env, sandbox, "ship-nowhere", address={**ADDRESS, "city": "Nowhere"})
    make_labels(host)
    shipment = load_shipment("ship-nowhere")
    assert shipment.state == "failed" and "could not be verified" in shipment.failure_reason
    assert sandbox.requests()["POST /sendcloud/api/v2/parcels"] == 1  # 412 is permanent: one try


def test_postnl_label_uses_the_reserved_barcode(host, env, sandbox, monkeypatch):
    use(monkeypatch, CARRIER="postnl")
    paid_order(host, env, sandbox, "ship-postnl")
    sandbox.faults("POST /postnl/shipment/v2_2/label", {"status": 500})
    make_labels(host)
    shipment = load_shipment("ship-postnl")
    assert shipment.state == "created" and shipment.tracking_number == shipment.reserved["barcode"]
    assert shipment.tracking_url.endswith(f"{shipment.tracking_number}-NL-1012LG")
    assert sandbox.requests()["GET /postnl/shipment/v1_1/barcode"] == 1  # reserved once, kept across the retry
    assert decode_pdf(read_blob(env.labels_container, shipment.label_blob))["Code128"] == shipment.tracking_number


def test_orders_that_do_not_ship_or_are_not_paid_get_no_label(host, env, sandbox):
    paid_order(host, env, sandbox, "ship-digital", ships=False)
    make_labels(host)
    assert load_shipment("ship-digital") is None
    place(host, env, "ship-unpaid", shipping_address=ADDRESS)
    assert create_label(LabelMessage(order_id="ship-unpaid")).startswith("nothing to ship")


def track(host, days: float, monkeypatch) -> None:
    monkeypatch.setattr(clock, "utcnow", lambda: NOW + timedelta(days=days))
    host.run_timer(function(host, "shipping_tracking_scan"))
    host.drain(function(host, "shipping_track"))


def test_tracking_follows_the_carrier_to_delivery_and_stops(host, env, sandbox, monkeypatch):
    use(monkeypatch, CARRIER="sendcloud")
    sandbox.tracking_script("sendcloud", [[1000, "Ready to send"], [3, "En route"], [3, "En route"], [11, "Delivered"]])
    paid_order(host, env, sandbox, "track-1")
    make_labels(host)
    for day in (1, 2, 3, 4, 5):
        track(host, day, monkeypatch)
    shipment = load_shipment("track-1")
    assert shipment.status == "delivered" and shipment.finished
    assert [h["code"] for h in shipment.history] == ["1000", "3", "11"]
    types = [e["type"] for e in shop_events(env)]
    assert types.count("shipment.in_transit") == 1 and types.count("order.delivered") == 1
    assert not duework.find_due(TRACKING, NOW + timedelta(days=60), 10)  # finished: no more checks
    reads = sandbox.requests()["GET /sendcloud/api/v2/parcels/" + shipment.parcel_id]
    track(host, 30, monkeypatch)
    assert sandbox.requests()["GET /sendcloud/api/v2/parcels/" + shipment.parcel_id] == reads


def test_delivery_problems_are_told_and_silent_shipments_flagged(host, env, sandbox, monkeypatch):
    use(monkeypatch, CARRIER="sendcloud", TRACKING_SILENT_DAYS="3")
    sandbox.tracking_script("sendcloud", [[1000, "Ready to send"], [80, "Address not found"], [3, "En route"]])
    paid_order(host, env, sandbox, "track-2")
    make_labels(host)
    track(host, 1, monkeypatch)  # 1000: unchanged
    track(host, 2, monkeypatch)  # 80: delivery problem
    track(host, 3, monkeypatch)  # 3: in transit again, then silence
    for day in (4, 5, 6, 7, 8):
        track(host, day, monkeypatch)
    shipment = load_shipment("track-2")
    assert shipment.stalled and shipment.status == "in_transit" and not shipment.finished
    types = [e["type"] for e in shop_events(env)]
    assert types.count("order.delivery_problem") == 1 and types.count("shipment.stalled") == 1


def test_concurrent_tracking_checks_record_each_change_once(host, env, sandbox, monkeypatch):
    use(monkeypatch, CARRIER="sendcloud")
    sandbox.tracking_script("sendcloud", [[1000, "Ready to send"], [3, "En route"]])
    paid_order(host, env, sandbox, "track-3")
    make_labels(host)
    body = json.dumps({"order_id": "track-3"})
    for _ in range(5):
        send_raw(env.tracking_queue, body)
    host.drain(function(host, "shipping_track"))
    shipment = load_shipment("track-3")
    assert [h["code"] for h in shipment.history] == ["1000", "3"]
    assert [e["type"] for e in shop_events(env)].count("shipment.in_transit") == 1


def test_malformed_shipping_messages_are_rejected_and_others_still_run(host, env, sandbox, monkeypatch):
    paid_order(host, env, sandbox, "ship-ok")
    send_raw(env.label_requests_queue, "not json")
    send_raw(env.label_requests_queue, {"order_id": "../etc"})
    send_raw(env.label_requests_queue, {"order_id": "no-such-order"})
    make_labels(host)
    assert load_shipment("ship-ok").state == "created"
    assert "invalid LabelMessage" in failure_for(env.label_requests_queue, "not json")["reason"]
    assert "unknown order" in failure_for(env.label_requests_queue, json.dumps({"order_id": "no-such-order"}))["reason"]


def test_storage_requests_per_label_and_tracking_update(host, env, sandbox, monkeypatch, patient_http):
    use(monkeypatch, CARRIER="sendcloud")
    sandbox.tracking_script("sendcloud", [[1000, "Ready to send"], [3, "En route"]])
    orders = [f"cost-{i}" for i in range(20)]
    for order_id in orders:
        paid_order(host, env, sandbox, order_id)
    REQUEST_COUNTER.reset()
    make_labels(host)
    per_label = REQUEST_COUNTER.total() / len(orders)
    REQUEST_COUNTER.reset()
    track(host, 1, monkeypatch)  # unchanged (1000): read, reschedule
    per_unchanged = REQUEST_COUNTER.total() / len(orders)
    REQUEST_COUNTER.reset()
    track(host, 2, monkeypatch)  # changed (3): read, write, publish, reschedule
    per_change = REQUEST_COUNTER.total() / len(orders)
    print(f"storage requests per order: label {per_label:.2f}, tracking check {per_unchanged:.2f}, tracking change {per_change:.2f}")
    assert all(load_shipment(o).status == "in_transit" for o in orders)
    assert per_label <= 16 and per_unchanged <= 8 and per_change <= 12


def test_concurrent_label_workers_in_threads_never_buy_two_labels(env, sandbox, monkeypatch):
    """Without the runner: 8 threads call the worker for one order at once, as 8 messages."""
    from ecommerce_tasks.intake import ShopIntake
    from ecommerce_tasks.work import process
    from tests.conftest import order_event

    use(monkeypatch, CARRIER="sendcloud")
    sandbox.payment("mollie", "tr_threads1", ["paid"])
    ShopIntake().apply(order_event("ship-threads", payments=[payment_ref("mollie", "tr_threads1")], shipping_address=ADDRESS))
    from ecommerce_tasks.payments.check import CheckMessage, check_payment

    check_payment(CheckMessage(order_id="ship-threads"))
    sandbox.latency(0.05)
    results: list[str] = []

    def worker(n: int) -> None:
        process("labels", f"message-{n}", "{}", 1, lambda _: results.append(create_label(LabelMessage(order_id="ship-threads"))))

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    sandbox.latency(0)
    assert results.count("created") == 1 and set(results) <= {"created", "busy", "already created"}
    assert len([p for p in sandbox.shipping()["parcels"] if p["order_number"] == "ship-threads"]) == 1


def test_postnl_tracking_reaches_delivered(host, env, sandbox, monkeypatch):
    use(monkeypatch, CARRIER="postnl")
    paid_order(host, env, sandbox, "track-postnl")
    make_labels(host)
    for day in (1, 2, 3):
        track(host, day, monkeypatch)
    shipment = load_shipment("track-postnl")
    assert [h["status"] for h in shipment.history] == ["label_created", "in_transit", "delivered"]
    assert shipment.finished


def test_dry_run_previews_labels_and_changes_nothing(host, env, sandbox):
    import subprocess
    import sys

    paid_order(host, env, sandbox, "dry-ok")
    paid_order(host, env, sandbox, "dry-bad", address={**ADDRESS, "city": ""})
    result = subprocess.run(
        [sys.executable, "-m", "autopilot_local", "run", "--once", "--dry-run", "--task", "shipping"], capture_output=True, text=True, check=True
    )
    assert "dry-ok: would create a local label" in result.stdout
    assert "dry-bad: would fail: city is missing" in result.stdout
    assert load_shipment("dry-ok") is None and load_shipment("dry-bad") is None
