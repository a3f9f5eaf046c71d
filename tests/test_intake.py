"""The inbound data contract: the queue path and the Python API validate the same schema."""

import json

import pytest

from ecommerce_tasks.intake import ShopIntake
from ecommerce_tasks.orders import load_order
from ecommerce_tasks.work import PermanentError, failure_for
from tests.conftest import function, order_event, payment_ref, send_raw


def intake(host):
    return host.drain(function(host, "intake_shop_events"))


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"customer": {"email": "not-an-email", "name": "X"}}, "customer.email"),
        ({"amount": "10"}, "amount"),
        ({"order_id": "a/b"}, "order_id"),
        ({"lines": []}, "lines"),
        ({"unexpected": 1}, "unexpected"),
        ({"placed_at": "2026-01-01T10:00:00"}, "placed_at"),  # no time zone
        ({"payments": [{"provider": "mollie", "payment_id": "pi_123456", "created_at": "2026-01-01T10:00:00Z"}]}, "not a mollie payment id"),
        ({"type": "order.exploded"}, "type"),
    ],
)
def test_invalid_event_is_rejected_once_with_a_clear_recorded_reason(host, env, change, expected):
    event = {**order_event("o-bad"), **change}
    send_raw(env.shop_events_queue, event)
    send_raw(env.shop_events_queue, order_event("o-fine"))
    stats = intake(host)
    assert (stats.succeeded, stats.rejected, stats.failed) == (1, 1, 0)
    record = failure_for(env.shop_events_queue, json.dumps(event))
    assert record["kind"] == "rejected" and expected in record["reason"]
    assert "jane.doe@example.com" not in record["body"]  # customer data masked in the record
    assert load_order("o-fine").order is not None


def test_payment_started_may_overtake_its_order_placed(host, env, sandbox):
    sandbox.payment("mollie", "tr_early001", ["paid"])
    started = {"type": "payment.started", "event_id": "e-ps", "order_id": "o-early", **payment_ref("mollie", "tr_early001")}
    send_raw(env.shop_events_queue, started)
    assert intake(host).succeeded == 1
    send_raw(env.shop_events_queue, order_event("o-early"))  # no payments listed in it
    host.run_once({"payments"})
    assert load_order("o-early").order.status == "paid"  # the overtaking attempt was checked


def test_replayed_events_change_nothing(host, env, sandbox):
    sandbox.payment("mollie", "tr_replay01", ["paid"])
    event = order_event("o-replay", payments=[payment_ref("mollie", "tr_replay01")])
    send_raw(env.shop_events_queue, event)
    host.run_once({"payments"})
    assert load_order("o-replay").order.status == "paid"
    send_raw(env.shop_events_queue, event)  # the shop sends it again
    send_raw(env.shop_events_queue, {"type": "payment.started", "event_id": "e2", "order_id": "o-replay", **payment_ref("mollie", "tr_replay01")})
    host.run_once({"payments"})
    record = load_order("o-replay")
    assert record.order.status == "paid" and record.attempts["tr_replay01"].state == "paid"


def test_python_api_applies_and_sends_with_the_same_validation(host, env, sandbox):
    api = ShopIntake()
    api.apply(order_event("o-api"))
    assert load_order("o-api").order.customer_name == "Jane Doe"
    api.send(order_event("o-api-queued"))
    assert intake(host).succeeded == 1
    assert load_order("o-api-queued").order is not None
    with pytest.raises(PermanentError, match="amount"):
        api.apply({**order_event("o-api-bad"), "amount": -3})
