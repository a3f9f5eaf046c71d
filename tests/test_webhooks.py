"""Webhooks through the runner's HTTP server: function key, re-fetching from the provider."""

import json

import httpx
import pytest

from ecommerce_tasks.orders import load_order
from tests.conftest import drain_outcomes, function, payment_ref, place


def test_mollie_form_post_marks_order_paid_within_one_pass(host, env, sandbox, api):
    sandbox.payment("mollie", "tr_hook00001", ["open"])
    place(host, env, "o-hook", payments=[payment_ref("mollie", "tr_hook00001", minutes_ago=0)])
    sandbox.set_status("tr_hook00001", "paid")  # the customer paid; Mollie calls the webhook
    response = api.post("/payments/webhook/mollie", data={"id": "tr_hook00001"})
    assert response.status_code == 200
    stats = host.drain(function(host, "payments_check"))
    assert stats.succeeded == 1
    assert load_order("o-hook").order.status == "paid"
    assert [e["type"] for e in drain_outcomes(env.shop_outcomes_queue)] == ["order.paid"]


def test_stripe_event_is_not_trusted_the_intent_is_re_fetched(host, env, sandbox, api):
    sandbox.payment("stripe", "pi_hook00001", ["requires_payment_method"])
    place(host, env, "o-forged", payments=[payment_ref("stripe", "pi_hook00001", minutes_ago=0)])
    forged = {"id": "evt_1", "type": "payment_intent.succeeded", "data": {"object": {"id": "pi_hook00001", "object": "payment_intent", "status": "succeeded"}}}
    assert api.post("/payments/webhook/stripe", content=json.dumps(forged)).status_code == 200
    host.drain(function(host, "payments_check"))
    assert load_order("o-forged").order.status == "awaiting_payment"  # the provider says otherwise
    assert sandbox.requests()["/stripe/v1/payment_intents/pi_hook00001"] == 1


def test_webhook_needs_the_function_key(api):
    assert httpx.post(str(api.base_url).rstrip("/") + "/payments/webhook/mollie", data={"id": "tr_hook00001"}).status_code == 401
    wrong = httpx.post(str(api.base_url).rstrip("/") + "/payments/webhook/mollie", data={"id": "tr_hook00001"}, headers={"x-functions-key": "nope"})
    assert wrong.status_code == 401
    by_query = httpx.post(str(api.base_url).rstrip("/") + "/payments/webhook/mollie?code=test-function-key", data={"id": "tr_hook00001"})
    assert by_query.status_code == 200


@pytest.mark.parametrize(
    ("provider", "body"),
    [
        ("mollie", "id=not-a-payment"),
        ("mollie", ""),
        ("mollie", "id=tr_x'%20or%201=1"),
        ("stripe", "{not json"),
        ("stripe", json.dumps({"data": {"object": {"id": "cus_123", "object": "customer"}}})),
        ("paypal", "id=tr_abcdef"),
    ],
)
def test_bad_webhook_calls_get_400_and_enqueue_nothing(host, env, api, provider, body):
    response = api.post(f"/payments/webhook/{provider}", content=body, headers={"content-type": "application/x-www-form-urlencoded"})
    assert response.status_code == 400
    assert host.drain(function(host, "payments_check")).processed == 0


def test_only_post_is_routed(api):
    assert api.get("/payments/webhook/mollie").status_code == 405
