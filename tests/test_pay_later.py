"""Pay later and manual capture, over real HTTP (the sandbox's Mollie and Stripe) and Azurite:
authorized orders ship, are captured once when they do, and end paid; lapses, alerts, the
shop's cancellation and refused captures."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from autopilot_local.runner import HostConfig, LocalHost
from ecommerce_tasks import context
from ecommerce_tasks.orders import load_order, orders_table
from ecommerce_tasks.payments.capture import capture_order, on_shipment_event
from ecommerce_tasks.providers.payments import payment_providers
from ecommerce_tasks.settings import get_settings, reload_settings
from ecommerce_tasks.storage import take_all
from ecommerce_tasks.work import failure_for
from tests.conftest import drain_outcomes, function, payment_ref, place, send_raw

ADDRESS = {"name": "Sam Later", "street": "Damrak", "house_number": "12", "postal_code": "1012 LG", "city": "Amsterdam", "country": "NL"}
HELD = {"mollie": "authorized", "stripe": "requires_capture"}


def authorized_order(host, env, sandbox, order_id: str, provider: str = "mollie", **extra) -> str:
    payment_id = ("tr_" if provider == "mollie" else "pi_") + order_id.replace("-", "") + "x"
    sandbox.payment(provider, payment_id, [HELD[provider]], method="klarnapaylater" if provider == "mollie" else "card", **extra)
    place(host, env, order_id, payments=[payment_ref(provider, payment_id)], shipping_address=ADDRESS)
    host.run_timer(function(host, "payments_scan"))
    host.drain(function(host, "payments_check"))
    return payment_id


def ship(host):
    host.run_timer(function(host, "shipping_labels_scan"))
    host.drain(function(host, "shipping_label"))


def checks(host):
    return host.drain(function(host, "payments_check"))


def types(env, order_id):
    return [e["type"] for e in drain_outcomes(env.shop_outcomes_queue) if e.get("order_id") == order_id]


@pytest.mark.parametrize("provider", ["mollie", "stripe"])
def test_an_authorized_order_ships_is_captured_with_its_label_and_ends_paid(host, env, sandbox, provider):
    payment_id = authorized_order(host, env, sandbox, f"later-{provider}", provider)
    order = load_order(f"later-{provider}").order
    assert (order.status, order.authorized_payment_id, order.paid_at) == ("authorized", payment_id, None)
    ship(host)  # the label is made: CAPTURE_ON=label puts the capture on the payment queue
    checks(host)
    order = load_order(f"later-{provider}").order
    assert order.status == "paid" and order.captured_at is not None and sandbox.captures_of(payment_id) == 1
    events = [e for e in drain_outcomes(env.shop_outcomes_queue) if e.get("order_id") == f"later-{provider}"]
    assert [e["type"] for e in events] == ["order.authorized", "order.shipped", "order.paid"]
    assert events[2]["data"]["captured_at"] == order.captured_at
    host.drain(function(host, "notifications_send"))
    mails = sorted(p.name for p in __import__("pathlib").Path(env.email_outbox_dir).glob(f"later-{provider}*.eml"))
    assert mails == [f"later-{provider}_order.authorized.eml", f"later-{provider}_order.shipped.eml"]  # no second "thank you"
    reserved = (__import__("pathlib").Path(env.email_outbox_dir) / mails[0]).read_text()
    assert "reserved" in reserved and "taken when your order ships" in reserved


def test_eight_concurrent_capture_messages_make_one_capture(host, env, sandbox):
    payment_id = authorized_order(host, env, sandbox, "later-8")
    for _ in range(8):
        send_raw(env.payment_checks_queue, {"order_id": "later-8", "action": "capture"})
    checks(host)  # eight at once, in the worker pool
    assert sandbox.captures_of(payment_id) == 1
    assert sandbox.requests()[f"POST /mollie/v2/payments/{payment_id}/captures"] == 1
    assert load_order("later-8").order.status == "paid"
    assert types(env, "later-8").count("order.paid") == 1


def test_a_crash_after_the_capture_call_retries_with_the_same_key_and_captures_once(env, sandbox, host):
    payment_id = authorized_order(host, env, sandbox, "later-crash")
    real = payment_providers(get_settings())

    class CrashAfterTheCall:
        name = "mollie"

        def capture(self, payment_id: str, key: str) -> str:
            real["mollie"].capture(payment_id, key)
            raise RuntimeError("the worker died before it could record the capture")

    with context.working_on(message="capture-message-1"):  # the same queue message, delivered again
        with pytest.raises(RuntimeError):
            capture_order("later-crash", providers={"mollie": CrashAfterTheCall()})  # type: ignore[dict-item]
        assert capture_order("later-crash") == "captured"
    assert sandbox.requests()[f"POST /mollie/v2/payments/{payment_id}/captures"] == 2  # asked twice...
    assert sandbox.captures_of(payment_id) == 1  # ...captured once: the key was the same
    row = orders_table().get_entity("later-crash", f"capture|{payment_id}")
    assert row["state"] == "captured" and row["idempotency_key"] == f"capture-later-crash-{payment_id}"
    assert load_order("later-crash").order.status == "paid"


def test_an_authorization_near_its_end_unshipped_alerts_once_and_a_lapse_cancels(host, env, sandbox):
    payment_id = authorized_order(host, env, sandbox, "later-lapse", expires_in_seconds=3600)  # ends within the 24 h alert window
    for _ in range(2):
        send_raw(env.payment_checks_queue, {"order_id": "later-lapse"})
        checks(host)
    assert load_order("later-lapse").order.authorization_alerted
    sandbox.set_status(payment_id, "expired")
    send_raw(env.payment_checks_queue, {"order_id": "later-lapse"})
    checks(host)
    order = load_order("later-lapse").order
    assert (order.status, order.cancel_reason) == ("cancelled", "authorization_expired")
    assert orders_table().get_entity("later-lapse", "stockrelease")["reason"] == "authorization_expired"
    events = types(env, "later-lapse")
    assert events == ["order.authorized", "order.authorization_expiring", "order.cancelled"]  # the alert once


def test_the_shop_cancels_an_authorized_order_and_its_authorization_is_voided(host, env, sandbox):
    payment_id = authorized_order(host, env, sandbox, "later-void", "stripe")
    send_raw(env.shop_events_queue, {"type": "order.cancel_requested", "event_id": "cx-1", "order_id": "later-void",
                                     "requested_at": datetime.now(timezone.utc).isoformat(), "reason": "customer changed their mind"})
    host.drain(function(host, "intake_shop_events"))
    checks(host)
    order = load_order("later-void").order
    assert (order.status, order.cancel_reason) == ("cancelled", "cancelled_by_shop")
    assert sandbox.requests()[f"POST /stripe/v1/payment_intents/{payment_id}/cancel"] == 1
    assert sandbox.status_of(payment_id) == "canceled"
    assert orders_table().get_entity("later-void", "stockrelease")["reason"] == "cancelled_by_shop"
    assert types(env, "later-void")[-1] == "order.cancelled"


def test_a_paid_order_is_not_cancelled_and_the_refusal_is_recorded(host, env, sandbox):
    sandbox.payment("mollie", "tr_paidnocancel", ["paid"])
    place(host, env, "paid-no-cancel", payments=[payment_ref("mollie", "tr_paidnocancel")])
    host.run_timer(function(host, "payments_scan"))
    checks(host)
    send_raw(env.payment_checks_queue, {"order_id": "paid-no-cancel", "action": "cancel"})
    stats = checks(host)
    assert stats.rejected == 1 and load_order("paid-no-cancel").order.status == "paid"
    reason = failure_for(env.payment_checks_queue, json.dumps({"order_id": "paid-no-cancel", "action": "cancel"}))["reason"]
    assert "is paid" in reason and "refunds are not this app's job" in reason


def test_a_refused_capture_is_recorded_told_and_not_retried(host, env, sandbox):
    payment_id = authorized_order(host, env, sandbox, "later-refused")
    sandbox.faults("captures", {"status": 422})
    send_raw(env.payment_checks_queue, {"order_id": "later-refused", "action": "capture"})
    checks(host)
    send_raw(env.payment_checks_queue, {"order_id": "later-refused", "action": "capture"})  # a repeat changes nothing
    checks(host)
    assert sandbox.requests()[f"POST /mollie/v2/payments/{payment_id}/captures"] == 1
    order = load_order("later-refused").order
    assert order.status == "authorized" and order.needs_review and "422" in order.capture_failed_reason
    assert types(env, "later-refused")[-1] == "order.capture_failed"


@pytest.mark.parametrize(("capture_on", "captures_on"), [("manual", []), ("in_transit", ["shipment.in_transit"]), ("label", ["order.shipped"])])
def test_capture_on_says_which_event_captures(env, monkeypatch, capture_on, captures_on):
    monkeypatch.setenv("CAPTURE_ON", capture_on)
    reload_settings()
    for event_type in ("order.shipped", "shipment.in_transit"):
        on_shipment_event({"type": event_type, "order_id": "o-when", "data": {"payment": "authorized"}})
        on_shipment_event({"type": event_type, "order_id": "o-paid", "data": {"payment": "paid"}})  # nothing to capture
    queued = [json.loads(body)["action"] for body in take_all(env.payment_checks_queue)]
    assert queued == ["capture"] * len(captures_on)


def test_with_manual_capture_the_app_only_watches(env, sandbox, monkeypatch):
    monkeypatch.setenv("CAPTURE_ON", "manual")
    reload_settings()
    host = LocalHost(config=HostConfig.load().with_overrides(visibility_timeout=0))
    payment_id = authorized_order(host, env, sandbox, "later-manual")
    ship(host)
    checks(host)
    assert sandbox.captures_of(payment_id) == 0 and load_order("later-manual").order.status == "authorized"
    sandbox.set_status(payment_id, "paid")  # the shop captured it in the Mollie dashboard
    send_raw(env.payment_checks_queue, {"order_id": "later-manual"})
    checks(host)
    assert load_order("later-manual").order.status == "paid"
